from __future__ import annotations

import dataclasses
import logging
from typing import Annotated

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import log_metadata, step

from churnops import data, schema
from churnops.modeling.tuning import select_best, tune
from churnops.settings import TrainingSettings

logger = logging.getLogger(__name__)


@step(experiment_tracker=True, enable_cache=False)
def tune_candidates(train: pd.DataFrame, settings: TrainingSettings) -> tuple[
    Annotated[Pipeline, "model"], Annotated[list, "candidate_scores"]
]:
    """Grid-search every configured candidate with stratified CV; keep the best by ROC-AUC."""
    model, scores, selected = tune_and_log(train, settings)
    log_metadata(selected, artifact_name="model", infer_artifact=True)
    return model, scores


def tune_and_log(train: pd.DataFrame, settings: TrainingSettings
                 ) -> tuple[Pipeline, list[dict], dict]:
    """Tune every candidate and log the search to the active MLflow run.

    Returns the best model, every candidate's scores (best first), and the selection's
    figures.
    """
    X, y = train[list(schema.FEATURE_NAMES)], data.label(train)
    results = []
    for i, (name, space) in enumerate(settings.candidates.items(), start=1):
        logger.info("[%d/%d] Tuning %s ...", i, len(settings.candidates), name)
        result = tune(name, X, y, space, settings.cv_folds, settings.seed, settings.n_jobs)
        logger.info("      CV ROC-AUC %.4f ± %.4f over %d settings (%.0f s)",
                    result.cv_mean, result.cv_std, result.n_candidates, result.seconds)
        mlflow.log_metrics({f"cv_roc_auc_{name}": result.cv_mean,
                            f"cv_roc_auc_std_{name}": result.cv_std})
        results.append(result)
    best = select_best(results)
    mlflow.log_params({"selected_model": best.name, "seed": settings.seed,
                       "cv_folds": settings.cv_folds,
                       "train_rows": len(train),
                       **{f"best_{k}": v for k, v in best.best_params.items()}})
    mlflow.log_metrics(best.metrics())
    scores = [dataclasses.asdict(r.score()) for r in sorted(results, key=lambda r: -r.cv_mean)]
    return best.best_estimator, scores, {"selected_model": best.name, **best.metrics()}
