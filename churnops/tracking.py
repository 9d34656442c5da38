"""Small MLflow helpers shared by the steps and run.py."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from churnops import paths


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """Create the experiment if needed and return its id.

    With an SQLite backend MLflow would put artifacts in ``./mlruns`` relative to the
    current directory; we pin them beside the database instead.
    """
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if tracking_uri.startswith("sqlite:///"):
        location = (Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return client.create_experiment(name, artifact_location=location)


def git_commit() -> str:
    """The project's commit, with ``-dirty`` when the tree has changes; ``unknown`` outside git."""
    try:
        commit = _git("rev-parse", "HEAD")
        return commit + ("-dirty" if _git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=paths.PROJECT_ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def environment_tags() -> dict[str, str]:
    return {
        "python_version": sys.version.split()[0],
        "platform": platform.platform(),
    }


def run_url(experiment_id: str, run_id: str, ui: str = "http://127.0.0.1:5000") -> str:
    """Where the run is in the MLflow UI started with the documented command."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
