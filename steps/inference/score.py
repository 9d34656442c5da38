from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step

from churnops import REGISTERED_MODEL_NAME, features, paths, registry, schema
from churnops.modeling.evaluation import predict_proba
from stacks.access import active_feature_store, mlflow_client

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def load_champion() -> tuple[
    Annotated[Pipeline, "champion_model"], Annotated[str, "model_version"],
    Annotated[float, "decision_threshold"],
]:
    """The registry's current champion, with its business threshold."""
    client = mlflow_client()
    champion = registry.champion_version(client)
    if champion is None:
        raise RuntimeError(
            f"{REGISTERED_MODEL_NAME} has no champion yet: run `python run.py pipeline "
            "training` first."
        )
    model = mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL_NAME}/{champion.version}")
    return model, str(champion.version), float(champion.tags["decision_threshold"])


@step
def load_scoring_frame(
    clean: pd.DataFrame, feature_store_state: dict, customer_ids: list[str] | None = None
) -> Annotated[pd.DataFrame, "scoring_frame"]:
    """Offline features for the customers to score (all of them by default), as of now."""
    ids = customer_ids or clean[schema.ID_COLUMN].tolist()
    frame = features.historical_features(active_feature_store(), features.scoring_entities(ids))
    unknown = frame[list(schema.FEATURE_NAMES)].isna().all(axis=1)
    if unknown.any():
        raise ValueError(
            f"No features for {int(unknown.sum())} customer(s), e.g. "
            f"{frame.loc[unknown, schema.ENTITY_KEY].head(5).tolist()}."
        )
    return frame


@step(enable_cache=False)
def score_customers(
    model: Pipeline, scoring_frame: pd.DataFrame, model_version: str, decision_threshold: float
) -> Annotated[pd.DataFrame, "batch_predictions"]:
    """Churn probabilities and decisions, saved as a versioned artifact and a parquet file."""
    proba = predict_proba(model, scoring_frame[list(schema.FEATURE_NAMES)])
    predictions = pd.DataFrame({
        schema.ENTITY_KEY: scoring_frame[schema.ENTITY_KEY].to_numpy(),
        "churn_probability": proba,
        "decision": proba >= decision_threshold,
        "model_version": model_version,
        "scored_at": datetime.now(UTC),
    })
    run_name = get_step_context().pipeline_run.name
    path = paths.predictions_dir() / f"{run_name}.parquet"
    predictions.to_parquet(path, index=False)
    log_metadata({"path": str(path), "rows": len(predictions), "model_version": model_version,
                  "predicted_churners": int(predictions["decision"].sum())},
                 artifact_name="batch_predictions", infer_artifact=True)
    logger.info("Scored %d customers with churn-model v%s: %s", len(predictions),
                model_version, path)
    return predictions
