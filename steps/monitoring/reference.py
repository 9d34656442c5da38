"""The deployed model version and its reference data."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import numpy as np
import pandas as pd
from zenml import step

from churnops import REGISTERED_MODEL_NAME, registry, schema
from churnops.deployment_record import read_live
from churnops.inference_log import PREDICTION
from churnops.modeling.evaluation import Evaluation
from churnops.monitoring import DeployedModel, holdout_baseline
from stacks.access import drift_reference, mlflow_client, model_version_of

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def load_reference_data(model_version: str | None = None) -> tuple[
    Annotated[pd.DataFrame, "reference_data"], Annotated[pd.DataFrame, "calibration_data"],
    Annotated[DeployedModel, "deployed_model"]
]:
    """The fixed drift reference, and the version's own holdout, each with the deployed
    version's predictions and the outcomes.

    The version is ``model_version``, else the live deployment's primary, else the
    registry's champion. The reference is the reference pool (``churnops.data.POOLS``), the
    first training's holdout, which no version ever fits: every version's predictions on
    it are an unbiased reference for prediction drift, and its size does not shrink after
    a retraining. The training-time figures are the version's own holdout evaluation, and
    the performance estimate is calibrated on that holdout: for a version retrained after a
    change in who churns, the reference pool's outcomes describe a world that has gone.
    """
    import mlflow

    client = mlflow_client()
    version = str(model_version or _deployed_version() or registry.champion_version(
        client).version)
    mirror = model_version_of(version)
    evaluation: Evaluation = mirror.get_artifact("holdout_evaluation").load()
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL_NAME}/{version}")
    frame = drift_reference(mirror)
    reference = _scored(frame, model)
    # The first version's holdout is the reference pool itself: scored once, loaded once.
    calibration = (reference if mirror.get_artifact("reference_set") is None
                   else _scored(mirror.get_artifact("holdout_set").load(), model))
    logger.info("Reference: the reference pool (%d customers); calibration: the version's "
                "holdout (%d); scored by churn-model v%s (ZenML model version %s).",
                len(reference), len(calibration), version, mirror.name)
    deployed = DeployedModel(
        version=version, threshold=evaluation.threshold, zenml_model_version=mirror.name,
        baseline=holdout_baseline(evaluation))
    return reference, calibration, deployed


def _scored(frame: pd.DataFrame, model: Any) -> pd.DataFrame:
    return with_predictions(frame, model).assign(**{schema.TARGET: frame[schema.TARGET]})


def with_predictions(frame: pd.DataFrame, model: Any) -> pd.DataFrame:
    """``frame``'s features with the pyfunc ``model``'s p(churn) in the ``prediction`` column."""
    features = frame[list(schema.FEATURE_NAMES)]
    return features.assign(**{PREDICTION: _churn_probability(model.predict(features))})


def _deployed_version() -> str | None:
    live = read_live()
    return live.primary.version if live else None


def _churn_probability(output: object) -> np.ndarray:
    """The positive-class column of a ``predict_proba`` pyfunc output."""
    return np.asarray(output, dtype=float)[:, 1]
