from __future__ import annotations

from zenml import pipeline

from churnops.config import TrainingSettings
from pipelines.ingest import ingest
from steps.features.publish import publish_features
from steps.features.retrieve import load_training_frame
from steps.registry.gate import promotion_gate
from steps.registry.register import register_model_version
from steps.training.evaluate import choose_threshold, evaluate_on_holdout
from steps.training.log_model import log_model
from steps.training.split import split_dataset
from steps.training.tune import tune_candidates


@pipeline(name="churn_training")
def training_pipeline(data_path: str, settings: TrainingSettings) -> None:
    """Validate, publish features, train and tune, evaluate, register, and gate the promotion."""
    clean, data_version = ingest(data_path)
    frame = load_training_frame(clean, publish_features(clean))
    train, holdout = split_dataset(frame, settings)
    model, scores = tune_candidates(train, settings)
    threshold = choose_threshold(model, train, settings)
    evaluation, importance = evaluate_on_holdout(model, holdout, threshold, settings)
    run_id, model_uri, _ = log_model(
        model, train, evaluation, scores, importance, data_version, settings
    )
    version = register_model_version(run_id, model_uri, evaluation, data_version)
    promotion_gate(version, holdout, evaluation, settings)
