from __future__ import annotations

from zenml import pipeline

from churnops.continuous import PRODUCTION_CONTROLLER
from churnops.settings import (
    LoopSettings,
    MonitoringSettings,
    MonitoringWindow,
    RetrainingPolicy,
    TrainingSettings,
)
from pipelines.monitor import monitor
from steps.continuous.deploy import deploy_challenger
from steps.continuous.plan import plan_retraining_run
from steps.continuous.state import finish_run, render_trend, start_run
from steps.continuous.verdict import act_on_verdict
from steps.monitoring.challenger import judge_candidate
from steps.retraining.challenger import retrain_challenger


@pipeline(name="churn_continuous_training", enable_cache=False)
def continuous_training_pipeline(monitoring: MonitoringSettings, window: MonitoringWindow,
                                 training: TrainingSettings, policy: RetrainingPolicy,
                                 loop: LoopSettings, inference_log_url: str | None = None,
                                 controller: str = PRODUCTION_CONTROLLER) -> None:
    """One turn of the production loop: monitor, judge the live candidate on outcomes and
    promote or roll it back, retrain if needed, gate, and put an approved challenger live
    as a shadow (or canary) to be judged in the runs that follow.

    ``controller`` names whose memory the run continues (a simulation uses its own).
    """
    state = start_run(window, controller)
    decision = monitor(monitoring, window, None, inference_log_url)
    verdict = judge_candidate(monitoring, inference_log_url, after="decide_on_action")
    action = act_on_verdict(verdict, state, loop)
    order = plan_retraining_run(decision, action, state, window, loop, inference_log_url)
    result = retrain_challenger(order, training, policy, inference_log_url)
    deployed = deploy_challenger(result, loop)
    finish_run(order, action, result, decision, deployed)
    render_trend(controller, after="finish_run")
