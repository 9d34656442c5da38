"""Live performance on the outcomes that have arrived."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import step

from churnops import data
from churnops.estimation import EstimatedPerformance, Estimator
from churnops.inference_log import LABEL, PREDICTION
from churnops.monitoring import DeployedModel, PerformanceFigures, live_performance
from churnops.settings import MonitoringSettings

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def evaluate_live_performance(labelled: pd.DataFrame, calibration: pd.DataFrame,
                              deployed_model: DeployedModel, settings: MonitoringSettings
                              ) -> Annotated[PerformanceFigures, "performance_figures"]:
    """ROC-AUC, recall and value per customer, next to the model's training-time figures,
    and whether the outcomes follow the scores as on the version's holdout."""
    figures = live_performance(labelled, deployed_model.threshold, deployed_model.baseline,
                               settings.business,
                               calibration.assign(**{LABEL: data.label(calibration)}))
    if figures.roc_auc is not None:
        logger.info("Live ROC-AUC %.3f on %d outcomes (training-time %.3f).",
                    figures.roc_auc, figures.labelled_rows, figures.baseline_roc_auc)
    return figures


@step(enable_cache=False)
def estimate_performance(calibration: pd.DataFrame, current: pd.DataFrame,
                         labelled: pd.DataFrame, deployed_model: DeployedModel,
                         settings: MonitoringSettings
                         ) -> Annotated[EstimatedPerformance, "estimated_performance"]:
    """ROC-AUC and value per customer expected from today's predictions, before their
    outcomes arrive (``churnops.estimation``), calibrated on the version's holdout."""
    estimator = Estimator.fit(calibration[PREDICTION], data.label(calibration))
    estimate = estimator.estimate(current[PREDICTION], current["MonthlyCharges"],
                                  deployed_model.threshold, settings.business)
    if len(labelled) > 1:
        estimate.roc_auc_on_outcomes = estimator.estimate(labelled[PREDICTION]).roc_auc
    if estimate.roc_auc is not None:
        logger.info("Estimated ROC-AUC %.3f [%.3f, %.3f] on %d predictions.", estimate.roc_auc,
                    estimate.roc_auc_low, estimate.roc_auc_high, estimate.rows)
    return estimate
