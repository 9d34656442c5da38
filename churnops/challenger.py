"""A live candidate judged on outcomes: at least as good as the primary, or not.

Once labels arrive, a **shadow** is compared with the primary on the same requests (paired:
both models scored each of them), and a **canary** with the primary on its own share of
traffic (A/B: two disjoint groups of requests). Two differences, candidate minus primary,
are estimated with a bootstrap over requests: ROC-AUC, and business value per customer at
each model's own threshold (``modeling.evaluation``). The verdict is a non-inferiority test
at ``ChallengerJudgement.confidence``:

- ``promote``: the lower bound of both differences is above minus the margin;
- ``roll_back``: the upper bound of either difference is below minus the margin (the
  candidate is shown worse by more than the margin);
- ``wait``: neither, or fewer than ``min_outcomes`` outcomes; the verdict says about how
  many more outcomes would decide it if the estimates held.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn.metrics import roc_auc_score

from churnops.deployment import LiveDeployment
from churnops.modeling.evaluation import MONTHLY_CHARGES, business_value_per_customer
from churnops.settings import BusinessSettings, ChallengerJudgement


class Interval(BaseModel):
    """A difference (candidate minus primary) and its bootstrap bounds: ``low`` and ``high``
    are the one-sided bounds at the judgement's confidence (together, a two-sided interval
    at twice its error rate)."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Arm:
    """One model's labelled answers: p(churn), outcomes, monthly charges, its threshold."""

    probability: np.ndarray
    churned: np.ndarray
    monthly_charges: np.ndarray
    threshold: float

    def roc_auc(self, rows: np.ndarray) -> float:
        churned = self.churned[rows]
        if churned.min() == churned.max():
            return math.nan
        return float(roc_auc_score(churned, self.probability[rows]))

    def value(self, rows: np.ndarray, business: BusinessSettings) -> float:
        return business_value_per_customer(self.churned[rows], self.probability[rows],
                                           self.monthly_charges[rows], self.threshold, business)


class LiveFigures(BaseModel):
    """One model's live figures on the labelled requests it is judged on."""

    outcomes: int
    roc_auc: float | None
    """None until its outcomes hold both churners and stayers."""
    value_per_customer: float | None


class ChallengerVerdict(BaseModel):
    """What to do with a live candidate, and the evidence."""

    mode: Literal["paired", "a/b"] | None
    """None when no candidate is live."""
    decision: Literal["promote", "roll_back", "wait", "none"]
    candidate: str | None = None
    primary: str | None = None
    outcomes: int
    """Labelled requests judged (the smaller arm, for a canary)."""
    more_outcomes_needed: int | None = None
    """With ``wait``: about how many more would decide, if the estimates held."""
    roc_auc_difference: Interval | None = None
    value_per_customer_difference: Interval | None = None
    primary_figures: LiveFigures | None = None
    candidate_figures: LiveFigures | None = None
    reasons: list[str]


def judge_live_candidate(live: LiveDeployment, rows: list[dict[str, Any]],
                         judgement: ChallengerJudgement, business: BusinessSettings
                         ) -> ChallengerVerdict:
    """The verdict on the live deployment's candidate from the inference log's labelled
    rows (``InferenceLogReader.labelled_answers``); ``none`` when no candidate is live."""
    if live.candidate is None:
        return ChallengerVerdict(mode=None, decision="none", outcomes=0,
                                 primary=live.primary.version,
                                 reasons=["no shadow or canary is live"])
    primary, candidate = live.primary, live.candidate
    frame = pd.DataFrame(rows, columns=["request_id", "ts", "shadow", "model_version",
                                        "variant", "probability", "features", "churned"])
    frame["monthly_charges"] = [row.get(MONTHLY_CHARGES) if row else np.nan
                                for row in frame["features"]]
    answered = frame[~frame["shadow"].astype(bool)]
    if live.strategy == "shadow":
        scored = frame[frame["shadow"].astype(bool)
                       & (frame["model_version"] == candidate.version)]
        pairs = answered[answered["model_version"] == primary.version].merge(
            scored, on="request_id", suffixes=("", "_candidate"))
        verdict = judge_shadow(_arm(pairs, "", primary.threshold),
                               _arm(pairs, "_candidate", candidate.threshold),
                               judgement, business)
    else:
        canary = answered[answered["model_version"] == candidate.version]
        since = canary["ts"].min() if len(canary) else None
        rest = answered[(answered["model_version"] == primary.version)
                        & (answered["variant"] == "primary")]
        rest = rest[rest["ts"] >= since] if since is not None else rest.iloc[:0]
        verdict = judge_canary(_arm(rest, "", primary.threshold),
                               _arm(canary, "", candidate.threshold), judgement, business)
    return verdict.model_copy(update={"candidate": candidate.version,
                                      "primary": primary.version})


def _arm(frame: pd.DataFrame, suffix: str, threshold: float) -> Arm:
    return Arm(probability=frame[f"probability{suffix}"].to_numpy(float),
               churned=frame["churned"].to_numpy(int),
               monthly_charges=frame[f"monthly_charges{suffix}"].to_numpy(float),
               threshold=threshold)


