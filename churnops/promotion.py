"""The promotion gate: may a challenger take the champion alias?"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from churnops import schema
from churnops.settings import GateSettings


@dataclass(frozen=True)
class GateVerdict:
    """Whether the challenger wins, and every check's reason."""

    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        verdict = "promote" if self.promote else "keep the champion"
        return f"{verdict}: " + "; ".join(self.reasons)


class GateResult(BaseModel):
    """What the gate did with a new version: promoted, approved for a canary, or neither."""

    model_version: str
    promoted: bool = Field(description="The champion alias moved to this version.")
    approved: bool = Field(description="The version won; without promotion, it waits for "
                                       "its canary or shadow to be judged.")
    champion_before: str | None
    champion_after: str | None
    reasons: list[str]
    challenger_roc_auc: float
    champion_roc_auc: float | None = None

    @property
    def verdict(self) -> str:
        if self.promoted:
            return "promoted to @champion"
        return "approved: promote it after its canary" if self.approved \
            else "registered, not promoted"


def fairness_failures(metrics: dict[str, float], gate: GateSettings,
                      champion: dict[str, float] | None = None) -> list[str]:
    """Gaps over their limit. With a ``champion`` measured on the same holdout, a gap counts
    only where it is also wider than the champion's: a challenger no less fair than the model
    already serving is not held back by a gap that model has too (on a small holdout of
    production customers both gaps are noisy)."""
    failures = []
    for attribute in schema.SENSITIVE_FEATURES:
        for kind, limit in (("equal_opportunity_diff", gate.max_equal_opportunity_diff),
                            ("demographic_parity_diff", gate.max_demographic_parity_diff)):
            key = f"fairness_{attribute}_{kind}"
            value = metrics[key]
            live = None if champion is None else champion.get(key)
            if value > limit and (live is None or value > live):
                failures.append(f"{attribute} {kind} {value:.3f} > {limit:.3f}"
                                + ("" if live is None else f" (champion {live:.3f})"))
    return failures


def judge(
    challenger: dict[str, float], champion: dict[str, float] | None, gate: GateSettings
) -> GateVerdict:
    """Compare holdout metrics of the challenger and the current champion on the same rows.

    The challenger must pass the absolute floor and the fairness limits (or be no less fair
    than the champion on the same rows), and must beat the champion's ROC-AUC by
    ``min_improvement``. Every check contributes a reason.
    """
    reasons: list[str] = []
    ok = True
    auc = challenger["test_roc_auc"]
    if auc < gate.min_roc_auc:
        ok = False
        reasons.append(f"holdout ROC-AUC {auc:.4f} is below the floor {gate.min_roc_auc:.4f}")
    unfair = fairness_failures(challenger, gate, champion)
    if unfair:
        ok = False
        reasons.append("fairness limits exceeded: " + ", ".join(unfair))
    if champion is None:
        reasons.append("no current champion")
    else:
        delta = auc - champion["test_roc_auc"]
        if delta < gate.min_improvement:
            ok = False
            reasons.append(
                f"ROC-AUC {auc:.4f} vs champion {champion['test_roc_auc']:.4f} on the same "
                f"holdout: {delta:+.4f} is less than the required margin {gate.min_improvement}"
            )
        else:
            reasons.append(
                f"ROC-AUC {auc:.4f} beats champion {champion['test_roc_auc']:.4f} by {delta:+.4f}"
            )
    if ok and not unfair:
        reasons.insert(0, f"passes the floor ({auc:.4f} >= {gate.min_roc_auc}) and fairness limits")
    return GateVerdict(ok, reasons)
