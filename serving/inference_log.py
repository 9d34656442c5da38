"""The service's side of the inference log: it writes predictions and outcomes.

The tables, their reading and the log's guarantees are in ``churnops.inference_log``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from churnops.inference_log import (
    InferenceLogReader,
    PredictionRecord,
    answered_for,
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
        now = datetime.now(UTC)
        results: list[RecordedFeedback] = []
        with self.engine.begin() as connection:
            for index, outcome in enumerate(items):
                request_id = _prediction_of(connection, index, outcome)
                existing = _outcome_of(connection, request_id)
                if existing is None:
                    row = {"ts": now, "customer_id": outcome.customer_id,
                           "request_id": request_id, "churned": outcome.churned}
                    row_id = connection.execute(insert(feedback), row).inserted_primary_key[0]
                    existing = RecordedFeedback(row_id, outcome.customer_id, request_id,
                                               outcome.churned, created=True)
                elif existing.churned != outcome.churned:
                    raise ConflictingFeedbackError(
                        index, f"request {request_id} already has the outcome churned="
                               f"{str(existing.churned).lower()}; a different one is refused")
                results.append(existing)
        return results


def _prediction_of(connection: Connection, index: int, outcome: Feedback) -> str:
    """The request an outcome is about, by the rule in ``record_feedback``."""
    if outcome.request_id is None:
        latest = latest_answered(connection, outcome.customer_id)
        if latest is None:
            raise UnknownPredictionError(
                index, f"customer {outcome.customer_id} has no answered prediction to "
                       "judge; send the request_id of the prediction")
        return latest
    answered, customer_id = answered_for(connection, outcome.request_id)
    if not answered:
        raise UnknownPredictionError(
            index, f"no answered prediction has request_id {outcome.request_id}")
    if customer_id not in (None, outcome.customer_id):
        raise ConflictingFeedbackError(
            index, f"request {outcome.request_id} was for customer {customer_id}, "
                   f"not {outcome.customer_id}")
    return outcome.request_id


def _outcome_of(connection: Connection, request_id: str) -> RecordedFeedback | None:
    row = connection.execute(
        select(feedback.c.id, feedback.c.customer_id, feedback.c.churned)
        .where(feedback.c.request_id == request_id)).first()
    if row is None:
        return None
    return RecordedFeedback(row.id, row.customer_id, request_id, row.churned, created=False)
