"""The local stack, registered by the project into the session's real ZenML store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from churnops import data, paths
from churnops.validation import ValidationReport, build_raw_suite
from stacks import local

EXPECTED = {
    "ORCHESTRATOR": ("local", "local"),
    "ARTIFACT_STORE": ("local", "local"),
    "EXPERIMENT_TRACKER": ("mlflow", "mlflow"),
    "MODEL_REGISTRY": ("mlflow", "mlflow"),
    "MODEL_DEPLOYER": ("mlflow", "mlflow"),
    "FEATURE_STORE": ("feast", "feast"),
    "DATA_VALIDATOR": ("gx_evidently", "gx_evidently"),
}


def test_local_stack_has_every_component(zenml_client) -> None:
    stack = zenml_client.get_stack(local.STACK_NAME)
    found = {
        component_type.name: (models[0].name, models[0].flavor_name)
        for component_type, models in stack.components.items()
    }
    assert found == EXPECTED
    tracker = zenml_client.active_stack.experiment_tracker
    assert tracker.get_tracking_uri() == paths.mlflow_tracking_uri()
    assert tracker.get_tracking_uri().startswith(f"sqlite:///{paths.state_dir()}")


def test_registration_is_idempotent_and_respects_the_users_choice(zenml_client) -> None:
    from zenml.enums import StackComponentType as T

    assert zenml_client.active_stack_model.name == local.STACK_NAME
    components = {t: m[0].id for t, m in zenml_client.get_stack("local").components.items()
                  if t in (T.ORCHESTRATOR, T.ARTIFACT_STORE)}
    zenml_client.create_stack(name="users_choice", components=components)
    zenml_client.activate_stack("users_choice")
    try:
        assert local.ensure_local_stack(zenml_client) == "users_choice"
        assert zenml_client.active_stack_model.name == "users_choice"
    finally:
        zenml_client.activate_stack(local.STACK_NAME)
        zenml_client.delete_stack("users_choice")
    zenml_client.activate_stack("default")
    assert local.ensure_local_stack(zenml_client) == local.STACK_NAME
    assert len(zenml_client.list_stacks(name=local.STACK_NAME)) == 1


def test_data_validator_runs_gx_suites_through_the_stack(zenml_client) -> None:
    from stacks.plugins.data_validator.validator import GXEvidentlyDataValidator

    validator = zenml_client.active_stack.data_validator
    assert isinstance(validator, GXEvidentlyDataValidator)
    raw = data.load_raw(paths.RAW_DATA)
    bad = raw.copy()
    bad.loc[0:4, "tenure"] = [-1, -2, -3, -4, -5]

    assert validator.data_validation(raw, check_list=build_raw_suite()).success
    report = validator.data_validation(bad, suite=build_raw_suite(), max_unexpected_values=2)

    assert isinstance(report, ValidationReport)
    (failure,) = report.failures
    assert failure.column == "tenure"
    assert failure.unexpected_count == 5
    assert failure.unexpected_values == [-1, -2]


@pytest.mark.slow
def test_zenml_cli_describes_the_local_stack(zenml_client) -> None:
    """What a user types: `zenml stack describe local` lists every component."""
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "zenml"), "stack", "describe", local.STACK_NAME],
        env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    output = completed.stdout + completed.stderr  # the table is printed on stderr
    rows = dict(re.findall(r"│ ([A-Z_]+)\s+│ (\S+)\s+│", output))
    rows.pop("COMPONENT_TYPE")  # the header
    assert rows == {component_type: name for component_type, (name, _) in EXPECTED.items()}


def test_data_validator_profiles_drift_with_evidently(zenml_client, clean_customers) -> None:
    """The same component runs Evidently reports (ZenML's Evidently validator, inherited)."""
    from zenml.integrations.evidently.metrics import EvidentlyMetricConfig

    columns = ["tenure", "MonthlyCharges", "Contract"]
    reference = clean_customers[columns].iloc[:2000]
    shifted = clean_customers[columns].iloc[2000:4000].assign(
        MonthlyCharges=lambda df: df["MonthlyCharges"] * 1.5)

    report = zenml_client.active_stack.data_validator.data_profiling(
        dataset=reference, comparison_dataset=shifted,
        profile_list=[EvidentlyMetricConfig.metric("ColumnDriftMetric",
                                                   column_name="MonthlyCharges",
                                                   stattest="wasserstein")],
    )
    result = report.as_dict()["metrics"][0]["result"]
    assert result["column_name"] == "MonthlyCharges"
    assert result["drift_detected"] is True


def test_a_stack_from_another_checkout_is_reported(zenml_client, monkeypatch, caplog) -> None:
    monkeypatch.setattr(paths, "FEATURE_REPO", paths.PROJECT_ROOT / "elsewhere" / "feature_repo")
    with caplog.at_level("WARNING", logger="stacks.local"):
        assert local.ensure_local_stack(zenml_client) == local.STACK_NAME
    assert "registered from another checkout" in caplog.text
    assert "ZENML_CONFIG_PATH" in caplog.text
