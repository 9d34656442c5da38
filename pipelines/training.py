from __future__ import annotations

from zenml import pipeline

from churnops.settings import TrainingSettings
from pipelines.ingest import ingest
from pipelines.train_and_register import train_and_register
from steps.features.publish import publish_features
from steps.features.retrieve import load_training_frame


@pipeline(name="churn_training")
def training_pipeline(data_path: str, settings: TrainingSettings) -> None:
    """Validate, publish features, train and tune, evaluate, register, and gate the promotion."""
    clean, data_version = ingest(data_path)
    frame = load_training_frame(clean, publish_features(clean))
    train_and_register(frame, data_version, settings)
