"""One outcome per answered prediction, on a real SQLite file and on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, func, inspect, select

from churnops.inference_log import PredictionRecord, feedback
from serving.inference_log import (
    ConflictingFeedbackError,
    Feedback,
    InferenceLog,
    UnknownPredictionError,
)
from tests.postgres import database_url

CUSTOMER = "7590-VHVEG"


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path, "churnops_feedback") as url:
        yield url


@pytest.fixture
def log(log_url: str) -> Iterator[InferenceLog]:
    inference_log = InferenceLog(log_url)
    yield inference_log
    inference_log.close()


def _predict(log: InferenceLog, customer_id: str = CUSTOMER, *, status: str = "ok",
             shadow_too: bool = False) -> str:
    request_id = uuid.uuid4().hex
    record = PredictionRecord(
        request_id=request_id, customer_id=customer_id, features=None, model_version="1",
        variant="primary", probability=0.5 if status == "ok" else None,
        decision=True if status == "ok" else None, latency_ms=1.0, status=status)
    shadow = PredictionRecord(**{**record.__dict__, "model_version": "2", "shadow": True})
    log.record_predictions([record, shadow] if shadow_too else [record])
    return request_id


def _rows(log: InferenceLog) -> list[tuple[str, bool]]:
    with log.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(
            select(feedback.c.request_id, feedback.c.churned).order_by(feedback.c.id))]


def test_a_repeat_is_idempotent_and_a_conflict_changes_nothing(log: InferenceLog) -> None:
    request_id = _predict(log)
    [first] = log.record_feedback([Feedback(CUSTOMER, True, request_id)])
    [again] = log.record_feedback([Feedback(CUSTOMER, True, request_id)])
    assert first.created and not again.created and again.id == first.id
    with pytest.raises(ConflictingFeedbackError, match="already has the outcome churned=true"):
        log.record_feedback([Feedback(CUSTOMER, False, request_id)])
    assert _rows(log) == [(request_id, True)]


def test_without_a_request_id_the_latest_answered_prediction_is_judged(
        log: InferenceLog) -> None:
    earlier = _predict(log)
    latest = _predict(log, shadow_too=True)
    _predict(log, status="model_error")  # not answered: not a candidate
    [recorded] = log.record_feedback([Feedback(CUSTOMER, True)])
    assert recorded.request_id == latest != earlier
    # The same outcome again, by customer, is the same row; the opposite one is refused.
    assert not log.record_feedback([Feedback(CUSTOMER, True)])[0].created
    with pytest.raises(ConflictingFeedbackError):
        log.record_feedback([Feedback(CUSTOMER, False)])
    assert _rows(log) == [(latest, True)]


def test_outcomes_about_no_answered_prediction_are_refused(log: InferenceLog) -> None:
    with pytest.raises(UnknownPredictionError, match="has no answered prediction"):
        log.record_feedback([Feedback("0000-NOBODY", True)])
    failed = _predict(log, status="model_error")
    with pytest.raises(UnknownPredictionError, match="no answered prediction has request_id"):
        log.record_feedback([Feedback(CUSTOMER, True, failed)])
    other = _predict(log, customer_id="5575-GNVDE")
    with pytest.raises(ConflictingFeedbackError, match="was for customer 5575-GNVDE"):
        log.record_feedback([Feedback(CUSTOMER, True, other)])
    assert _rows(log) == []


def test_a_batch_is_recorded_all_or_none(log: InferenceLog) -> None:
    first, second = _predict(log), _predict(log, customer_id="5575-GNVDE")
    log.record_feedback([Feedback(CUSTOMER, True, first)])
    with pytest.raises(ConflictingFeedbackError) as refused:
        log.record_feedback([Feedback("5575-GNVDE", False, second),
                             Feedback(CUSTOMER, False, first)])
    assert refused.value.index == 1
    assert _rows(log) == [(first, True)]
    recorded = log.record_feedback([Feedback("5575-GNVDE", False, second),
                                    Feedback("5575-GNVDE", False, second),
                                    Feedback(CUSTOMER, True, first)])
    assert [r.created for r in recorded] == [True, False, False]
    assert _rows(log) == [(first, True), (second, False)]


def test_concurrent_conflicting_outcomes_leave_exactly_one(log: InferenceLog) -> None:
    request_id = _predict(log)

    def send(churned: bool) -> str:
        try:
            log.record_feedback([Feedback(CUSTOMER, churned, request_id)])
            return f"recorded {churned}"
        except ConflictingFeedbackError:
            return "conflict"

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, [True, False] * 8))
    [(_, kept)] = _rows(log)
    assert answers.count(f"recorded {kept}") == 8 and answers.count("conflict") == 8


def test_a_log_of_an_earlier_release_gets_the_unique_index(log_url: str) -> None:
    old = MetaData()
    feedback.to_metadata(old).indexes.clear()
    engine = create_engine(log_url)
    old.create_all(engine)
    assert not inspect(engine).get_indexes("feedback")
    InferenceLog(log_url).close()
    unique = [i for i in inspect(engine).get_indexes("feedback") if i["unique"]]
    assert [i["column_names"] for i in unique] == [["request_id"]]
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(feedback)).scalar() == 0
    engine.dispose()
