"""Holdout evaluation: ranking metrics, the business-optimal threshold, fairness, importances.

Business value model
--------------------
A retention offer costs ``offer_cost`` USD per targeted customer. A targeted customer who
would have churned accepts it and stays with probability ``acceptance_rate``; the revenue
kept by retaining a customer is that customer's ``MonthlyCharges``. Targeting the customers
whose churn probability is at or above a threshold is worth, per month::

    value = sum over targeted i of (y_i * acceptance_rate * MonthlyCharges_i)
            - offer_cost * n_targeted

Targeting nobody is worth 0, the baseline every threshold has to beat. The model is a
deliberate simplification: it counts one month of kept revenue, treats ``offer_cost`` as
the only cost of an offer made to a customer who would have stayed anyway, and assumes the
offer does not change anyone's behaviour except would-be churners who accept it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from churnops import schema
from churnops.settings import BusinessSettings

THRESHOLD_GRID = np.round(np.arange(1, 100) / 100, 2)
"""The thresholds scanned for the business optimum: 0.01, 0.02, ..., 0.99."""

MONTHLY_CHARGES = "MonthlyCharges"


def _values(
    y_true: Any, proba: Any, monthly_charges: Any, thresholds: np.ndarray, cfg: BusinessSettings
) -> np.ndarray:
    """Monthly business value at each of ``thresholds`` (vectorised over thresholds)."""
    churned_revenue = np.asarray(y_true, dtype=float) * np.asarray(monthly_charges, dtype=float)
    targeted = np.asarray(proba, dtype=float)[None, :] >= thresholds[:, None]
    return cfg.acceptance_rate * (targeted @ churned_revenue) - cfg.offer_cost * targeted.sum(1)


def business_value(
    y_true: Any, proba: Any, monthly_charges: Any, threshold: float, cfg: BusinessSettings
) -> float:
    """Monthly value (USD) of offering to every customer with ``proba >= threshold``."""
    return float(_values(y_true, proba, monthly_charges, np.array([threshold]), cfg)[0])


def business_value_per_customer(
    y_true: Any, proba: Any, monthly_charges: Any, threshold: float, cfg: BusinessSettings
) -> float:
    """``business_value`` divided by the number of customers scored (targeted or not)."""
    return business_value(y_true, proba, monthly_charges, threshold, cfg) / len(y_true)


def business_value_curve(
    y_true: Any, proba: Any, monthly_charges: Any, cfg: BusinessSettings
) -> tuple[np.ndarray, np.ndarray]:
    """``(thresholds, values)``: the monthly business value at each ``THRESHOLD_GRID`` value."""
    return THRESHOLD_GRID, _values(y_true, proba, monthly_charges, THRESHOLD_GRID, cfg)


def best_threshold(
    y_true: Any, proba: Any, monthly_charges: Any, cfg: BusinessSettings
) -> tuple[float, float]:
    """The threshold of ``THRESHOLD_GRID`` with the highest business value, and that value.

    Ties go to the highest threshold: the same value with the fewest offers.
    """
    thresholds, values = business_value_curve(y_true, proba, monthly_charges, cfg)
    best = len(values) - 1 - int(np.argmax(values[::-1]))
    return float(thresholds[best]), float(values[best])


def fairness(y_true: Any, y_pred: Any, groups: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Group-fairness gaps of hard predictions, for each column of ``groups``.

    For each attribute: ``demographic_parity_diff`` is the largest minus the smallest
    positive-prediction rate across its groups, ``equal_opportunity_diff`` the same for the
    true-positive rate (groups without positives are skipped), and ``groups`` holds each
    group's size, positive-prediction rate and TPR (NaN without positives).
    """
    frame = pd.DataFrame(
        {"y": np.asarray(y_true, dtype=int), "pred": np.asarray(y_pred, dtype=int)}
    )
    report: dict[str, dict[str, Any]] = {}
    for attribute in groups.columns:
        keys = groups[attribute].astype(str).to_numpy()
        per_group: dict[str, dict[str, Any]] = {}
        for key, part in frame.groupby(keys, sort=True):
            positives = part[part["y"] == 1]
            per_group[str(key)] = {
                "n": len(part),
                "positive_rate": float(part["pred"].mean()),
                "tpr": float(positives["pred"].mean()) if len(positives) else float("nan"),
            }
        rates = [g["positive_rate"] for g in per_group.values()]
        tprs = [g["tpr"] for g in per_group.values() if not np.isnan(g["tpr"])]
        report[attribute] = {
            "demographic_parity_diff": float(max(rates) - min(rates)),
            "equal_opportunity_diff": float(max(tprs) - min(tprs)) if tprs else float("nan"),
            "groups": per_group,
        }
    return report


