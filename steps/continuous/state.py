"""The controller's memory between continuous-training runs, in the deployment record."""

from __future__ import annotations

import logging
from typing import Annotated

from zenml import log_metadata, step
from zenml.types import HTMLString

from churnops import paths, trend
from churnops.continuous import (
    PRODUCTION_CONTROLLER,
    CandidateAction,
    LoopState,
    RetrainingOrder,
    RetrainingResult,
    after_retraining,
)
from churnops.deployment import LiveDeployment
from churnops.deployment_record import DeploymentRecord
from churnops.monitoring import MonitoringDecision
from churnops.settings import MonitoringWindow

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def start_run(window: MonitoringWindow, controller: str = PRODUCTION_CONTROLLER
              ) -> Annotated[LoopState, "loop_state"]:
    """The state the controller's previous run left, as this run starts (one more run,
    its window)."""
    with DeploymentRecord() as record:
        saved = record.loop_state(controller)
    state = LoopState.model_validate(saved) if saved else LoopState(controller=controller)
    start, _, _ = window.resolve()
    state = state.started(start)
    logger.info("Continuous-training run %d.", state.runs)
    return state


@step(enable_cache=False)
def finish_run(order: RetrainingOrder, action: CandidateAction, result: RetrainingResult,
               decision: MonitoringDecision, deployed: LiveDeployment | None = None
               ) -> Annotated[list[str], "actions"]:
    """Save the state for the next run; returns what this run did, one line per action.

    Two runs that started from the same state cannot both finish: the second fails here
    and its state is not saved (what it deployed or promoted is in the record).
    """
    approved = result.approved_version is not None
    state = after_retraining(order.state, approved, deployed is not None)
    actions = [line for line in (action.line(), result.line()) if line]
    if deployed is not None:
        actions.append(f"v{deployed.candidate.version} live as {deployed.strategy}")
    if order.held_back:
        actions.append(order.reason)
    with DeploymentRecord() as record:
        live = record.live()
        summary = trend.run_summary(
            decision, actions, live.primary.version if live else None,
            live.candidate.version if live and live.candidate else None)
        record.record_loop_run(state.controller, state.runs, state.model_dump(mode="json"),
                               {**summary, "retrain_reason": order.reason})
    log_metadata({"run": state.runs, "actions": actions or ["none"]},
                 artifact_name="actions", infer_artifact=True)
    logger.info("Run %d: %s.", state.runs, "; ".join(actions) or "nothing to do")
    return actions


@step(enable_cache=False)
def render_trend(controller: str = PRODUCTION_CONTROLLER
                 ) -> Annotated[HTMLString, "monitoring_trend"]:
    """The controller's runs so far, drawn as one page: performance (live and estimated),
    drift, findings, actions and live versions per run."""
    with DeploymentRecord() as record:
        rows = trend.trend_rows(record.loop_runs(controller))
    page = trend.render(rows, controller)
    path = paths.reports_dir() / f"monitoring-trend-{controller}.html"
    path.write_text(page)
    logger.info("Monitoring trend: %d runs, %s (and the 'monitoring_trend' artifact).",
                len(rows), path)
    return HTMLString(page)
