"""The deployed model version and its reference data."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import step
from zenml.client import Client

from churnops import REGISTERED_MODEL_NAME, schema
from churnops.deployment import read_live
from churnops.inference_log import PREDICTION
from churnops.monitoring import DeployedModel
from stacks.access import active_model_registry

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def load_reference_data(model_version: str | None = None) -> tuple[
    Annotated[pd.DataFrame, "reference_data"], Annotated[DeployedModel, "deployed_model"]
]:
    """The holdout set of the deployed version's training run, with its predictions.

    The version is ``model_version``, else the live deployment's primary, else the
    registry's champion. The holdout comes from the training run's ``holdout_set``
    artifact: data the model was evaluated on but never fitted, so its predictions are an
    unbiased reference for prediction drift.
    """
    import mlflow

    registry = active_model_registry()
    client = registry.mlflow_client
    version = model_version or _deployed_version() or client.get_model_version_by_alias(
        REGISTERED_MODEL_NAME, "champion").version
    tags = client.get_model_version(REGISTERED_MODEL_NAME, str(version)).tags
    run = Client().get_pipeline_run(tags["zenml_run_name"])
    holdout = run.steps["split_dataset"].outputs["holdout_set"][0].load()
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL_NAME}/{version}")
    reference = with_predictions(holdout, model)
    logger.info("Reference: churn-model v%s, holdout of run %s (%d rows).",
                version, run.name, len(reference))
    return reference, deployed_model_figures(str(version), tags, run)


def with_predictions(frame: pd.DataFrame, model: Any) -> pd.DataFrame:
    """``frame``'s features with the pyfunc ``model``'s p(churn) in the ``prediction`` column."""
    features = frame[list(schema.FEATURE_NAMES)]
    return features.assign(**{PREDICTION: _churn_probability(model.predict(features))})


def deployed_model_figures(version: str, tags: Mapping[str, str], run: Any) -> DeployedModel:
    """What monitoring needs to know of a version: its decision threshold and the holdout
    figures of its training ``run`` (the ZenML run named by its ``zenml_run_name`` tag)."""
    evaluation = run.steps["evaluate_on_holdout"].outputs["holdout_evaluation"][0].load()
    return DeployedModel(
        version=version, threshold=float(tags["decision_threshold"]), training_run=run.name,
        baseline={"roc_auc": evaluation.roc_auc, "recall": evaluation.recall,
                  "business_value_per_customer": evaluation.business_value_per_customer})


def _deployed_version() -> str | None:
    live = read_live()
    return live.primary.version if live else None


def _churn_probability(output: object) -> np.ndarray:
    """The positive-class column of a ``predict_proba`` pyfunc output."""
    return np.asarray(output, dtype=float)[:, 1]
