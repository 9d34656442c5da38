"""The inference log: every prediction the service made or attempted, and the feedback on it.

Two tables, written with SQLAlchemy Core to SQLite (the default) or PostgreSQL:

* ``predictions``: one row per scored request and model role. The answering model's row has
  ``shadow = false``; a model that scored the same request only for comparison (the candidate
  in shadow mode, the champion on canary requests) adds a row with ``shadow = true``. The key
  is therefore ``(request_id, shadow)``. ``status`` is ``ok``, ``model_error`` (the model
  server failed; no probability), ``rejected`` (a shadow model's suite refused the row) or
  ``invalid`` (the service refused the request with 422; ``error`` names each field as
  ``field: problem``, ``;``-separated, so that monitoring sees broken inputs upstream).
* ``feedback``: observed outcomes, one per answered prediction (a unique ``request_id``).
  An outcome sent without a ``request_id`` is about the customer's latest answered
  prediction; the service resolves it when it records the outcome (``latest_answered``).
  Rows of earlier releases may have no ``request_id``; ``labelled_predictions`` joins them
  to the customer's latest answered prediction before them.

``InferenceLogReader`` is what monitoring, retraining and the loop read through; the
service writes with ``serving.inference_log.InferenceLog``, which adds the inserts.

Rows are committed before the response is sent. On SQLite the database runs in WAL mode with
``synchronous=NORMAL``: a committed row survives a killed process (WAL frames are handed to
the OS at commit), which is the guarantee the service makes. NORMAL skips the fsync per
commit that FULL would add to every request, so a power loss or kernel crash may lose the
last commits; for that, run the log on PostgreSQL (``CHURNOPS_INFERENCE_LOG_URL``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Connection

from churnops import database, schema

PREDICTION = "prediction"
"""The column holding p(churn) in reference and production frames."""
LABEL = "churned"
"""The column holding the observed outcome (0/1) in labelled frames."""

metadata = MetaData()

INVALID = "invalid"
"""``status`` of a request the service refused."""

predictions = Table(
    "predictions",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("shadow", Boolean, primary_key=True, default=False),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("customer_id", String(64), index=True),
    Column("features", JSON),
    Column("model_version", String(32), nullable=False),
    Column("variant", String(16), nullable=False),
    Column("probability", Float),
    Column("decision", Boolean),
    Column("latency_ms", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("request_id", String(64)),
    Column("churned", Boolean, nullable=False),
    Index("ux_feedback_request_id", "request_id", unique=True),
)


@dataclass(frozen=True)
class PredictionRecord:
    """One row of ``predictions``."""

    request_id: str
    customer_id: str | None
    features: dict[str, Any] | None
    model_version: str
    variant: str
    probability: float | None
    decision: bool | None
    latency_ms: float
    status: str
    error: str | None = None
    shadow: bool = False


class InferenceLogReader(database.Database):
    """The log's tables; opening it creates the missing ones, so a log nobody wrote yet
    reads empty."""

    metadata = metadata

    def labelled_predictions(self) -> list[dict[str, Any]]:
        """Feedback joined to the answered prediction it is about, oldest first."""
        p, f, earlier = predictions, feedback, predictions.alias("earlier")
        latest = (
            select(func.max(earlier.c.ts))
            .where(earlier.c.customer_id == f.c.customer_id, earlier.c.shadow.is_(False),
                   earlier.c.status == "ok", earlier.c.ts <= f.c.ts)
            .correlate(f)
            .scalar_subquery()
        )
        on = and_(
            p.c.shadow.is_(False),
            or_(
                and_(f.c.request_id.is_not(None), p.c.request_id == f.c.request_id),
                and_(f.c.request_id.is_(None), p.c.customer_id == f.c.customer_id,
                     p.c.ts == latest),
            ),
        )
        query = (
            select(f.c.id.label("feedback_id"), f.c.customer_id, f.c.churned, p.c.request_id,
                   p.c.model_version, p.c.variant, p.c.probability, p.c.decision)
            .select_from(f.join(p, on))
            .order_by(f.c.id)
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def answered_between(self, start: datetime, end: datetime,
                         model_version: str | None = None) -> list[dict[str, Any]]:
        """Answered predictions (``ok``, not shadow) made in ``[start, end)``, oldest first."""
        p = predictions
        query = (
            select(p.c.request_id, p.c.ts, p.c.customer_id, p.c.features, p.c.model_version,
                   p.c.variant, p.c.probability)
            .where(p.c.shadow.is_(False), p.c.status == "ok", p.c.ts >= start, p.c.ts < end)
            .order_by(p.c.ts)
        )
        if model_version is not None:
            query = query.where(p.c.model_version == model_version)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def refused_between(self, start: datetime, end: datetime) -> list[str]:
        """The errors of requests refused as invalid in ``[start, end)``, oldest first."""
        p = predictions
        query = (select(p.c.error)
                 .where(p.c.shadow.is_(False), p.c.status == INVALID, p.c.ts >= start,
                        p.c.ts < end)
                 .order_by(p.c.ts))
        with self.engine.connect() as connection:
            return [row.error or "" for row in connection.execute(query)]

    def outcomes_between(self, start: datetime, end: datetime,
                         model_version: str | None = None,
                         predicted_since: datetime | None = None) -> list[dict[str, Any]]:
        """Outcomes received in ``[start, end)`` with the answered prediction they are about
        (made at or after ``predicted_since``, if given).

        Only outcomes sent with their ``request_id`` are joined here: an outcome matched by
        customer alone could belong to another request of the same customer.
        """
        p, f = predictions, feedback
        query = (
            select(f.c.ts.label("feedback_ts"), f.c.churned, p.c.request_id, p.c.ts,
                   p.c.customer_id, p.c.features, p.c.model_version, p.c.probability)
            .select_from(f.join(p, and_(p.c.request_id == f.c.request_id,
                                        p.c.shadow.is_(False))))
            .where(p.c.status == "ok", f.c.ts >= start, f.c.ts < end)
            .order_by(f.c.id)
        )
        if model_version is not None:
            query = query.where(p.c.model_version == model_version)
        if predicted_since is not None:
            query = query.where(p.c.ts >= predicted_since)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def labelled_answers(self, model_versions: tuple[str, ...],
                         since: datetime | None = None) -> list[dict[str, Any]]:
        """Every ``ok`` prediction row of ``model_versions`` (answers and shadow scores)
        whose request has an outcome, with the outcome, oldest first."""
        p, f = predictions, feedback
        query = (
            select(p.c.request_id, p.c.ts, p.c.shadow, p.c.model_version, p.c.variant,
                   p.c.probability, p.c.features, f.c.churned)
            .select_from(p.join(f, f.c.request_id == p.c.request_id))
            .where(p.c.status == "ok", p.c.model_version.in_(model_versions))
            .order_by(p.c.ts, p.c.request_id)
        )
        if since is not None:
            query = query.where(p.c.ts >= since)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))


def latest_answered(connection: Connection, customer_id: str) -> str | None:
    """The ``request_id`` of the customer's latest answered prediction, if any."""
    query = (select(predictions.c.request_id)
             .where(predictions.c.customer_id == customer_id,
                    predictions.c.shadow.is_(False), predictions.c.status == "ok")
             .order_by(predictions.c.ts.desc()).limit(1))
    return connection.execute(query).scalar()


def answered_customers(connection: Connection, request_ids: list[str]
                       ) -> dict[str, str | None]:
    """Of ``request_ids``, the answered ones, with the customer each was for."""
    query = select(predictions.c.request_id, predictions.c.customer_id).where(
        predictions.c.request_id.in_(request_ids), predictions.c.shadow.is_(False),
        predictions.c.status == "ok")
    return {row.request_id: row.customer_id for row in connection.execute(query)}


def log_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Log rows as a frame: the features (typed as in training), p(churn) as ``prediction``,
    the outcome as 0/1 in ``churned`` (on outcome rows), and the rest of the row."""
    if not rows:
        return pd.DataFrame(columns=[*schema.FEATURE_NAMES, PREDICTION, LABEL])
    features = pd.DataFrame([row["features"] for row in rows])[list(schema.FEATURE_NAMES)]
    rest = pd.DataFrame([{k: v for k, v in row.items() if k != "features"} for row in rows])
    frame = pd.concat([schema.cast_features(features), rest.rename(
        columns={"probability": PREDICTION})], axis=1)
    if LABEL in frame:
        frame[LABEL] = frame[LABEL].astype(int)
    return frame
