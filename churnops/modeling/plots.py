"""Evaluation figures.

Figures are built with :class:`matplotlib.figure.Figure` directly, not through pyplot: no
display or global figure registry is involved, and saving renders with the Agg backend.
The caller saves the figure (``fig.savefig`` or an experiment tracker) and discards it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from churnops.modeling.evaluation import business_value_curve
from churnops.settings import BusinessSettings

FIGSIZE = (6.0, 4.5)


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=FIGSIZE, layout="constrained")
    return figure, figure.add_subplot()


def roc_curve_figure(y_true: Any, proba: Any) -> Figure:
    """ROC curve with its AUC and the chance diagonal."""
    fpr, tpr, _ = roc_curve(y_true, proba)
    figure, ax = _figure()
    ax.plot(fpr, tpr, label=f"model (AUC = {roc_auc_score(y_true, proba):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return figure


def pr_curve_figure(y_true: Any, proba: Any) -> Figure:
    """Precision-recall curve with its average precision and the base rate."""
    precision, recall, _ = precision_recall_curve(y_true, proba)
    figure, ax = _figure()
    ax.plot(recall, precision, label=f"model (AP = {average_precision_score(y_true, proba):.3f})")
    ax.axhline(float(np.mean(y_true)), linestyle="--", color="grey", label="base rate")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve")
    ax.legend(loc="upper right")
    return figure


def calibration_figure(y_true: Any, proba: Any, n_bins: int = 10) -> Figure:
    """Observed churn rate against mean predicted probability, in quantile bins."""
    observed, predicted = calibration_curve(y_true, proba, n_bins=n_bins, strategy="quantile")
    figure, ax = _figure()
    ax.plot(predicted, observed, marker="o", label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set(
        xlabel="Mean predicted probability",
        ylabel="Observed churn rate",
        title="Calibration",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    return figure


def confusion_matrix_figure(y_true: Any, y_pred: Any) -> Figure:
    """Confusion matrix of hard predictions (counts)."""
    figure, ax = _figure()
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=[0, 1],
        display_labels=["stays", "churns"],
        ax=ax,
        colorbar=False,
    )
    ax.set_title("Confusion matrix")
    return figure


def business_value_figure(
    y_true: Any, proba: Any, monthly_charges: Any, cfg: BusinessSettings, threshold: float
) -> Figure:
    """Monthly business value against the decision threshold, marking ``threshold``."""
    thresholds, values = business_value_curve(y_true, proba, monthly_charges, cfg)
    figure, ax = _figure()
    ax.plot(thresholds, values, label="business value")
    ax.axhline(0.0, linestyle="--", color="grey", label="target nobody")
    ax.axvline(threshold, color="tab:red", linestyle=":", label=f"threshold = {threshold:.2f}")
    ax.set(
        xlabel="Decision threshold",
        ylabel="Value per month (USD)",
        title=f"Business value (offer ${cfg.offer_cost:g}, acceptance {cfg.acceptance_rate:.0%})",
    )
    ax.legend(loc="best")
    return figure


def importance_figure(table: pd.DataFrame, top: int = 15) -> Figure:
    """Horizontal bars of permutation importance (mean ± std), most important on top."""
    rows = table.head(top).iloc[::-1]
    figure = Figure(figsize=(6.0, 0.3 * len(rows) + 1.5), layout="constrained")
    ax = figure.add_subplot()
    ax.barh(rows["feature"], rows["importance_mean"], xerr=rows["importance_std"])
    ax.set(xlabel="Drop in ROC-AUC when shuffled", title="Permutation importance")
    return figure