def judge_shadow(primary: Arm, candidate: Arm, judgement: ChallengerJudgement,
                 business: BusinessSettings) -> ChallengerVerdict:
    """Paired: both arms hold the same requests, in the same order."""
    if len(primary.churned) != len(candidate.churned) or not np.array_equal(
            primary.churned, candidate.churned):
        raise ValueError("a paired comparison needs both models' answers to the same requests")
    n = len(primary.churned)
    rng = np.random.default_rng(judgement.seed)
    draws = [rng.integers(0, n, n) for _ in range(judgement.bootstrap_samples)] if n else []
    return _verdict("paired", n, draws, draws, primary, candidate, judgement, business)


def judge_canary(primary: Arm, candidate: Arm, judgement: ChallengerJudgement,
                 business: BusinessSettings) -> ChallengerVerdict:
    """A/B: each arm holds the requests that model answered."""
    n_primary, n_candidate = len(primary.churned), len(candidate.churned)
    rng = np.random.default_rng(judgement.seed)
    enough = min(n_primary, n_candidate) > 0
    samples = judgement.bootstrap_samples if enough else 0
    primary_draws = [rng.integers(0, n_primary, n_primary) for _ in range(samples)]
    candidate_draws = [rng.integers(0, n_candidate, n_candidate) for _ in range(samples)]
    return _verdict("a/b", min(n_primary, n_candidate), primary_draws, candidate_draws,
                    primary, candidate, judgement, business)


def _verdict(mode: Literal["paired", "a/b"], n: int, primary_draws: list[np.ndarray],
             candidate_draws: list[np.ndarray], primary: Arm, candidate: Arm,
             judgement: ChallengerJudgement, business: BusinessSettings) -> ChallengerVerdict:
    figures = {"primary_figures": _live_figures(primary, business),
               "candidate_figures": _live_figures(candidate, business)}
    both_classes = all(len(set(arm.churned.tolist())) == 2 for arm in (primary, candidate))
    if n < judgement.min_outcomes or not both_classes:
        why = f"{n} outcomes, {judgement.min_outcomes} needed" \
            if n < judgement.min_outcomes else f"{n} outcomes, not yet both churners and stayers"
        return ChallengerVerdict(mode=mode, decision="wait", outcomes=n, reasons=[why],
                                 more_outcomes_needed=max(judgement.min_outcomes - n, 1),
                                 **figures)
    alpha = 1 - judgement.confidence
    metrics: dict[str, tuple[Callable[[Arm, np.ndarray], float], float]] = {
        "ROC-AUC": (lambda arm, rows: arm.roc_auc(rows), judgement.margin_roc_auc),
        "value per customer": (lambda arm, rows: arm.value(rows, business),
                               judgement.margin_value_per_customer),
    }
    intervals: dict[str, Interval] = {}
    for name, (measure, _) in metrics.items():
        everything = np.arange(len(primary.churned)), np.arange(len(candidate.churned))
        estimate = measure(candidate, everything[1]) - measure(primary, everything[0])
        spread = np.array([measure(candidate, c) - measure(primary, p)
                           for p, c in zip(primary_draws, candidate_draws, strict=True)])
        low, high = np.nanquantile(spread, [alpha, 1 - alpha])
        intervals[name] = Interval(estimate=estimate, low=float(low), high=float(high))
    worse = [name for name, (_, margin) in metrics.items() if intervals[name].high < -margin]
    fine = [name for name, (_, margin) in metrics.items() if intervals[name].low > -margin]
    reasons = [f"{name}: {i.estimate:+.4f} [{i.low:+.4f}, {i.high:+.4f}] "
               f"(margin {metrics[name][1]:g}, {judgement.confidence:.0%} one-sided)"
               for name, i in intervals.items()]
    if worse:
        decision, needed = "roll_back", None
        reasons.insert(0, f"shown worse than the primary on {', '.join(worse)}")
    elif len(fine) == len(metrics):
        decision, needed = "promote", None
        reasons.insert(0, "not worse than the primary beyond the margins")
    else:
        decision = "wait"
        needed = _more_needed(n, intervals, {k: m for k, (_, m) in metrics.items()})
        reasons.insert(0, "undecided: the intervals still cross the margins")
    return ChallengerVerdict(
        mode=mode, decision=decision, outcomes=n, more_outcomes_needed=needed,
        roc_auc_difference=intervals["ROC-AUC"],
        value_per_customer_difference=intervals["value per customer"], reasons=reasons,
        **figures)


def _live_figures(arm: Arm, business: BusinessSettings) -> LiveFigures:
    rows = np.arange(len(arm.churned))
    auc = arm.roc_auc(rows) if len(rows) else math.nan
    return LiveFigures(outcomes=len(rows), roc_auc=None if math.isnan(auc) else auc,
                       value_per_customer=arm.value(rows, business) if len(rows) else None)


def _more_needed(n: int, intervals: dict[str, Interval], margins: dict[str, float]
                 ) -> int | None:
    """Outcomes to add for a decision, if the estimates held (interval widths shrink as one
    over the square root of the outcomes): for a roll back, one metric whose estimate is
    already beyond its margin must clear it; for a promotion, every metric must."""
    def needed(name: str) -> int | None:
        interval = intervals[name]
        distance = abs(interval.estimate + margins[name])
        if distance < 1e-12:
            return None
        half_width = (interval.high - interval.low) / 2
        return math.ceil(n * (half_width / distance) ** 2) - n

    heading_back = [name for name in intervals if intervals[name].estimate < -margins[name]]
    counts = [needed(name) for name in heading_back or intervals]
    if any(count is None for count in counts):
        return None
    return max(min(counts) if heading_back else max(counts), 1)
