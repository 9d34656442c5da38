"""The train-evaluate-register-gate stage that the training and retraining pipelines share."""

from __future__ import annotations

from typing import Any

from churnops.settings import TrainingSettings
from steps.registry.gate import promotion_gate
from steps.registry.register import register_model_version
from steps.training.evaluate import choose_threshold, evaluate_on_holdout
from steps.training.log_model import log_model
from steps.training.split import split_dataset
from steps.training.tune import tune_candidates


def train_and_register(frame: Any, data_version: Any, settings: TrainingSettings,
                       promote: bool = True) -> None:
    """Split, tune, pick the threshold, evaluate, log, register, and gate the new version.

    With ``promote=False`` the gate only approves a winner (for a canary deployment).
    """
    train, holdout = split_dataset(frame)
    model, scores = tune_candidates(train, settings)
    threshold = choose_threshold(model, train, settings)
    evaluation, importance = evaluate_on_holdout(model, holdout, threshold, settings)
    run_id, model_uri, _ = log_model(
        model, train, evaluation, scores, importance, data_version, settings
    )
    version = register_model_version(run_id, model_uri, evaluation, data_version)
    promotion_gate(version, holdout, evaluation, settings, promote=promote)
