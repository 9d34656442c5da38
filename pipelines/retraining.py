from __future__ import annotations

from datetime import datetime

from zenml import pipeline

from churnops.settings import RetrainingPolicy, TrainingSettings
from pipelines.train_and_register import train_and_register
from steps.retraining.data import (
    combine_training_data,
    load_labelled_production,
    load_reference_frame,
)


@pipeline(name="churn_retraining")
def retraining_pipeline(settings: TrainingSettings, policy: RetrainingPolicy,
                        inference_log_url: str | None = None,
                        until: datetime | None = None, since: datetime | None = None) -> None:
    """Retrain on the reference plus labelled production data; the gate approves a winner
    for a canary deployment instead of promoting it."""
    reference, _ = load_reference_frame()
    production = load_labelled_production(policy, inference_log_url, until, since)
    frame, data_version = combine_training_data(reference, production, policy)
    train_and_register(frame, data_version, settings, promote=False)
