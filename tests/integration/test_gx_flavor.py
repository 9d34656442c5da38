"""The ``gx`` data validator stack plugin: flavor registration and the report materializer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from churnops import data, paths
from churnops.validation import ValidationReport, build_raw_suite, validate

FLAVOR_SOURCE = "stacks.plugins.data_validator.flavor.GXEvidentlyDataValidatorFlavor"

# Runs in a fresh interpreter so that ZenML reads ZENML_CONFIG_PATH (a throwaway store)
# whatever the test session has already imported.
REGISTER_AND_VALIDATE = textwrap.dedent(
    """
    import json, sys
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.utils import source_utils

    project_root, flavor_source, out = sys.argv[1:4]
    source_utils.set_custom_source_root(project_root)

    from churnops import data, paths
    from churnops.validation import build_raw_suite

    client = Client()
    flavor = client.create_flavor(
        source=flavor_source, component_type=StackComponentType.DATA_VALIDATOR
    )
    client.create_stack_component(
        name="gx_evidently", flavor="gx_evidently", component_type=StackComponentType.DATA_VALIDATOR,
        configuration={"max_unexpected_values": 2},
    )
    client.create_stack(
        name="gx_stack",
        components={
            StackComponentType.ORCHESTRATOR: "default",
            StackComponentType.ARTIFACT_STORE: "default",
            StackComponentType.DATA_VALIDATOR: "gx_evidently",
        },
    )
    client.activate_stack("gx_stack")

    validator = Client().active_stack.data_validator
    raw = data.load_raw(paths.RAW_DATA)
    bad = raw.copy()
    bad.loc[0:4, "tenure"] = [-1, -2, -3, -4, -5]
    reports = {
        "valid": validator.data_validation(raw, check_list=build_raw_suite()),
        "invalid": validator.data_validation(bad, suite=build_raw_suite()),
    }
    with open(out, "w") as handle:
        json.dump({
            "flavor": flavor.name,
            "validator_class": type(validator).__name__,
            "reports": {k: r.model_dump(mode="json") for k, r in reports.items()},
        }, handle)
    """
)


def test_flavor_registers_and_validates_through_the_active_stack(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "PYTHONPATH": str(paths.PROJECT_ROOT),
    }
    completed = subprocess.run(
        [sys.executable, "-c", REGISTER_AND_VALIDATE, str(paths.PROJECT_ROOT), FLAVOR_SOURCE,
         str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]

    result = json.loads(out.read_text())
    assert result["flavor"] == "gx_evidently"
    assert result["validator_class"] == "GXEvidentlyDataValidator"
    valid = ValidationReport.model_validate(result["reports"]["valid"])
    invalid = ValidationReport.model_validate(result["reports"]["invalid"])
    assert valid.success
    (failure,) = invalid.failures
    assert failure.column == "tenure"
    assert failure.unexpected_count == 5
    assert failure.unexpected_values == [-1, -2]  # the component's max_unexpected_values


# Materializer ---------------------------------------------------------------------------------


@pytest.fixture
def failed_report() -> ValidationReport:
    raw = data.load_raw(paths.RAW_DATA)
    raw.loc[0, "Contract"] = "Three year"
    return validate(raw, build_raw_suite())


def test_materializer_round_trip(tmp_path: Path, failed_report: ValidationReport) -> None:
    from zenml.artifact_stores.local_artifact_store import (
        LocalArtifactStore,
        LocalArtifactStoreConfig,
    )
    from zenml.enums import ArtifactType, StackComponentType, VisualizationType
    from zenml.materializers.materializer_registry import materializer_registry

    from stacks.plugins.data_validator.materializer import ValidationReportMaterializer

    now = datetime.now(UTC)
    store = LocalArtifactStore(
        name="test", id=uuid.uuid4(), config=LocalArtifactStoreConfig(path=str(tmp_path)),
        flavor="local", type=StackComponentType.ARTIFACT_STORE, user=None,
        created=now, updated=now,
    )
    uri = tmp_path / "raw_data_validation"
    uri.mkdir()
    materializer = ValidationReportMaterializer(uri=str(uri), artifact_store=store)

    materializer.save(failed_report)
    visualizations = materializer.save_visualizations(failed_report)
    metadata = materializer.extract_metadata(failed_report)

    assert materializer.load(ValidationReport) == failed_report
    ((html_path, kind),) = visualizations.items()
    assert kind == VisualizationType.HTML
    assert "Three year" in Path(html_path).read_text()
    assert metadata["success"] is False
    assert metadata["expectations_failed"] == 1
    assert metadata["failed_columns"] == ["Contract"]
    assert materializer_registry[ValidationReport] is ValidationReportMaterializer
    assert ValidationReportMaterializer.ASSOCIATED_ARTIFACT_TYPE == ArtifactType.DATA_ANALYSIS

