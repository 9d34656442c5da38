"""The service's side of the inference log: it writes predictions and outcomes.

The tables, their reading and the log's guarantees are in ``churnops.inference_log``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import insert

from churnops.inference_log import (
    InferenceLogReader,
    PredictionRecord,
    feedback,
    predictions,
)


class InferenceLog(InferenceLogReader):
    """The reader, plus the inserts the service makes."""

    def record_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Insert the rows in one transaction, committed when this returns."""
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            connection.execute(insert(predictions), [{**asdict(r), "ts": now} for r in records])

    def record_feedback(self, customer_id: str, churned: bool, request_id: str | None) -> int:
        """Insert one outcome; returns its id."""
        row = {"ts": datetime.now(UTC), "customer_id": customer_id,
               "request_id": request_id, "churned": churned}
        with self.engine.begin() as connection:
            return connection.execute(insert(feedback), row).inserted_primary_key[0]
