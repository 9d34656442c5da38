from __future__ import annotations

from zenml import pipeline

from pipelines.ingest import ingest
from steps.features.publish import publish_features
from steps.inference.score import load_champion, load_scoring_frame, score_customers


@pipeline(name="churn_inference")
def inference_pipeline(data_path: str, customer_ids: list[str] | None = None) -> None:
    """Score customers (all by default) with the champion on offline features."""
    clean, _ = ingest(data_path)
    frame = load_scoring_frame(clean, publish_features(clean), customer_ids)
    model, version, threshold = load_champion()
    score_customers(model, frame, version, threshold)
