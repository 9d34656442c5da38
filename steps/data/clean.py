from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from churnops import data


@step
def clean_customers(raw: pd.DataFrame, data_is_valid: bool) -> Annotated[
    pd.DataFrame, "clean_customers"
]:
    """Apply the documented cleaning rule (blank TotalCharges at tenure 0 -> 0.0)."""
    if not data_is_valid:
        raise ValueError("Refusing to clean data that did not pass validation.")
    cleaned, report = data.clean(raw)
    log_metadata(
        {"rows": report.rows, "blank_total_charges_filled": report.blank_total_charges_filled},
        artifact_name="clean_customers", infer_artifact=True,
    )
    return cleaned
