"""The ZenML dashboard shows the training run and its artifacts, the validation report among them.

Starts the real local ZenML server (`zenml login --local`) on loopback against the session's
store, asks its REST API what the dashboard renders, and logs out again.
"""

from __future__ import annotations

import pytest

from tests.browser import api_session

pytestmark = pytest.mark.slow


def test_dashboard_serves_the_run_and_the_validation_report(dashboard, training_run) -> None:
    session = api_session(dashboard)

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
