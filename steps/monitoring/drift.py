"""Data and prediction drift with the stack's data validator (Evidently)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from churnops import paths, schema
from churnops.inference_log import PREDICTION
from churnops.monitoring import DriftFigures, drift_figures
from churnops.settings import MonitoringSettings
from stacks.access import active_component

logger = logging.getLogger(__name__)


def drift_metrics(settings: MonitoringSettings) -> list[Any]:
    """The Evidently (legacy API) metrics of one drift report: features and prediction."""
    from zenml.integrations.evidently.metrics import EvidentlyMetricConfig

    tests = {"num_stattest": settings.num_stattest, "cat_stattest": settings.cat_stattest,
             "stattest_threshold": settings.stattest_threshold}
    return [
        EvidentlyMetricConfig.metric("DatasetDriftMetric", columns=list(schema.FEATURE_NAMES),
                                     drift_share=settings.drift_share, **tests),
        EvidentlyMetricConfig.metric("DataDriftTable", columns=list(schema.FEATURE_NAMES),
                                     **tests),
        EvidentlyMetricConfig.metric("ColumnDriftMetric", column_name=PREDICTION,
                                     stattest=settings.prediction_stattest,
                                     stattest_threshold=settings.prediction_threshold),
    ]


def column_mapping() -> Any:
    """Which columns Evidently treats as numeric (p(churn) included) and categorical."""
    from evidently.legacy.pipeline.column_mapping import ColumnMapping

    return ColumnMapping(
        target=None, prediction=None,
        numerical_features=[*schema.NUMERIC_FEATURES, PREDICTION],
        categorical_features=list(schema.CATEGORICAL_FEATURES),
    )


@step(enable_cache=False)
def detect_drift(reference: pd.DataFrame, current: pd.DataFrame,
                 settings: MonitoringSettings) -> tuple[
    Annotated[HTMLString, "drift_report"], Annotated[DriftFigures, "drift_figures"]
]:
    """Evidently data drift (per feature and dataset-level) and prediction drift."""
    if len(current) < settings.min_rows:
        figures = DriftFigures(rows=len(current), drift_share=0.0, drifted_features=[],
                               dataset_drift=False, prediction_drift_score=1.0,
                               prediction_drift=False)
        return HTMLString(f"<p>Only {len(current)} production rows in the window "
                          f"(at least {settings.min_rows} needed): no drift report.</p>"), \
            figures
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
    return HTMLString(html), figures
