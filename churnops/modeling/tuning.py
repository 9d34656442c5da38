"""Hyper-parameter search per candidate and selection of the best one.

Each candidate is tuned with an exhaustive grid search scored by ROC-AUC over stratified,
shuffled folds. The fold assignment depends only on the seed, so every candidate is scored
on the same folds and a run with a fixed seed reproduces its metrics exactly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_predict,
    train_test_split,
)
from sklearn.pipeline import Pipeline

from churnops.modeling.candidates import build_pipeline

SCORING = "roc_auc"


@dataclass(frozen=True)
class CandidateScore:
    """What tuning one candidate found, without the fitted estimator (JSON-friendly)."""

    name: str
    best_params: dict[str, Any]
    cv_mean: float
    cv_std: float
    cv_scores: tuple[float, ...]
    n_candidates: int
    seconds: float


@dataclass(frozen=True)
class TuningResult(CandidateScore):
    """The outcome of tuning one candidate: its score and the fitted estimator.

    ``best_estimator`` has been refitted with ``best_params`` on the whole training split;
    ``cv_scores`` are the per-fold ROC-AUCs of those parameters.
    """

    best_estimator: Pipeline

    def metrics(self) -> dict[str, float]:
        """The cross-validation metrics under their logged names."""
        return {"cv_roc_auc": self.cv_mean, "cv_roc_auc_std": self.cv_std}

    def score(self) -> CandidateScore:
        """The result without the estimator, for artifacts and the model card."""
        return CandidateScore(**{f.name: getattr(self, f.name) for f in fields(CandidateScore)})


def split(
    df: pd.DataFrame, y: pd.Series, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Stratified train/test split: ``(X_train, X_test, y_train, y_test)``."""
    X_train, X_test, y_train, y_test = train_test_split(
        df, y, test_size=test_size, stratify=y, random_state=seed
    )
    return X_train, X_test, y_train, y_test


def folds(cv_folds: int, seed: int) -> StratifiedKFold:
    """The cross-validation folds used everywhere: stratified, shuffled by ``seed``."""
    return StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed)


def tune(
    name: str,
    X: pd.DataFrame,
    y: pd.Series,
    search_space: Mapping[str, Sequence[Any]],
    cv_folds: int,
    seed: int,
    n_jobs: int = 1,
) -> TuningResult:
    """Grid-search candidate ``name`` over ``search_space`` (keys like ``model__C``).

    An empty search space scores the candidate's defaults. ``n_jobs`` parallelises the
    fits and does not change the results.
    """
    started = time.perf_counter()
    search = GridSearchCV(
        build_pipeline(name, seed),
        param_grid={key: list(values) for key, values in search_space.items()},
        scoring=SCORING,
        cv=folds(cv_folds, seed),
        n_jobs=n_jobs,
        refit=True,
    )
    search.fit(X, y)
    best = search.best_index_
    scores = tuple(
        float(search.cv_results_[f"split{fold}_test_score"][best]) for fold in range(cv_folds)
    )
    return TuningResult(
        name=name,
        best_estimator=search.best_estimator_,
        best_params=dict(search.best_params_),
        cv_mean=float(np.mean(scores)),
        cv_std=float(np.std(scores)),
        cv_scores=scores,
        n_candidates=len(search.cv_results_["params"]),
        seconds=time.perf_counter() - started,
    )


def select_best(results: Sequence[TuningResult]) -> TuningResult:
    """The result with the highest mean CV ROC-AUC (the first one listed on a tie)."""
    if not results:
        raise ValueError("No tuning results to select from.")
    return max(results, key=lambda result: result.cv_mean)


def out_of_fold_proba(
    estimator: Pipeline, X: pd.DataFrame, y: pd.Series, cv_folds: int, seed: int, n_jobs: int = 1
) -> np.ndarray:
    """Churn probabilities for the training rows, each predicted by a model that did not see it.

    Choosing the decision threshold on these keeps the test split untouched for evaluation.
    """
    proba = cross_val_predict(
        clone(estimator), X, y, cv=folds(cv_folds, seed), method="predict_proba", n_jobs=n_jobs
    )
    return np.asarray(proba[:, 1], dtype=float)
