"""The deployment record on a real SQLite file and on the real PostgreSQL: generations,
the deployment history, and optimistic concurrency between writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from churnops.deployment import DeploymentEvent, LiveDeployment, ServedModel
from churnops.deployment_record import DeploymentRecord, StaleDeploymentError, read_live
from tests.postgres import database_url

SUITE = {"name": "churn_features", "expectations": []}


def served(version: str) -> ServedModel:
    return ServedModel(version=version, model_uri=f"models:/churn-model/{version}",
                       endpoint=f"http://127.0.0.1:800{version}/invocations", threshold=0.43,
                       validation_suite=SUITE, service_id=f"id-{version}")


BASIC = LiveDeployment(primary=served("1"))
CANARY = LiveDeployment(strategy="canary", primary=served("1"), candidate=served("2"),
                        canary_share=0.2)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path, "churnops_record") as url:
        yield url


@pytest.fixture
def record(url: str) -> Iterator[DeploymentRecord]:
    with DeploymentRecord(url) as deployment_record:
        yield deployment_record


def test_each_publication_is_a_new_generation(record: DeploymentRecord, url: str) -> None:
    assert (record.generation(), record.current(), read_live(url)) == (0, None, None)
    first = record.publish(BASIC, DeploymentEvent(event="deployed", strategy="basic",
                                                   primary="1"))
    second = record.publish(CANARY, read=first.generation)
    assert (first.generation, second.generation) == (1, 2)
    assert record.current().deployment == CANARY == read_live(url)
    assert [(e.event, e.primary) for e in record.history()] == [("deployed", "1")]


def test_a_writer_that_read_an_old_generation_is_refused(record: DeploymentRecord) -> None:
    read = record.publish(CANARY).generation
    record.publish(CANARY.rolled_back("error rate 0.4 > 0.05"), read=read)  # the service
    with pytest.raises(StaleDeploymentError, match="generation 2 is live now"):
        record.publish(CANARY.promoted(), DeploymentEvent(
            event="promoted", strategy="basic", primary="2"), read=read)  # a stale promote
    assert record.current().deployment.candidate is None
    assert record.history() == []  # the refused change left no event either


def test_of_two_concurrent_writers_one_wins(url: str) -> None:
    with DeploymentRecord(url) as setup:
        read = setup.publish(CANARY).generation
    barrier, outcomes = threading.Barrier(2), []

    def write(change: LiveDeployment) -> None:
        with DeploymentRecord(url) as record:
            barrier.wait()
            try:
                record.publish(change, read=read)
                outcomes.append("won")
            except StaleDeploymentError:
                outcomes.append("refused")

    writers = [threading.Thread(target=write, args=(change,))
               for change in (CANARY.promoted(), CANARY.rolled_back("by hand"))]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert sorted(outcomes) == ["refused", "won"]
    with DeploymentRecord(url) as record:
        assert record.generation() == read + 1


def test_history_without_a_change_of_what_is_live(record: DeploymentRecord) -> None:
    record.publish(BASIC)
    record.append(DeploymentEvent(event="failed", strategy="canary", primary="1",
                                  candidate="3", reason="smoke test failed"))
    assert record.generation() == 1
    assert [(e.event, e.candidate) for e in record.history()] == [("failed", "3")]


def test_each_controller_keeps_its_own_memory_and_two_runs_cannot_both_save(
        record: DeploymentRecord) -> None:
    """The continuous-training controller's state, per controller; run N is saved once."""
    assert record.loop_state("production") is None
    record.record_loop_run("production", 1, {"runs": 1}, {"actions": ["none"]})
    record.record_loop_run("simulation-x", 1, {"runs": 1, "sim": True}, {"actions": []})
    record.record_loop_run("production", 2, {"runs": 2}, {"actions": ["retrained v2"]})
    assert record.loop_state("production") == {"runs": 2}
    assert record.loop_state("simulation-x") == {"runs": 1, "sim": True}
    with pytest.raises(StaleDeploymentError, match="run 2 of 'production' was already"):
        record.record_loop_run("production", 2, {"runs": 2, "late": True}, {"actions": []})
    assert record.loop_state("production") == {"runs": 2}
    assert [(r["run"], r["actions"]) for r in record.loop_runs("production")] == [
        (1, ["none"]), (2, ["retrained v2"])]
