"""Data and prediction drift: the decision's two-sample tests, and the Evidently report that
shows them (through the stack's data validator)."""

from __future__ import annotations

import functools
import logging
from typing import Annotated, Any

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from churnops import paths, schema
from churnops.drift import CATEGORICAL_TESTED, DriftFigures, contingency_p, shift_figures
from churnops.inference_log import PREDICTION
from churnops.settings import MonitoringSettings
from stacks.access import active_component

logger = logging.getLogger(__name__)

CONTINGENCY = "chi2_contingency"


def drift_metrics(settings: MonitoringSettings) -> list[Any]:
    """The Evidently (legacy API) metrics of the report: the decision's tests per feature,
    coloured at the warning level (``warn_alpha`` over the features), and on p(churn)."""
    from zenml.integrations.evidently.metrics import EvidentlyMetricConfig

    register_contingency_test()
    return [
        EvidentlyMetricConfig.metric(
            "DataDriftTable", columns=list(schema.FEATURE_NAMES), num_stattest="ks",
            cat_stattest=CONTINGENCY,
            stattest_threshold=settings.warn_alpha / len(schema.FEATURE_NAMES)),
        EvidentlyMetricConfig.metric("ColumnDriftMetric", column_name=PREDICTION,
                                     stattest="ks", stattest_threshold=settings.warn_alpha),
    ]


@functools.cache
def register_contingency_test() -> None:
    """Make ``chi2_contingency`` (``churnops.drift.contingency_p``) an Evidently test."""
    from evidently.legacy.calculations.stattests.registry import (
        StatTest,
        register_stattest,
    )
    from evidently.legacy.core import ColumnType

    def test(reference: pd.Series, current: pd.Series, _: Any, threshold: float
             ) -> tuple[float, bool]:
        p_value = contingency_p(reference, current)
        return p_value, p_value <= threshold

    register_stattest(StatTest(name=CONTINGENCY, display_name="chi-square contingency p_value",
                               allowed_feature_types=[ColumnType.Categorical]), test)


def column_mapping() -> Any:
    """Which columns Evidently treats as numeric (p(churn) included) and categorical."""
    from evidently.legacy.pipeline.column_mapping import ColumnMapping

    return ColumnMapping(
        target=None, prediction=None,
        numerical_features=[*(c for c in schema.NUMERIC_FEATURES if c not in CATEGORICAL_TESTED),
                            PREDICTION],
        categorical_features=list(CATEGORICAL_TESTED),
    )


@step(enable_cache=False)
def detect_drift(reference: pd.DataFrame, current: pd.DataFrame,
                 settings: MonitoringSettings) -> tuple[
    Annotated[HTMLString, "drift_report"], Annotated[DriftFigures, "drift_figures"]
]:
    """Two-sample tests of every feature and of p(churn) against the drift reference."""
    if len(current) < settings.min_rows:
        return HTMLString(f"<p>Only {len(current)} production rows in the window "
                          f"(at least {settings.min_rows} needed): no drift report.</p>"), \
            DriftFigures(rows=len(current), reference_rows=len(reference))
    figures = shift_figures(reference, current, PREDICTION)
    columns = [*schema.FEATURE_NAMES, PREDICTION]
    report = active_component("data_validator").data_profiling(
        dataset=reference[columns], comparison_dataset=current[columns],
        profile_list=drift_metrics(settings), column_mapping=column_mapping(),
    )
    html = report.get_html()
    (paths.reports_dir() / "drift_report.html").write_text(html)
    flagged = figures.flagged(settings.warn_alpha)
    logger.info("Drift: %d of %d features moved (%s); prediction drift p = %.3g.",
                len(flagged), len(figures.features),
                "; ".join(s.change for s in flagged) or "none",
                figures.prediction.p_value if figures.prediction else 1.0)
    return HTMLString(html), figures
