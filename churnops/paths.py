"""Where files live. Everything the project writes goes under one state folder.

The state folder is ``<project>/.churnops`` unless ``CHURNOPS_HOME`` points elsewhere
(the tests use a temporary one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RAW_DATA = PROJECT_ROOT / "data" / "raw" / "telco_customer_churn.csv"
CONFIG_DIR = PROJECT_ROOT / "configs"
FEATURE_REPO = PROJECT_ROOT / "feature_repo"


def state_dir() -> Path:
    """The project's state folder, created on first use."""
    path = Path(os.environ.get("CHURNOPS_HOME", PROJECT_ROOT / ".churnops")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _subdir(name: str) -> Path:
    path = state_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def mlflow_dir() -> Path:
    return _subdir("mlflow")


def mlflow_tracking_uri() -> str:
    """The local MLflow backend: SQLite inside the state folder."""
    return f"sqlite:///{mlflow_dir() / 'mlflow.db'}"


def feast_dir() -> Path:
    """Feast's registry, offline source and online store (local stack)."""
    return _subdir("feast")


def reports_dir() -> Path:
    """The latest validation reports as HTML."""
    return _subdir("reports")


def predictions_dir() -> Path:
    """Batch inference outputs (parquet), one file per run."""
    return _subdir("predictions")


def deployment_record_url(environ: Mapping[str, str] | None = None) -> str:
    """``CHURNOPS_DEPLOYMENT_URL``, else the SQLite deployment record in the state folder."""
    env = os.environ if environ is None else environ
    return env.get("CHURNOPS_DEPLOYMENT_URL") or f"sqlite:///{state_dir() / 'deployment.db'}"


def inference_log_url(environ: Mapping[str, str] | None = None) -> str:
    """``CHURNOPS_INFERENCE_LOG_URL``, else the SQLite log in the state folder."""
    env = os.environ if environ is None else environ
    return env.get("CHURNOPS_INFERENCE_LOG_URL") or f"sqlite:///{state_dir() / 'inference_log.db'}"


def export_state_env() -> Path:
    """Export ``CHURNOPS_HOME`` as an absolute path so other tools see the same state folder.

    Feast's ``feature_store.yaml`` refers to ``${CHURNOPS_HOME}``; call this before opening
    the feature store.
    """
    path = state_dir()
    os.environ["CHURNOPS_HOME"] = str(path)
    return path
