"""Whether this continuous-training run retrains, by the controller's rules."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from zenml import log_metadata, step

from churnops import paths
from churnops.continuous import CandidateAction, LoopState, RetrainingOrder, plan_retraining
from churnops.inference_log import InferenceLogReader
from churnops.monitoring import MonitoringDecision
from churnops.settings import LoopSettings, MonitoringWindow

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def plan_retraining_run(decision: MonitoringDecision, action: CandidateAction,
                        state: LoopState, window: MonitoringWindow, settings: LoopSettings,
                        inference_log_url: str | None = None
                        ) -> Annotated[RetrainingOrder, "retraining_order"]:
    """Retrain or not, and on which outcomes (``churnops.continuous`` has the rules)."""
    _, end, _ = window.resolve()
    with InferenceLogReader(inference_log_url or paths.inference_log_url()) as log:
        def outcomes_since(since: datetime) -> int:
            return len(log.outcomes_between(since, end, predicted_since=since))

        order = plan_retraining(state, decision, action, end, settings, outcomes_since)
    log_metadata({"retrain": order.retrain, "reason": order.reason},
                 artifact_name="retraining_order", infer_artifact=True)
    logger.info("Retrain: %s (%s).", "yes" if order.retrain else "no", order.reason)
    return order
