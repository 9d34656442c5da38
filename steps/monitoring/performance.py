"""Live performance on the outcomes that have arrived."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import step

from churnops.monitoring import DeployedModel, PerformanceFigures, live_performance
from churnops.settings import MonitoringSettings

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def evaluate_live_performance(labelled: pd.DataFrame, deployed_model: DeployedModel,
                              settings: MonitoringSettings
                              ) -> Annotated[PerformanceFigures, "performance_figures"]:
    """ROC-AUC, recall and value per customer, next to the model's training-time figures."""
    figures = live_performance(labelled, deployed_model.threshold, deployed_model.baseline,
                               settings.business)
    if figures.roc_auc is not None:
        logger.info("Live ROC-AUC %.3f on %d outcomes (training-time %.3f).",
                    figures.roc_auc, figures.labelled_rows, figures.baseline_roc_auc)
    return figures
