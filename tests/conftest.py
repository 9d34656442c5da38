"""Shared fixtures. Everything a test session writes goes to one temporary folder.

The session gets its own ZenML store (``ZENML_CONFIG_PATH``) and its own state folder
(``CHURNOPS_HOME``: MLflow's SQLite backend, Feast's registry and stores, reports), so the
tests run against the real local stack without touching a developer's own. The variables
are set here, before anything imports ZenML, and the folder is removed at the end.

Expensive things exist once per session: one applied and materialized Feast repo, and one
trained model from one real training pipeline run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

SESSION_DIR = Path(tempfile.mkdtemp(prefix="churnops-tests-"))
os.environ["ZENML_CONFIG_PATH"] = str(SESSION_DIR / "zenml")
os.environ["CHURNOPS_HOME"] = str(SESSION_DIR / "state")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["ZENML_AUTO_OPEN_DASHBOARD"] = "false"
os.environ["ZENML_LOGGING_VERBOSITY"] = "WARN"

from churnops import data, paths  # noqa: E402

TEST_CONFIGS = Path(__file__).parent / "configs"

pytest_plugins = ("tests.serving_fixtures",)  # the serving tests' shared fixtures


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stop_model_servers()
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


def _stop_model_servers() -> None:
    """Model servers are daemons that outlive the run that started them: stop the session's."""
    if "zenml" not in sys.modules:
        return
    from zenml.client import Client

    deployer = Client().active_stack.model_deployer
    for service in deployer.find_model_server() if deployer else []:
        deployer.delete_model_server(service.uuid, timeout=30, force=True)


@pytest.fixture(scope="session")
def clean_customers() -> pd.DataFrame:
    return data.clean(data.load_raw(paths.RAW_DATA))[0]


@pytest.fixture(scope="session")
def zenml_client():
    """A client of the session's ZenML store, with the local stack registered and active."""
    from zenml.client import Client
    from zenml.utils import source_utils

    from stacks.local import ensure_local_stack

    source_utils.set_custom_source_root(str(paths.PROJECT_ROOT))
    client = Client()
    ensure_local_stack(client)
    return client


@pytest.fixture(scope="session")
def feature_store(clean_customers: pd.DataFrame):
    """The project's Feast repo, applied and materialized once in the session's state folder."""
    from churnops import features

    store = features.open_store()
    features.publish(store, clean_customers)
    return store


@pytest.fixture(scope="session")
def training_run(zenml_client, feature_store):
    """One real run of the training pipeline on the local stack (fast test grid)."""
    from churnops import tracking
    from pipelines.training import training_pipeline

    tracking.ensure_experiment(
        zenml_client.active_stack.experiment_tracker.get_tracking_uri(), training_pipeline.name
    )
    run = training_pipeline.with_options(config_path=str(TEST_CONFIGS / "training.yaml"))()
    return zenml_client.get_pipeline_run(run.id)


@pytest.fixture()
def mlflow_client(zenml_client):
    """A client of the session's MLflow backend; ``mlflow.*`` calls go there too."""
    import mlflow

    uri = zenml_client.active_stack.experiment_tracker.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(uri)
