"""The model's expectation suite, run on production inputs."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import step

from churnops import schema
from churnops.validation import ValidationReport, build_feature_suite
from stacks.access import ValidationReportMaterializer, active_component


@step(enable_cache=False, output_materializers=ValidationReportMaterializer)
def validate_production_inputs(current: pd.DataFrame) -> Annotated[
    ValidationReport, "production_validation"
]:
    """GX on the window's inputs; failures are reported, the run goes on to the decision."""
    frame = current[list(schema.FEATURE_NAMES)]
    return active_component("data_validator").data_validation(
        frame, suite=build_feature_suite(), raise_on_failure=False)
