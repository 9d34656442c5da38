"""Champion alias, history, promote and rollback against a real MLflow SQLite backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, registry
from ops import model
from ops.processes import free_port, server_process


@pytest.fixture()
def client(tmp_path) -> MlflowClient:
    """A throwaway backend with three registered versions and no champion yet."""
    mlflow_client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    registry.ensure_registered_model(mlflow_client)
    experiment = mlflow_client.create_experiment("t", artifact_location=tmp_path.as_uri())
    for _ in range(3):
        run = mlflow_client.create_run(experiment)
        mlflow_client.create_model_version(
            REGISTERED_MODEL_NAME, f"{run.info.artifact_uri}/model", run.info.run_id)
    return mlflow_client


def champion(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias(REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version)


def test_promotions_and_rollbacks_replay_the_history(client: MlflowClient) -> None:
    registry.set_champion(client, "1", "promoted", "first model")
    registry.record(client, registry.HistoryEvent("rejected", "2", "1", "not better"))
    registry.promote(client, "3")
    assert champion(client) == "3"

    event = registry.rollback(client)
    assert (event.event, event.version, event.previous_champion) == ("rollback", "1", "3")
    assert champion(client) == "1"

    events = registry.history(client)
    assert [e.event for e in events] == ["promoted", "rejected", "manual_promote", "rollback"]
    assert registry.champion_lineage(events) == ["1"]
    version = client.get_model_version(REGISTERED_MODEL_NAME, "2")
    assert version.tags["gate.decision"] == "rejected"
    assert version.tags["gate.reason"] == "not better"
    table = registry.format_history(events)
    assert "manual_promote" in table and "rolled back from version 3" in table


def test_rollback_without_an_earlier_champion_says_what_to_do(client: MlflowClient) -> None:
    registry.set_champion(client, "1", "promoted", "first model")
    with pytest.raises(RuntimeError, match="no earlier champion"):
        registry.rollback(client)
    assert champion(client) == "1"


def test_promoting_a_missing_version_changes_nothing(client: MlflowClient) -> None:
    registry.set_champion(client, "1", "promoted", "first model")
    with pytest.raises(Exception, match="(?i)not found|does not exist|RESOURCE_DOES_NOT_EXIST"):
        registry.promote(client, "99")
    assert champion(client) == "1"
    assert len(registry.history(client)) == 1


@pytest.fixture()
def promoted_twice(client: MlflowClient) -> str:
    """The expected history table after two promotions and a rollback."""
    registry.set_champion(client, "1", "promoted", "first model")
    registry.promote(client, "2")
    registry.rollback(client)
    return registry.format_history(registry.history(client))


def test_history_command_reads_the_database_as_mlflow_does(
        client: MlflowClient, promoted_twice: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(model.TRACKING_URI_ENV, client.tracking_uri)
    assert model.history() == promoted_twice
    assert "manual_promote" in promoted_twice


def test_history_command_reads_a_tracking_server_as_mlflow_does(
        client: MlflowClient, promoted_twice: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
               "--port", str(port), "--backend-store-uri", client.tracking_uri,
               "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with server_process(command, f"{url}/health", tmp_path / "mlflow-server.log"):
        monkeypatch.setenv(model.TRACKING_URI_ENV, url)
        assert model.history() == promoted_twice


def test_history_of_a_missing_registry_is_empty_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(model.TRACKING_URI_ENV, f"sqlite:///{tmp_path / 'none.db'}")
    assert model.history() == "No promotion decisions recorded yet."
    assert not (tmp_path / "none.db").exists()
