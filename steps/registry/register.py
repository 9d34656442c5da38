from __future__ import annotations

import logging
from typing import Annotated

from zenml import get_step_context, step
from zenml.model_registries.base_model_registry import ModelRegistryModelMetadata

from churnops import REGISTERED_MODEL_NAME
from churnops.modeling.evaluation import Evaluation
from churnops.registry import FEATURE_SUITE_PATH
from stacks.access import active_model_registry

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def register_model_version(
    mlflow_run_id: str, model_uri: str, holdout_evaluation: Evaluation, data_version: str
) -> Annotated[str, "model_version"]:
    """Register the logged model as a new version of ``churn-model`` in the stack's registry."""
    registry = active_model_registry()
    context = get_step_context()
    version = registry.register_model_version(
        name=REGISTERED_MODEL_NAME,
        model_source_uri=model_uri,
        description=f"Trained by pipeline run {context.pipeline_run.name}.",
        metadata=ModelRegistryModelMetadata(
            mlflow_run_id=mlflow_run_id,
            zenml_pipeline_name=context.pipeline.name,
            zenml_run_name=context.pipeline_run.name,
        ),
    )
    client = registry.mlflow_client
    for key, value in {
        "decision_threshold": holdout_evaluation.threshold,
        "test_roc_auc": holdout_evaluation.roc_auc,
        "data_version": data_version,
        "validation_suite": f"runs:/{mlflow_run_id}/{FEATURE_SUITE_PATH}",
    }.items():
        client.set_model_version_tag(REGISTERED_MODEL_NAME, version.version, key, str(value))
    logger.info("Registered %s version %s.", REGISTERED_MODEL_NAME, version.version)
    return str(version.version)
