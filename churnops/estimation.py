"""Performance estimated before the outcomes arrive: confidence-based performance estimation.

Churn outcomes come days after the predictions. In between, the model's own probabilities,
once calibrated, say how well it should be doing on today's customers: if a customer's
calibrated p(churn) is 0.3, it counts as 0.3 of a churner and 0.7 of a stayer. This is
NannyML's CBPE (Confidence-Based Performance Estimation), in the form its source uses for
ROC-AUC, written out here because the method is a few lines and NannyML brings 1.2 GB of
dependencies (docs/monitoring.md):

* calibration: a logistic regression of the outcome on the score's log-odds (Platt
  scaling), fitted on the drift reference (the reference pool, which the model never
  trained on). NannyML uses isotonic regression; on a reference of 1,400 customers its
  steps make the extremes look certain and the estimate optimistic (docs/monitoring.md);
* expected ROC curve: rows sorted by score; the expected true positives above each cut are
  the running sum of calibrated probabilities, the false positives the running sum of their
  complements; the area under that curve is the estimate;
* its sampling error for ``n`` rows: NannyML's ``s / sqrt(n f)``, where ``f`` is the
  reference's churn rate and ``s`` the spread, over the reference's churners, of the share of
  stayers each one outranks.

It holds while P(churn | features) is what the reference says: it follows a covariate shift
(new kinds of customers), and cannot see a concept drift (the same customers churning more),
which only the outcomes show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field
from sklearn.linear_model import LogisticRegression

from churnops.modeling.evaluation import business_value_per_customer
from churnops.settings import BusinessSettings

Z_95 = 1.959963984540054


class EstimatedPerformance(BaseModel):
    """A day's estimate, from predictions alone."""

    rows: int
    roc_auc: float | None
    roc_auc_low: float | None = Field(None, description="95 % interval, sampling error only.")
    roc_auc_high: float | None = None
    value_per_customer: float | None = None
    roc_auc_on_outcomes: float | None = Field(
        None, description="The estimate over the rows whose outcomes arrived, to compare "
        "with the realised figure on the same rows.")


@dataclass(frozen=True)
class Estimator:
    calibrator: LogisticRegression
    spread: float
    churn_rate: float

    @classmethod
    def fit(cls, scores: np.ndarray, churned: np.ndarray) -> Estimator:
        """Calibrate on reference scores and outcomes."""
        scores, churned = np.asarray(scores, dtype=float), np.asarray(churned, dtype=int)
        if churned.min() == churned.max():
            raise ValueError("the reference needs both outcomes to calibrate on")
        calibrator = LogisticRegression(C=1e6).fit(log_odds(scores), churned)
        return cls(calibrator, _rank_spread(scores, churned), float(churned.mean()))

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        return self.calibrator.predict_proba(log_odds(scores))[:, 1]

    def estimate(self, scores: np.ndarray, monthly_charges: np.ndarray | None = None,
                 threshold: float | None = None,
                 business: BusinessSettings | None = None) -> EstimatedPerformance:
        scores = np.asarray(scores, dtype=float)
        if len(scores) < 2:
            return EstimatedPerformance(rows=len(scores), roc_auc=None)
        calibrated = self.calibrated(scores)
        auc = expected_roc_auc(scores, calibrated)
        error = self.spread / np.sqrt(len(scores) * min(self.churn_rate, 1 - self.churn_rate))
        value = None
        if monthly_charges is not None and threshold is not None and business is not None:
            value = business_value_per_customer(calibrated, scores, monthly_charges, threshold,
                                                business)
        return EstimatedPerformance(
            rows=len(scores), roc_auc=auc, roc_auc_low=max(0.0, auc - Z_95 * error),
            roc_auc_high=min(1.0, auc + Z_95 * error), value_per_customer=value)


def expected_roc_auc(scores: np.ndarray, calibrated: np.ndarray) -> float | None:
    """The area under the ROC curve that the calibrated probabilities expect."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    churners = np.concatenate([[0.0], np.cumsum(calibrated[order])])
    stayers = np.concatenate([[0.0], np.cumsum(1.0 - calibrated[order])])
    if churners[-1] <= 0 or stayers[-1] <= 0:
        return None
    return float(np.trapezoid(churners / churners[-1], stayers / stayers[-1]))


def log_odds(scores: np.ndarray) -> np.ndarray:
    """The scores' log-odds, as one column."""
    clipped = np.clip(np.asarray(scores, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))[:, None]


def _rank_spread(scores: np.ndarray, churned: np.ndarray) -> float:
    """The spread, over the minority class, of the share of the other class each outranks."""
    positive = churned == 1 if churned.mean() <= 0.5 else churned == 0
    sign = 1.0 if churned.mean() <= 0.5 else -1.0
    others = np.sort(sign * scores[~positive])
    outranked = np.searchsorted(others, sign * scores[positive], side="left") / len(others)
    return float(np.std(outranked))
