"""The ZenML dashboard shows the training run and its artifacts, the validation report among them.

Starts the real local ZenML server (`zenml login --local`) on loopback against the session's
store, asks its REST API what the dashboard renders, and logs out again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ops.processes import free_port

pytestmark = pytest.mark.slow

ZENML = str(Path(sys.executable).parent / "zenml")


@pytest.fixture()
def dashboard(training_run) -> str:
    port = free_port()
    env = {**os.environ, "ZENML_AUTO_OPEN_DASHBOARD": "false"}
    started = subprocess.run(
        [ZENML, "login", "--local", "--ip-address", "127.0.0.1", "--port", str(port)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([ZENML, "logout", "--local"], env=env, capture_output=True, timeout=300)


def test_dashboard_serves_the_run_and_the_validation_report(dashboard, training_run) -> None:
    session = requests.Session()
    token = session.post(f"{dashboard}/api/v1/login",
                         data={"username": "default", "password": ""}, timeout=30)
    assert token.ok, token.text
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    run = session.get(f"{dashboard}/api/v1/runs/{training_run.id}", timeout=30).json()
    assert run["name"] == training_run.name
    assert run["body"]["status"] == "completed"
    assert session.get(dashboard, timeout=30).ok  # the dashboard's own page

    for step, output, kind, text in (
        ("validate_raw_data", "raw_data_validation", "html", "churn_raw"),
        ("log_model", "model_card", "markdown", "# Model card: churn-model"),
    ):
        artifact = training_run.steps[step].outputs[output][0]
        shown = session.get(f"{dashboard}/api/v1/artifact_versions/{artifact.id}/visualize",
                            params={"index": 0}, timeout=30)
        assert shown.ok, shown.text
        assert shown.json()["type"] == kind
        assert text in shown.json()["value"]
