"""The service's side of the inference log: it writes predictions and outcomes.

The tables, their reading and the log's guarantees are in ``churnops.inference_log``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from churnops.inference_log import (
    InferenceLogReader,
    PredictionRecord,
    answered_customers,
    feedback,
    latest_answered,
    predictions,
)


@dataclass(frozen=True)
class Feedback:
    """An observed outcome; ``request_id`` None means the customer's latest prediction."""

    customer_id: str
    churned: bool
    request_id: str | None = None


@dataclass(frozen=True)
class RecordedFeedback:
    id: int
    customer_id: str
    request_id: str
    churned: bool
    created: bool
    """False when the same outcome was already recorded (an idempotent repeat)."""


class FeedbackError(ValueError):
    """An outcome that cannot be recorded; ``index`` is its place in a batch."""

    status_code = 400
    kind = "invalid_feedback"

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class UnknownPredictionError(FeedbackError):
    status_code = 404
    kind = "unknown_prediction"


class ConflictingFeedbackError(FeedbackError):
    status_code = 409
    kind = "conflicting_feedback"


class InferenceLog(InferenceLogReader):
    """The reader, plus the inserts the service makes."""

    def record_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Insert the rows in one transaction, committed when this returns."""
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            connection.execute(insert(predictions), [{**asdict(r), "ts": now} for r in records])

    def record_feedback(self, items: Sequence[Feedback]) -> list[RecordedFeedback]:
        """Record outcomes, all or none, one per answered prediction.

        The rule: an outcome names its prediction by ``request_id``, or else is about the
        customer's latest answered prediction; a customer with none is refused. Repeating
        an outcome is harmless (``created`` is False); a different outcome for a prediction
        that has one is refused with ``ConflictingFeedbackError`` and nothing is written.
        """
        try:
            return self._record(items)
        except IntegrityError:  # a concurrent writer recorded one of them first
            return self._record(items)

    def _record(self, items: Sequence[Feedback]) -> list[RecordedFeedback]:
        """Three statements for a batch of outcomes sent with their ``request_id``,
        whatever its size: the predictions named, the outcomes they already have, and one
        insert of the new ones. An outcome without one looks up the customer's latest."""
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            answered = _answered(connection, {o.request_id for o in items if o.request_id})
            request_ids = [_prediction_of(connection, index, outcome, answered)
                           for index, outcome in enumerate(items)]
            recorded = _outcomes_of(connection, set(request_ids))
            new: dict[str, Feedback] = {}
            for index, (outcome, request_id) in enumerate(zip(items, request_ids, strict=True)):
                known = recorded.get(request_id) or new.get(request_id)
                if known is None:
                    new[request_id] = outcome
                elif known.churned != outcome.churned:
                    raise ConflictingFeedbackError(
                        index, f"request {request_id} already has the outcome churned="
                               f"{str(known.churned).lower()}; a different one is refused")
            if new:
                rows = [{"ts": now, "customer_id": o.customer_id, "request_id": request_id,
                         "churned": o.churned} for request_id, o in new.items()]
                ids = connection.execute(
                    insert(feedback).returning(feedback.c.id, sort_by_parameter_order=True),
                    rows).scalars().all()
                recorded |= {request_id: RecordedFeedback(row_id, o.customer_id, request_id,
                                                          o.churned, created=True)
                             for row_id, (request_id, o) in zip(ids, new.items(), strict=True)}
        results: list[RecordedFeedback] = []
        for request_id in request_ids:
            results.append(recorded[request_id])
            # A repeat within the batch is not created a second time.
            recorded[request_id] = replace(recorded[request_id], created=False)
        return results


def _answered(connection: Connection, request_ids: set[str]) -> dict[str, str | None]:
    """Of ``request_ids``, the answered ones, with the customer each was for."""
    found: dict[str, str | None] = {}
    for part in _in_lists(request_ids):
        found |= answered_customers(connection, part)
    return found


def _prediction_of(connection: Connection, index: int, outcome: Feedback,
                   answered: dict[str, str | None]) -> str:
    """The request an outcome is about, by the rule in ``record_feedback``."""
    if outcome.request_id is None:
        latest = latest_answered(connection, outcome.customer_id)
        if latest is None:
            raise UnknownPredictionError(
                index, f"customer {outcome.customer_id} has no answered prediction to "
                       "judge; send the request_id of the prediction")
        return latest
    if outcome.request_id not in answered:
        raise UnknownPredictionError(
            index, f"no answered prediction has request_id {outcome.request_id}")
    customer_id = answered[outcome.request_id]
    if customer_id not in (None, outcome.customer_id):
        raise ConflictingFeedbackError(
            index, f"request {outcome.request_id} was for customer {customer_id}, "
                   f"not {outcome.customer_id}")
    return outcome.request_id


def _outcomes_of(connection: Connection, request_ids: set[str]
                 ) -> dict[str, RecordedFeedback]:
    """The outcomes already recorded for ``request_ids``."""
    found: dict[str, RecordedFeedback] = {}
    for part in _in_lists(request_ids):
        rows = connection.execute(
            select(feedback.c.id, feedback.c.customer_id, feedback.c.request_id,
                   feedback.c.churned)
            .where(feedback.c.request_id.in_(part)))
        found |= {row.request_id: RecordedFeedback(row.id, row.customer_id, row.request_id,
                                                   row.churned, created=False)
                  for row in rows}
    return found


def _in_lists(request_ids: set[str], size: int = 500) -> Iterator[list[str]]:
    """The ids in ``IN (...)`` lists of ``size``: under SQLite's bound-parameter limit."""
    ordered = sorted(request_ids)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]
