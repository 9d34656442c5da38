"""Two-sample shift tests between the drift reference and a window of production traffic.

Every feature, and the deployed model's p(churn), is tested for a change in distribution
with a test that compares two samples, so its false-alarm rate holds for any reference size:
Kolmogorov-Smirnov for numeric columns, and a chi-square test of the 2 x k contingency table
for categorical and binary ones (Evidently's ``chisquare`` is a goodness-of-fit test against
the reference's shares, treated as exact, which over-rejects when the reference is small).
The tests are the same in the Evidently report (``steps/monitoring/drift.py`` registers the
contingency test there) so the report's colours agree with the decision.

The outcomes get a two-sample test too (``outcome_shift``): does P(churn | score) still
follow the holdout's? Inputs that keep their distribution while different customers churn
(concept drift) are invisible to the tests above and show there first.

How the p-values become findings, with the error rate stated, is ``churnops.monitoring``'s
job (docs/monitoring.md explains the rule and the measurement behind it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats
from sklearn.linear_model import LogisticRegression

from churnops import schema
from churnops.estimation import log_odds

CATEGORICAL_TESTED = tuple(c.name for c in schema.FEATURES if c.kind in ("categorical", "binary"))
"""Columns tested as categories: the binary ``SeniorCitizen`` is a category, not a number."""


class Shift(BaseModel):
    """One column's test: its p-value and what moved, in words."""

    column: str
    test: str = Field(description='"ks" or "chi2_contingency".')
    p_value: float
    change: str = Field(description='e.g. "MonthlyCharges +11% (mean 64.8 -> 71.9)".')


class DriftFigures(BaseModel):
    rows: int
    reference_rows: int = 0
    features: list[Shift] = Field(default_factory=list, description="In schema order.")
    prediction: Shift | None = None

    def flagged(self, alpha: float) -> list[Shift]:
        """Features whose change is significant at family-wise ``alpha`` (Bonferroni over
        the features), most significant first."""
        cut = alpha / max(len(self.features), 1)
        return sorted((s for s in self.features if s.p_value <= cut), key=lambda s: s.p_value)


def contingency_p(reference: pd.Series, current: pd.Series) -> float:
    """p-value of the chi-square test of independence between sample and category."""
    return _contingency(_counts(reference, current))


def _counts(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Category -> count in the reference (column 0) and in the window (column 1)."""
    return pd.concat([reference.value_counts(), current.value_counts()], axis=1).fillna(0.0)


def _contingency(counts: pd.DataFrame) -> float:
    table = counts.to_numpy()
    table = table[table.sum(axis=1) > 0]
    if len(table) < 2 or (table.sum(axis=0) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def ks_p(reference: pd.Series, current: pd.Series) -> float:
    """p-value of the two-sample Kolmogorov-Smirnov test (missing values left out)."""
    return float(stats.ks_2samp(reference.dropna().to_numpy(dtype=float),
                                current.dropna().to_numpy(dtype=float)).pvalue)


def numeric_change(column: str, reference: pd.Series, current: pd.Series) -> str:
    before, after = float(reference.mean()), float(current.mean())
    relative = f"{after / before - 1:+.0%} " if before else ""
    return f"{column} {relative}(mean {before:.4g} -> {after:.4g})"


def category_change(column: str, counts: pd.DataFrame) -> str:
    """The category whose share moved most (the one that grew, on a tie)."""
    before, after = (counts.iloc[:, i] / counts.iloc[:, i].sum() for i in (0, 1))
    moves = after - before
    category = max(moves.index, key=lambda c: (round(abs(moves[c]), 9), moves[c]))
    return f"{column}: {category} {before[category]:.0%} -> {after[category]:.0%}"


def column_shift(column: str, reference: pd.Series, current: pd.Series) -> Shift:
    if column in CATEGORICAL_TESTED:
        counts = _counts(reference, current)
        return Shift(column=column, test="chi2_contingency", p_value=_contingency(counts),
                     change=category_change(column, counts))
    return Shift(column=column, test="ks", p_value=ks_p(reference, current),
                 change=numeric_change(column, reference, current))


def shift_figures(reference: pd.DataFrame, current: pd.DataFrame,
                  prediction: str | None = None) -> DriftFigures:
    """Every feature's shift, and the ``prediction`` column's if given."""
    features = [column_shift(name, reference[name], current[name])
                for name in schema.FEATURE_NAMES]
    predicted = None
    if prediction is not None:
        before, after = reference[prediction], current[prediction]
        predicted = Shift(column=prediction, test="ks", p_value=ks_p(before, after),
                          change=f"mean p(churn) {before.mean():.3f} -> {after.mean():.3f}")
    return DriftFigures(rows=len(current), reference_rows=len(reference), features=features,
                        prediction=predicted)


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of an ROC-AUC estimate."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc**2)
                + (negatives - 1) * (q2 - auc**2)) / (positives * negatives)
    return float(np.sqrt(max(variance, 0.0)))


class OutcomeShift(BaseModel):
    """Whether live outcomes follow the scores the way the holdout's did."""

    rows: int
    p_value: float
    churn_rate: float
    expected_churn_rate: float = Field(
        description="What the holdout's link from score to outcome expects for these rows.")


def outcome_shift(holdout_scores: np.ndarray, holdout_churned: np.ndarray,
                  scores: np.ndarray, churned: np.ndarray) -> OutcomeShift | None:
    """Likelihood-ratio test that P(churn | score) is the same on the holdout and live.

    The outcome is regressed on the score's log-odds (intercept and slope), once over both
    samples and once for each; twice the gain in log-likelihood is chi-square with 2 degrees
    of freedom. Both samples' errors count, so it holds for a holdout of any size. None
    when a sample has a single outcome.
    """
    samples = [(log_odds(s), np.asarray(y, dtype=int))
               for s, y in ((holdout_scores, holdout_churned), (scores, churned))]
    if any(len(np.unique(y)) < 2 for _, y in samples):
        return None
    (x_holdout, y_holdout), (x_live, y_live) = samples
    holdout = _logistic(x_holdout, y_holdout)
    separate = _log_likelihood(holdout, x_holdout, y_holdout) + _log_likelihood(
        _logistic(x_live, y_live), x_live, y_live)
    x, y = np.vstack([x_holdout, x_live]), np.concatenate([y_holdout, y_live])
    shared = _log_likelihood(_logistic(x, y), x, y)
    return OutcomeShift(
        rows=len(y_live), p_value=float(stats.chi2.sf(max(2 * (separate - shared), 0.0), 2)),
        churn_rate=float(y_live.mean()),
        expected_churn_rate=float(holdout.predict_proba(x_live)[:, 1].mean()))


def _logistic(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=np.inf, solver="newton-cholesky").fit(x, y)


def _log_likelihood(model: LogisticRegression, x: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(model.predict_proba(x)[:, 1], 1e-12, 1 - 1e-12)
    return float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
