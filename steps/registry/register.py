from __future__ import annotations

import logging
from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.model_registries.base_model_registry import ModelRegistryModelMetadata
from zenml.models import ModelVersionResponse

from churnops import REGISTERED_MODEL_NAME
from churnops.modeling.evaluation import Evaluation
from churnops.registry import FEATURE_SUITE_PATH, THRESHOLD_TAG, ZENML_VERSION_TAG
from stacks.access import active_model_registry, linked_artifacts

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def register_model_version(
    mlflow_run_id: str, model_uri: str, holdout_evaluation: Evaluation, data_version: str
) -> Annotated[str, "model_version"]:
    """Register the logged model as a new version of ``churn-model`` in the stack's registry.

    The registry (MLflow) is the registry of record. The run's ZenML model version mirrors
    it: each names the other, and the run's metadata lists the artifacts it came from.
    """
    context = get_step_context()
    return register(mlflow_run_id, model_uri, holdout_evaluation, data_version,
                    context.model_version)


def register(mlflow_run_id: str, model_uri: str, evaluation: Evaluation, data_version: str,
             mirror: ModelVersionResponse | None) -> str:
    """Register the model in the stack's registry, tagged with its threshold, figures and
    validation suite, and tie it to its ZenML model version ``mirror``."""
    registry = active_model_registry()
    context = get_step_context()
    try:
        registry.get_model(REGISTERED_MODEL_NAME)
    except KeyError:
        registry.register_model(REGISTERED_MODEL_NAME)
    metadata = ModelRegistryModelMetadata(
        mlflow_run_id=mlflow_run_id, zenml_pipeline_name=context.pipeline.name,
        zenml_run_name=context.pipeline_run.name)
    # MLflow directly rather than ZenML's registry, which sends no model id: a tracking
    # server refuses MLflow 3's `models:/m-...` source without it.
    version = registry.mlflow_client.create_model_version(
        REGISTERED_MODEL_NAME, model_uri, run_id=mlflow_run_id,
        model_id=model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-")
        else None,
        description=f"Trained by pipeline run {context.pipeline_run.name}.",
        tags={key: str(value) for key, value in metadata.model_dump(exclude_none=True).items()})
    tags = {
        THRESHOLD_TAG: evaluation.threshold,
        "test_roc_auc": evaluation.roc_auc,
        "data_version": data_version,
        "validation_suite": f"runs:/{mlflow_run_id}/{FEATURE_SUITE_PATH}",
        **({ZENML_VERSION_TAG: mirror.id} if mirror else {}),
    }
    for key, value in tags.items():
        registry.mlflow_client.set_model_version_tag(
            REGISTERED_MODEL_NAME, version.version, key, str(value))
    if mirror is not None:
        lineage = {"mlflow_version": str(version.version), "mlflow_run_id": mlflow_run_id,
                   "zenml_model_version": mirror.name, "data_version": data_version,
                   "training_artifacts": linked_artifacts(mirror.id)}
        log_metadata({REGISTERED_MODEL_NAME: lineage}, model_version_id=mirror.id)
        log_metadata({REGISTERED_MODEL_NAME: lineage},
                     run_id_name_or_prefix=context.pipeline_run.id)
    logger.info("Registered %s version %s.", REGISTERED_MODEL_NAME, version.version)
    return str(version.version)
