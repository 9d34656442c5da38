from __future__ import annotations

from zenml import pipeline

from pipelines.ingest import ingest
from steps.features.publish import publish_features


@pipeline(name="churn_features")
def feature_pipeline(data_path: str) -> None:
    """Validated customer data -> Feast offline source, registry and online store."""
    clean, _ = ingest(data_path)
    publish_features(clean)
