"""Retrain a challenger when the continuous-training run ordered it, in one step.

The continuous-training pipeline is a static graph (Kubeflow runs no conditional steps), so
the training that it runs only on some days is one step that does nothing when not ordered.
It does what the training pipeline's steps do, with the same functions, and links the
version's training artifacts to a ZenML model version of its own, created only when it
trains.
"""

from __future__ import annotations

import logging
from typing import Annotated

from zenml import get_step_context, step
from zenml.types import MarkdownString

from churnops import registry
from churnops.continuous import RetrainingOrder, RetrainingResult
from churnops.settings import RetrainingPolicy, TrainingSettings
from stacks.access import drift_reference, mlflow_client, model_version_of, new_model_version
from steps.registry.gate import gate_version
from steps.registry.register import register
from steps.retraining.data import combine, labelled_production, reference_frame
from steps.training.evaluate import evaluate_and_log, threshold_and_log
from steps.training.log_model import log_with_card
from steps.training.split import holdout_split
from steps.training.tune import tune_and_log

logger = logging.getLogger(__name__)


@step(experiment_tracker=True, enable_cache=False)
def retrain_challenger(order: RetrainingOrder, settings: TrainingSettings,
                       policy: RetrainingPolicy, inference_log_url: str | None = None
                       ) -> Annotated[RetrainingResult, "retraining_result"]:
    """Train, register and gate a challenger on the reference plus labelled production
    data, if ``order`` says so; the gate approves a winner for a live trial, never promotes."""
    if not order.retrain:
        logger.info("No retraining: %s.", order.reason)
        return RetrainingResult()
    champion = str(registry.champion_version(mlflow_client()).version)
    production = labelled_production(policy, inference_log_url, order.until, order.since)
    frame, data_version = combine(reference_frame(champion), production, policy)
    train, holdout = holdout_split(frame)
    model, scores, _ = tune_and_log(train, settings)
    threshold = threshold_and_log(model, train, settings)
    evaluation, importance = evaluate_and_log(model, holdout, threshold, settings)
    run_id, model_uri, card = log_with_card(model, train, evaluation, scores, importance,
                                            data_version, settings)
    mirror = new_model_version(
        f"Retrained by continuous-training run {get_step_context().pipeline_run.name}: "
        f"{order.reason}.",
        {"training_frame": frame, "train_set": train, "holdout_set": holdout,
         "reference_set": drift_reference(model_version_of(champion)),
         "holdout_evaluation": evaluation, "model": model, "model_card": MarkdownString(card)})
    version = register(run_id, model_uri, evaluation, data_version, mirror)
    gate = gate_version(version, holdout, evaluation, settings, promote=False)
    return RetrainingResult(gate=gate)
