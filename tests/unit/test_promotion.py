"""The promotion gate's decision logic at its thresholds."""

from __future__ import annotations

import pytest

from churnops.promotion import judge
from churnops.settings import GateSettings

GATE = GateSettings(min_roc_auc=0.80, min_improvement=0.002,
                    max_equal_opportunity_diff=0.20, max_demographic_parity_diff=0.35)


def metrics(auc: float, eo: float = 0.05, dp: float = 0.10) -> dict[str, float]:
    fair = {}
    for attribute in ("gender", "SeniorCitizen"):
        fair[f"fairness_{attribute}_equal_opportunity_diff"] = eo
        fair[f"fairness_{attribute}_demographic_parity_diff"] = dp
    return {"test_roc_auc": auc, **fair}


def test_first_model_is_promoted_when_it_passes_the_floor() -> None:
    decision = judge(metrics(0.84), None, GATE)
    assert decision.promote
    assert "no current champion" in decision.summary


@pytest.mark.parametrize(("auc", "promote"), [(0.7999, False), (0.80, True), (0.8001, True)])
def test_absolute_floor(auc: float, promote: bool) -> None:
    assert judge(metrics(auc), None, GATE).promote is promote


@pytest.mark.parametrize(("delta", "promote"), [(0.0, False), (0.0019, False), (0.0021, True)])
def test_margin_over_the_champion(delta: float, promote: bool) -> None:
    decision = judge(metrics(0.84 + delta), metrics(0.84), GATE)
    assert decision.promote is promote
    assert "champion" in decision.summary


@pytest.mark.parametrize(("eo", "dp", "promote"), [
    (0.20, 0.35, True), (0.2001, 0.10, False), (0.05, 0.3501, False),
])
def test_fairness_limits(eo: float, dp: float, promote: bool) -> None:
    decision = judge(metrics(0.86, eo=eo, dp=dp), metrics(0.84), GATE)
    assert decision.promote is promote
    if not promote:
        assert "fairness limits exceeded" in decision.summary


def test_a_gap_the_champion_has_too_does_not_hold_a_fairer_challenger_back() -> None:
    # Over the limit, but narrower than the live champion's gap on the same holdout.
    fairer = judge(metrics(0.86, eo=0.30), metrics(0.84, eo=0.35), GATE)
    assert fairer.promote
    wider = judge(metrics(0.86, eo=0.30), metrics(0.84, eo=0.25), GATE)
    assert not wider.promote
    assert "equal_opportunity_diff 0.300 > 0.200 (champion 0.250)" in wider.summary


def test_every_failed_check_is_a_reason() -> None:
    decision = judge(metrics(0.70, eo=0.5), metrics(0.84), GATE)
    assert not decision.promote
    assert len(decision.reasons) == 3
