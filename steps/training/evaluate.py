from __future__ import annotations

import logging
from typing import Annotated

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import log_metadata, step

from churnops import data, schema
from churnops.modeling import plots
from churnops.modeling.evaluation import (
    Evaluation,
    best_threshold,
    evaluate,
    permutation_importance_table,
    predict_proba,
)
from churnops.modeling.tuning import out_of_fold_proba
from churnops.settings import TrainingSettings

logger = logging.getLogger(__name__)


@step(experiment_tracker=True, enable_cache=False)
def choose_threshold(model: Pipeline, train: pd.DataFrame, settings: TrainingSettings) -> (
    Annotated[float, "decision_threshold"]
):
    """The threshold that maximises business value on out-of-fold training predictions.

    Choosing it on the training folds keeps the holdout untouched for the final figures.
    """
    return threshold_and_log(model, train, settings)


@step(experiment_tracker=True, enable_cache=False)
def evaluate_on_holdout(
    model: Pipeline, holdout: pd.DataFrame, decision_threshold: float,
    settings: TrainingSettings,
) -> tuple[
    Annotated[Evaluation, "holdout_evaluation"], Annotated[pd.DataFrame, "permutation_importance"]
]:
    """Holdout ROC/PR-AUC, thresholded metrics, business value, fairness, importance, plots."""
    evaluation, importance = evaluate_and_log(model, holdout, decision_threshold, settings)
    log_metadata(evaluation.metrics(), artifact_name="holdout_evaluation", infer_artifact=True)
    return evaluation, importance


def threshold_and_log(model: Pipeline, train: pd.DataFrame, settings: TrainingSettings
                      ) -> float:
    """The business-optimal threshold on out-of-fold predictions, logged to MLflow."""
    X, y = train[list(schema.FEATURE_NAMES)], data.label(train)
    oof = out_of_fold_proba(model, X, y, settings.cv_folds, settings.seed, settings.n_jobs)
    threshold, value = best_threshold(y, oof, X["MonthlyCharges"], settings.business)
    mlflow.log_metrics({"decision_threshold": threshold, "oof_business_value": value})
    logger.info("Business-optimal threshold %.2f (out-of-fold value %.0f USD/month).",
                threshold, value)
    return float(threshold)


def evaluate_and_log(model: Pipeline, holdout: pd.DataFrame, threshold: float,
                     settings: TrainingSettings) -> tuple[Evaluation, pd.DataFrame]:
    """The holdout evaluation and permutation importance, logged to MLflow with the plots."""
    X, y = holdout[list(schema.FEATURE_NAMES)], data.label(holdout)
    business = settings.business
    evaluation = evaluate(model, X, y, business, threshold=threshold)
    mlflow.log_metrics(evaluation.metrics())
    importance = permutation_importance_table(model, X, y, seed=settings.seed)
    mlflow.log_table(importance, "evaluation/permutation_importance.json")
    proba = predict_proba(model, X)
    figures = {
        "roc_curve": plots.roc_curve_figure(y, proba),
        "pr_curve": plots.pr_curve_figure(y, proba),
        "calibration": plots.calibration_figure(y, proba),
        "confusion_matrix": plots.confusion_matrix_figure(y, proba >= threshold),
        "business_value": plots.business_value_figure(
            y, proba, X["MonthlyCharges"], business, threshold),
        "permutation_importance": plots.importance_figure(importance),
    }
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"evaluation/{name}.png")
    logger.info("Holdout ROC-AUC %.4f, PR-AUC %.4f, recall %.3f at %.2f, value %.0f USD/month.",
                evaluation.roc_auc, evaluation.pr_auc, evaluation.recall, threshold,
                evaluation.business_value)
    return evaluation, importance
