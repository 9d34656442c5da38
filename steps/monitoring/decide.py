"""The monitoring decision, its alert and its trend figures."""

from __future__ import annotations

import logging
import os
from typing import Annotated

from zenml import get_step_context, log_metadata, step

from churnops.monitoring import (
    DriftFigures,
    MonitoringSettings,
    PerformanceFigures,
    alert,
    decide,
    scalar_figures,
)
from churnops.validation import ValidationReport

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def decide_on_action(drift_figures: dict, performance_figures: dict,
                     production_validation: ValidationReport, deployed_model: dict,
                     settings: MonitoringSettings) -> Annotated[dict, "monitoring_decision"]:
    """``{drift_detected, performance_degraded, reasons, figures, recommended_action}``."""
    failed = [outcome.message for outcome in production_validation.failures]
    decision = decide(DriftFigures(**drift_figures), PerformanceFigures(**performance_figures),
                      failed, settings)
    decision.figures["model_version"] = deployed_model["version"]
    # On the run itself, so the dashboard can compare monitoring runs over time.
    log_metadata({"monitoring": scalar_figures(decision),
                  "recommended_action": decision.recommended_action,
                  "model_version": deployed_model["version"]},
                 run_id_name_or_prefix=get_step_context().pipeline_run.id)
    logger.info("Decision: %s (%s).", decision.recommended_action, "; ".join(decision.reasons))
    alert(decision, os.environ.get("CHURNOPS_ALERT_WEBHOOK") or settings.alert_webhook)
    return decision.model_dump()
