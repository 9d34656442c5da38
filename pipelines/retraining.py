from __future__ import annotations

from datetime import datetime

from zenml import pipeline

from churnops.config import TrainingSettings
from churnops.monitoring import RetrainingPolicy
from steps.registry.gate import promotion_gate
from steps.registry.register import register_model_version
from steps.retraining.data import (
    combine_training_data,
    load_labelled_production,
    load_reference_frame,
)
from steps.training.evaluate import choose_threshold, evaluate_on_holdout
from steps.training.log_model import log_model
from steps.training.split import split_dataset
from steps.training.tune import tune_candidates


@pipeline(name="churn_retraining")
def retraining_pipeline(settings: TrainingSettings, policy: RetrainingPolicy,
                        inference_log_url: str | None = None,
                        until: datetime | None = None, since: datetime | None = None) -> None:
    """Retrain on the reference plus labelled production data; the gate approves a winner
    for a canary deployment instead of promoting it."""
    reference = load_reference_frame()
    production = load_labelled_production(policy, inference_log_url, until, since)
    frame, data_version = combine_training_data(reference, production, policy)
    train, holdout = split_dataset(frame, settings)
    model, scores = tune_candidates(train, settings)
    threshold = choose_threshold(model, train, settings)
    evaluation, importance = evaluate_on_holdout(model, holdout, threshold, settings)
    run_id, model_uri, _ = log_model(
        model, train, evaluation, scores, importance, data_version, settings
    )
    version = register_model_version(run_id, model_uri, evaluation, data_version)
    promotion_gate(version, holdout, evaluation, settings, promote=False)