class Evaluation(BaseModel):
    """Metrics of one model on one labelled data set, at one decision threshold.

    ``confusion_matrix`` is ``((tn, fp), (fn, tp))``; ``fairness`` is the output of
    :func:`fairness` for the sensitive attributes (NaN where a group has no positives).
    """

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")

    roc_auc: float
    pr_auc: float
    threshold: float
    precision: float
    recall: float
    f1: float
    accuracy: float
    business_value: float
    business_value_per_customer: float
    business_value_target_none: float
    business_value_target_all: float
    n_customers: int
    n_targeted: int
    confusion_matrix: tuple[tuple[int, int], tuple[int, int]]
    fairness: dict[str, dict[str, Any]]

    def metrics(self, prefix: str = "test") -> dict[str, float]:
        """A flat dict of the scalar metrics, named as they are logged.

        Model metrics are ``<prefix>_<metric>`` (``test_roc_auc``, ``test_pr_auc``, ...);
        fairness gaps are ``fairness_<attribute>_<gap>``.
        """
        (tn, fp), (fn, tp) = self.confusion_matrix
        scalars = {
            "roc_auc": self.roc_auc,
            "pr_auc": self.pr_auc,
            "threshold": self.threshold,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
            "business_value": self.business_value,
            "business_value_per_customer": self.business_value_per_customer,
            "business_value_target_none": self.business_value_target_none,
            "business_value_target_all": self.business_value_target_all,
            "targeted_share": self.n_targeted / self.n_customers,
            "tn": tn,
            "fp": fp,
            "fn": fn,
            "tp": tp,
        }
        flat = {f"{prefix}_{name}": float(value) for name, value in scalars.items()}
        for attribute, gaps in self.fairness.items():
            for gap in ("demographic_parity_diff", "equal_opportunity_diff"):
                flat[f"fairness_{attribute}_{gap}"] = float(gaps[gap])
        return flat


def predict_proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    """The predicted churn probability (positive class) for each row of ``X``."""
    return np.asarray(model.predict_proba(X)[:, 1], dtype=float)


def evaluate(
    model: Any,
    X: pd.DataFrame,
    y: Any,
    cfg: BusinessSettings,
    threshold: float | None = None,
) -> Evaluation:
    """Evaluate a fitted classifier on ``X`` (raw feature columns) and labels ``y``.

    With ``threshold=None`` the business-optimal threshold on this data is chosen and used;
    that flatters the business value, so for a holdout report pass a threshold chosen on
    other data (for example with ``best_threshold`` on out-of-fold training predictions).
    Fairness is computed over ``schema.SENSITIVE_FEATURES``.
    """
    y_true = np.asarray(y, dtype=int)
    proba = predict_proba(model, X)
    monthly = X[MONTHLY_CHARGES].to_numpy(dtype=float)
    if threshold is None:
        threshold, _ = best_threshold(y_true, proba, monthly, cfg)
    y_pred = (proba >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    value = business_value(y_true, proba, monthly, threshold, cfg)
    return Evaluation(
        roc_auc=float(roc_auc_score(y_true, proba)),
        pr_auc=float(average_precision_score(y_true, proba)),
        threshold=float(threshold),
        precision=float(precision_score(y_true, y_pred, zero_division=0)),
        recall=float(recall_score(y_true, y_pred, zero_division=0)),
        f1=float(f1_score(y_true, y_pred, zero_division=0)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        business_value=value,
        business_value_per_customer=value / len(y_true),
        business_value_target_none=0.0,
        business_value_target_all=business_value(y_true, proba, monthly, 0.0, cfg),
        n_customers=len(y_true),
        n_targeted=int(y_pred.sum()),
        confusion_matrix=((int(tn), int(fp)), (int(fn), int(tp))),
        fairness=fairness(y_true, y_pred, X[list(schema.SENSITIVE_FEATURES)]),
    )


def permutation_importance_table(
    model: Any, X: pd.DataFrame, y: Any, seed: int, n_repeats: int = 5
) -> pd.DataFrame:
    """Drop in ROC-AUC when each raw feature column is shuffled, most important first.

    Columns are permuted before preprocessing, so a categorical feature is scored as one
    feature rather than as its one-hot columns.
    """
    features = X[list(schema.FEATURE_NAMES)]
    result = permutation_importance(
        model,
        features,
        np.asarray(y),
        scoring="roc_auc",
        n_repeats=n_repeats,
        random_state=seed,
    )
    table = pd.DataFrame(
        {
            "feature": features.columns,
            "importance_mean": result["importances_mean"],
            "importance_std": result["importances_std"],
        }
    )
    return table.sort_values(
        ["importance_mean", "feature"], ascending=[False, True], ignore_index=True
    )
