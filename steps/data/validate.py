from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import step

from churnops import paths
from churnops.validation import DataValidationError, ValidationReport, build_raw_suite
from stacks.access import ValidationReportMaterializer, active_component

logger = logging.getLogger(__name__)


@step(output_materializers=ValidationReportMaterializer)
def validate_raw_data(raw: pd.DataFrame) -> Annotated[ValidationReport, "raw_data_validation"]:
    """Check the raw table against the GX suite with the stack's data validator.

    The report is always stored (the dashboard shows it); ``require_valid_data`` then stops
    the run when it failed.
    """
    validator = active_component("data_validator")
    report = validator.data_validation(raw, check_list=build_raw_suite())
    path = paths.reports_dir() / "raw_data_validation.html"
    path.write_text(report.to_html())
    logger.info("Validation report: %s (%s).", path, "passed" if report.success else "FAILED")
    return report


@step
def require_valid_data(report: ValidationReport) -> Annotated[bool, "data_is_valid"]:
    """Stop the pipeline with a readable report when the data failed validation."""
    if not report.success:
        raise DataValidationError(report)
    return True
