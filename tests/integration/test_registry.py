"""Champion alias, history, promote and rollback against a real MLflow SQLite backend."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, registry


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
