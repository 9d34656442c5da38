"""The monitoring decision, its alert and its trend figures."""

from __future__ import annotations

import logging
import os
from typing import Annotated

from zenml import get_step_context, log_metadata, step

from churnops.drift import DriftFigures
from churnops.estimation import EstimatedPerformance
from churnops.monitoring import (
    DeployedModel,
    MonitoringDecision,
    PerformanceFigures,
    RefusedRequests,
    alert,
    decide,
    scalar_figures,
)
from churnops.settings import MonitoringSettings
from churnops.validation import ValidationReport

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def decide_on_action(drift_figures: DriftFigures, performance_figures: PerformanceFigures,
                     estimated_performance: EstimatedPerformance,
                     production_validation: ValidationReport,
                     refused_requests: RefusedRequests, deployed_model: DeployedModel,
                     settings: MonitoringSettings
                     ) -> Annotated[MonitoringDecision, "monitoring_decision"]:
    """Retrain, investigate or nothing, with the findings and the figures behind them."""
    failed = [outcome.message for outcome in production_validation.failures]
    decision = decide(drift_figures, performance_figures, failed, settings,
                      model_version=deployed_model.version, estimated=estimated_performance,
                      refused=refused_requests)
    figures = scalar_figures(decision)
    log_metadata({"figures": figures, "recommended_action": decision.recommended_action,
                  "severity": decision.severity, "findings": decision.reasons},
                 artifact_name="monitoring_decision", infer_artifact=True)
    # On the run itself too, so the dashboard can compare monitoring runs over time.
    log_metadata({"monitoring": figures, "recommended_action": decision.recommended_action,
                  "severity": decision.severity, "model_version": deployed_model.version},
                 run_id_name_or_prefix=get_step_context().pipeline_run.id)
    logger.info("Decision: %s (%s).", decision.recommended_action, "; ".join(decision.reasons))
    alert(decision, os.environ.get("CHURNOPS_ALERT_WEBHOOK") or settings.alert_webhook)
    return decision
