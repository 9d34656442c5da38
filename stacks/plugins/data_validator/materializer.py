"""Store a ``ValidationReport`` as a ZenML artifact: JSON data, an HTML view and metadata.

The class registers itself for ``ValidationReport`` when this module is imported; steps that
return a report can also name it explicitly with ``output_materializers``.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from churnops.validation import ValidationReport

REPORT_FILENAME = "report.json"
HTML_FILENAME = "report.html"


class ValidationReportMaterializer(BaseMaterializer):
    """Reads and writes ``ValidationReport`` through the artifact store."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ValidationReport,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS

    def load(self, data_type: type[Any]) -> ValidationReport:
        with self.artifact_store.open(self._path(REPORT_FILENAME), "r") as handle:
            return ValidationReport.model_validate_json(handle.read())

    def save(self, data: ValidationReport) -> None:
        with self.artifact_store.open(self._path(REPORT_FILENAME), "w") as handle:
            handle.write(data.model_dump_json(indent=2))

    def save_visualizations(self, data: ValidationReport) -> dict[str, VisualizationType]:
        """The HTML table, rendered by the ZenML dashboard."""
        path = self._path(HTML_FILENAME)
        with self.artifact_store.open(path, "w") as handle:
            handle.write(data.to_html())
        return {path: VisualizationType.HTML}

    def extract_metadata(self, data: ValidationReport) -> dict[str, MetadataType]:
        return {
            "suite": data.suite_name,
            "success": data.success,
            "rows": data.rows,
            "expectations_evaluated": data.statistics.evaluated,
            "expectations_failed": data.statistics.unsuccessful,
            "failed_columns": sorted({f.column or "(table)" for f in data.failures}),
        }

    def _path(self, filename: str) -> str:
        # Forward slashes: artifact store URIs are not OS paths (the dashboard needs them).
        return os.path.join(self.uri, filename).replace("\\", "/")
