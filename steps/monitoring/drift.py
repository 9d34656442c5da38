"""Data and prediction drift with the stack's data validator (Evidently)."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from churnops import paths, schema
from churnops.monitoring import (
    PREDICTION,
    DriftFigures,
    MonitoringSettings,
    column_mapping,
    drift_figures,
    drift_metrics,
)
from steps.stack_components import active_component

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def detect_drift(reference: pd.DataFrame, current: pd.DataFrame,
                 settings: MonitoringSettings) -> tuple[
    Annotated[HTMLString, "drift_report"], Annotated[dict, "drift_figures"]
]:
    """Evidently data drift (per feature and dataset-level) and prediction drift."""
    if len(current) < settings.min_rows:
        figures = DriftFigures(rows=len(current), drift_share=0.0, drifted_features=[],
                               dataset_drift=False, prediction_drift_score=1.0,
                               prediction_drift=False)
        return HTMLString(f"<p>Only {len(current)} production rows in the window "
                          f"(at least {settings.min_rows} needed): no drift report.</p>"), \
            figures.model_dump()
    columns = [*schema.FEATURE_NAMES, PREDICTION]
    report = active_component("data_validator").data_profiling(
        dataset=reference[columns], comparison_dataset=current[columns],
        profile_list=drift_metrics(settings), column_mapping=column_mapping(),
    )
    figures = drift_figures(report.as_dict(), len(current))
    html = report.get_html()
    (paths.reports_dir() / "drift_report.html").write_text(html)
    logger.info("Drift: %.0f%% of features (%s); prediction drift p = %.3g.",
                100 * figures.drift_share, ", ".join(figures.drifted_features) or "none",
                figures.prediction_drift_score)
    return HTMLString(html), figures.model_dump()
