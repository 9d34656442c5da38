"""Judging a live candidate on outcomes: paired (shadow) and A/B (canary) non-inferiority."""

from __future__ import annotations

import math

import numpy as np
import pytest

from churnops.challenger import Arm, judge_canary, judge_shadow
from churnops.settings import BusinessSettings, ChallengerJudgement

BUSINESS = BusinessSettings()
JUDGEMENT = ChallengerJudgement(bootstrap_samples=300, min_outcomes=200)


def customers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true p(churn), outcomes, monthly charges) of ``n`` synthetic customers."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    truth = 1 / (1 + np.exp(-(2.0 * score - 1.0)))
    return truth, (rng.random(n) < truth).astype(int), rng.uniform(20, 110, n)


def model(truth: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """A model of p(churn): the truth, blurred by ``noise`` on the logit scale."""
    logit = np.log(truth / (1 - truth)) + np.random.default_rng(seed).normal(0, noise,
                                                                             len(truth))
    return 1 / (1 + np.exp(-logit))


def arm(probability: np.ndarray, churned: np.ndarray, charges: np.ndarray) -> Arm:
    return Arm(probability=probability, churned=churned, monthly_charges=charges,
               threshold=0.4)


@pytest.mark.parametrize(("candidate_noise", "expected"), [
    (0.0, "promote"),    # the same model: no difference at all
    (0.3, "promote"),    # a better model
    (4.0, "roll_back"),  # a much worse one
])
def test_a_shadow_is_judged_on_the_same_requests(candidate_noise: float, expected: str) -> None:
    truth, churned, charges = customers(3000, seed=1)
    primary = model(truth, 1.0, seed=2)
    candidate = primary if candidate_noise == 0.0 else model(truth, candidate_noise, seed=3)
    verdict = judge_shadow(arm(primary, churned, charges), arm(candidate, churned, charges),
                           JUDGEMENT, BUSINESS)
    assert (verdict.mode, verdict.decision, verdict.outcomes) == ("paired", expected, 3000)
    auc = verdict.roc_auc_difference
    assert auc.low <= auc.estimate <= auc.high
    if candidate_noise == 0.0:
        assert auc.low == auc.high == 0.0
    assert verdict.more_outcomes_needed is None


@pytest.mark.parametrize(("candidate_noise", "expected"), [(0.3, "promote"),
                                                           (4.0, "roll_back")])
def test_a_canary_is_judged_against_the_primary_on_its_own_share(
        candidate_noise: float, expected: str) -> None:
    truth, churned, charges = customers(6000, seed=4)
    share = np.random.default_rng(5).random(6000) < 0.3  # the canary's requests
    primary, candidate = model(truth, 1.0, seed=6), model(truth, candidate_noise, seed=7)
    verdict = judge_canary(arm(primary[~share], churned[~share], charges[~share]),
                           arm(candidate[share], churned[share], charges[share]),
                           JUDGEMENT, BUSINESS)
    assert (verdict.mode, verdict.decision) == ("a/b", expected)
    assert verdict.outcomes == share.sum()
    # Each arm's own live figures, on its own requests; the difference is theirs.
    mine, theirs = verdict.candidate_figures, verdict.primary_figures
    assert (mine.outcomes, theirs.outcomes) == (share.sum(), (~share).sum())
    assert mine.roc_auc - theirs.roc_auc == pytest.approx(verdict.roc_auc_difference.estimate)
    assert (mine.roc_auc > theirs.roc_auc) is (expected == "promote")


def test_too_few_outcomes_means_wait_and_says_how_many_more() -> None:
    truth, churned, charges = customers(150, seed=8)
    primary = model(truth, 1.0, seed=9)
    verdict = judge_shadow(arm(primary, churned, charges), arm(primary, churned, charges),
                           JUDGEMENT, BUSINESS)
    assert (verdict.decision, verdict.more_outcomes_needed) == ("wait", 50)
    assert verdict.roc_auc_difference is None and "150 outcomes" in verdict.reasons[0]
    assert verdict.primary_figures.outcomes == 150  # the figures so far are still shown


def test_an_undecided_comparison_waits_with_an_estimate_of_the_outcomes_needed() -> None:
    truth, churned, charges = customers(400, seed=10)
    primary, candidate = model(truth, 1.0, seed=11), model(truth, 1.1, seed=12)
    strict = JUDGEMENT.model_copy(update={"margin_roc_auc": 0.005})
    verdict = judge_shadow(arm(primary, churned, charges), arm(candidate, churned, charges),
                           strict, BUSINESS)
    assert verdict.decision == "wait"
    assert verdict.more_outcomes_needed > 0
    assert verdict.reasons[0].startswith("undecided")


def test_a_paired_comparison_needs_the_same_requests() -> None:
    truth, churned, charges = customers(300, seed=13)
    primary = model(truth, 1.0, seed=14)
    with pytest.raises(ValueError, match="same requests"):
        judge_shadow(arm(primary, churned, charges),
                     arm(primary[:-1], churned[:-1], charges[:-1]), JUDGEMENT, BUSINESS)


def test_a_roll_back_needs_one_metric_past_its_margin_a_promotion_needs_all() -> None:
    from churnops.challenger import Interval, _more_needed

    margins = {"ROC-AUC": 0.01, "value per customer": 0.5}
    # ROC-AUC heads for a roll back and is nearly decided; value is far from deciding.
    heading_back = {"ROC-AUC": Interval(estimate=-0.03, low=-0.05, high=-0.005),
                    "value per customer": Interval(estimate=-0.45, low=-1.5, high=0.6)}
    assert _more_needed(400, heading_back, margins) == math.ceil(400 * (0.0225 / 0.02) ** 2) - 400
    # Both head for a promotion: the slower one sets the count.
    heading_up = {"ROC-AUC": Interval(estimate=0.01, low=-0.02, high=0.04),
                  "value per customer": Interval(estimate=0.5, low=-0.5, high=1.5)}
    assert _more_needed(400, heading_up, margins) == max(
        math.ceil(400 * (0.03 / 0.02) ** 2) - 400, math.ceil(400 * (1.0 / 1.0) ** 2) - 400)
