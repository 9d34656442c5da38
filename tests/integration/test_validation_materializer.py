"""The ``gx_evidently`` data validator plugin's report materializer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from churnops import data, paths
from churnops.validation import ValidationReport, build_raw_suite, validate

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

