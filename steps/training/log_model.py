from __future__ import annotations

import warnings
from typing import Annotated

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.pipeline import Pipeline
from zenml import step
from zenml.types import MarkdownString

from churnops import REGISTERED_MODEL_NAME, paths, schema, tracking
from churnops.modeling.candidates import SKOPS_TRUSTED_TYPES
from churnops.modeling.evaluation import Evaluation
from churnops.modeling.model_card import TrainingSetup, render_model_card
from churnops.modeling.tuning import CandidateScore
from churnops.registry import FEATURE_SUITE_PATH
from churnops.settings import TrainingSettings
from churnops.validation import build_feature_suite, suite_to_json

MODEL_ARTIFACT_PATH = "model"


@step(experiment_tracker=True, enable_cache=False)
def log_model(
    model: Pipeline,
    train: pd.DataFrame,
    holdout_evaluation: Evaluation,
    candidate_scores: list,
    permutation_importance: pd.DataFrame,
    data_version: str,
    settings: TrainingSettings,
) -> tuple[Annotated[str, "mlflow_run_id"], Annotated[str, "model_uri"],
           Annotated[MarkdownString, "model_card"]]:
    """Log the model with its signature, lineage, environment, model card and GX suite."""
    run_id, model_uri, card = log_with_card(model, train, holdout_evaluation, candidate_scores,
                                            permutation_importance, data_version, settings)
    return run_id, model_uri, MarkdownString(card)


def log_with_card(model: Pipeline, train: pd.DataFrame, evaluation: Evaluation,
                  candidate_scores: list, permutation_importance: pd.DataFrame,
                  data_version: str, settings: TrainingSettings) -> tuple[str, str, str]:
    """Log the model to the active MLflow run; returns (run id, model URI, model card)."""
    example = train[list(schema.FEATURE_NAMES)].head(5)
    with warnings.catch_warnings():
        # Integer inputs are intended: the schema has no missing values by contract.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        info = mlflow.sklearn.log_model(
            model, name=MODEL_ARTIFACT_PATH, input_example=example,
            signature=infer_signature(example, model.predict_proba(example)),
            skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
            # Model servers answer with class probabilities, [[p(no churn), p(churn)], ...].
            pyfunc_predict_fn="predict_proba",
        )
    mlflow.set_tags({"data_version": data_version, "git_commit": tracking.git_commit(),
                     **tracking.environment_tags()})
    mlflow.log_param("data_version", data_version)
    mlflow.log_artifact(str(paths.PROJECT_ROOT / "requirements.txt"), "environment")
    mlflow.log_dict(suite_to_json(build_feature_suite()), FEATURE_SUITE_PATH)
    scores = [CandidateScore(**score) for score in candidate_scores]
    card = render_model_card(
        model_name=REGISTERED_MODEL_NAME,
        data_sources={str(paths.RAW_DATA.relative_to(paths.PROJECT_ROOT)): data_version},
        setup=TrainingSetup(
            seed=settings.seed, cv_folds=settings.cv_folds,
            n_train=len(train), n_test=evaluation.n_customers,
            threshold_source="out-of-fold predictions on the training split",
        ),
        results=scores,
        search_spaces=settings.candidates,
        selected=scores[0],
        evaluation=evaluation,
        business=settings.business,
        importances=permutation_importance,
    )
    mlflow.log_text(card, "model_card.md")
    return mlflow.active_run().info.run_id, info.model_uri, card
