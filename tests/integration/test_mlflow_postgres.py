"""MLflow tracking and the model registry on a real PostgreSQL backend (127.0.0.1:5432).

The production MLflow keeps runs and the registry in PostgreSQL. This module points MLflow at
a fresh database of its own (dropped afterwards) and an artifact folder, then goes through
what the pipelines and ``run.py`` do there: log a run with a model, register versions of
``churn-model``, move ``@champion`` with ``churnops.registry`` and load the model by alias.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import sklearn
import sqlalchemy
from mlflow import MlflowClient
from mlflow.models import infer_signature
from mlflow.store.db.utils import _get_latest_schema_revision
from sklearn.pipeline import Pipeline

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, registry, schema
from churnops.modeling.candidates import SKOPS_TRUSTED_TYPES, build_pipeline
from ops import model as model_ops
from tests.postgres import fresh_database

CHAMPION_URI = f"models:/{REGISTERED_MODEL_NAME}@{CHAMPION_ALIAS}"


@dataclass(frozen=True)
class Backend:
    tracking_uri: str
    artifact_root: Path
    migration_s: float
    """Seconds MLflow took to create its schema in the empty database."""


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """MLflow on a fresh PostgreSQL database; ``mlflow.*`` calls go there while it lives."""
    with fresh_database("churnops_mlflow") as url, pytest.MonkeyPatch.context() as env:
        previous = mlflow.get_tracking_uri()
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        env.delenv("MLFLOW_REGISTRY_URI", raising=False)
        started = time.perf_counter()
        MlflowClient(url).search_experiments()  # the first call runs MLflow's migrations
        migration_s = time.perf_counter() - started
        mlflow.set_tracking_uri(url)
        try:
            yield Backend(url, tmp_path_factory.mktemp("mlflow_artifacts"), migration_s)
        finally:
            mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def client(backend: Backend) -> MlflowClient:
    return MlflowClient(backend.tracking_uri)


@pytest.fixture(scope="module")
def customers(clean_customers: pd.DataFrame) -> pd.DataFrame:
    return clean_customers.sample(1500, random_state=np.random.RandomState(3))


@pytest.fixture(scope="module")
def model(customers: pd.DataFrame) -> Pipeline:
    """A real candidate (gradient boosting, the one skops needs most types trusted for)."""
    pipeline = build_pipeline("hist_gradient_boosting", seed=42).set_params(model__max_iter=20)
    return pipeline.fit(customers[list(schema.FEATURE_NAMES)], customers[schema.TARGET])


@pytest.fixture(scope="module")
def logged_run(backend: Backend, client: MlflowClient, model: Pipeline,
               customers: pd.DataFrame) -> mlflow.entities.Run:
    """One run, logged as the training pipeline logs its model."""
    experiment_id = client.create_experiment(
        "churn_training_postgres", artifact_location=backend.artifact_root.as_uri()
    )
    example = customers[list(schema.FEATURE_NAMES)].head(5)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({"candidate": "hist_gradient_boosting", "seed": 42})
        mlflow.log_metrics({"test_roc_auc": 0.84, "threshold": 0.43})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            info = mlflow.sklearn.log_model(
                model, name="model", input_example=example,
                signature=infer_signature(example, model.predict_proba(example)),
                skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
                pyfunc_predict_fn="predict_proba",
                # Inferring requirements runs the model in a subprocess (about 15 s here);
                # the backend, not the environment capture, is under test.
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            )
        mlflow.set_tag("model_uri", info.model_uri)
    return client.get_run(run.info.run_id)


@pytest.fixture(scope="module")
def versions(logged_run: mlflow.entities.Run, client: MlflowClient) -> list[str]:
    """Two versions of ``churn-model`` from the run's model."""
    registry.ensure_registered_model(client)
    uri = logged_run.data.tags["model_uri"]
    return [str(mlflow.register_model(uri, REGISTERED_MODEL_NAME).version) for _ in range(2)]


def test_an_empty_database_is_migrated_to_the_current_schema(backend: Backend) -> None:
    engine = sqlalchemy.create_engine(backend.tracking_uri)
    try:
        with engine.connect() as connection:
            revision = connection.execute(
                sqlalchemy.text("SELECT version_num FROM alembic_version")
            ).scalar()
    finally:
        engine.dispose()

    assert revision == _get_latest_schema_revision()
    # About 3 s on the 2-core development machine; a hang would show here.
    assert backend.migration_s < 120, f"migrations took {backend.migration_s:.1f} s"


def test_the_run_keeps_its_params_metrics_and_artifacts(
    backend: Backend, logged_run: mlflow.entities.Run
) -> None:
    assert logged_run.data.params == {"candidate": "hist_gradient_boosting", "seed": "42"}
    assert logged_run.data.metrics == {"test_roc_auc": 0.84, "threshold": 0.43}
    assert logged_run.info.artifact_uri.startswith(backend.artifact_root.as_uri())


def test_champion_alias_and_history_live_in_postgres(
    client: MlflowClient, versions: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = versions

    registry.promote(client, first, reason="first champion")
    registry.set_champion(client, second, "promoted", "beats the champion")
    assert str(registry.champion_version(client).version) == second
    registry.rollback(client)

    champion = client.get_model_version_by_alias(REGISTERED_MODEL_NAME, CHAMPION_ALIAS)
    assert str(champion.version) == first
    assert str(registry.champion_version(client).version) == first
    events = registry.history(client)
    assert [(e.event, e.version, e.previous_champion) for e in events] == [
        ("manual_promote", first, None),
        ("promoted", second, first),
        ("rollback", first, second),
    ]
    assert client.get_model_version(REGISTERED_MODEL_NAME, first).tags["gate.decision"] \
        == "rollback"
    monkeypatch.setenv(model_ops.TRACKING_URI_ENV, client.tracking_uri)
    assert model_ops.history() == registry.format_history(events)  # the CLI's reader, no MLflow


def test_the_champion_loads_by_alias_and_predicts(
    versions: list[str], client: MlflowClient, model: Pipeline, clean_customers: pd.DataFrame
) -> None:
    registry.promote(client, versions[0], reason="serve it")
    features = clean_customers[list(schema.FEATURE_NAMES)].head(25)

    loaded = mlflow.pyfunc.load_model(CHAMPION_URI)
    probabilities = np.asarray(loaded.predict(features))

    assert loaded.metadata.run_id == client.get_model_version(
        REGISTERED_MODEL_NAME, versions[0]).run_id
    np.testing.assert_allclose(probabilities, model.predict_proba(features), rtol=0, atol=1e-12)
