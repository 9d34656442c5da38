"""The live candidate judged from a real inference log: shadow rows paired with the primary's
answers, canary answers against the primary's, joined with the outcomes that came in."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from churnops.challenger import judge_live_candidate
from churnops.deployment import LiveDeployment, ServedModel
from churnops.inference_log import PredictionRecord
from churnops.settings import BusinessSettings, ChallengerJudgement
from serving.inference_log import Feedback, InferenceLog

JUDGEMENT = ChallengerJudgement(bootstrap_samples=200, min_outcomes=200)
N = 1500


def served(version: str) -> ServedModel:
    return ServedModel(version=version, model_uri=f"models:/churn-model/{version}",
                       endpoint=f"http://127.0.0.1:900{version}/invocations", threshold=0.4,
                       validation_suite={"name": "churn_features", "expectations": []})


def scores(truth: np.ndarray, noise: float, seed: int) -> np.ndarray:
    logit = np.log(truth / (1 - truth))
    logit = logit + np.random.default_rng(seed).normal(0, noise, len(truth))
    return 1 / (1 + np.exp(-logit))


def fill_log(log: InferenceLog, strategy: str, candidate_noise: float) -> None:
    """N requests answered under ``strategy``, each with its outcome."""
    rng = np.random.default_rng(0)
    truth = 1 / (1 + np.exp(-(2 * rng.normal(size=N) - 1)))
    churned = rng.random(N) < truth
    primary, candidate = scores(truth, 1.0, 1), scores(truth, candidate_noise, 2)
    to_canary = rng.random(N) < 0.4
    records, outcomes = [], []
    for i in range(N):
        request_id = uuid.uuid4().hex
        common = {"request_id": request_id, "customer_id": f"c{i}", "latency_ms": 1.0,
                  "status": "ok", "features": {"MonthlyCharges": float(20 + i % 90)}}
        answer, other = ("2", candidate[i]), ("1", primary[i])
        if strategy == "shadow" or not to_canary[i]:
            answer, other = ("1", primary[i]), ("2", candidate[i])
        variant = "canary" if answer[0] == "2" else "primary"
        records.append(PredictionRecord(**common, model_version=answer[0], variant=variant,
                                        probability=answer[1], decision=answer[1] >= 0.4))
        if strategy == "shadow" or variant == "canary":
            records.append(PredictionRecord(
                **common, model_version=other[0], probability=other[1], shadow=True,
                variant="shadow" if strategy == "shadow" else "primary",
                decision=other[1] >= 0.4))
        outcomes.append(Feedback(f"c{i}", bool(churned[i]), request_id))
    log.record_predictions(records)
    log.record_feedback(outcomes)


@pytest.mark.parametrize(("strategy", "candidate_noise", "expected"), [
    ("shadow", 0.3, "promote"), ("shadow", 4.0, "roll_back"),
    ("canary", 0.3, "promote"), ("canary", 4.0, "roll_back"),
])
def test_the_verdict_comes_from_the_logged_outcomes(
        tmp_path: Path, strategy: str, candidate_noise: float, expected: str) -> None:
    live = LiveDeployment(strategy=strategy, primary=served("1"), candidate=served("2"),
                          canary_share=0.4 if strategy == "canary" else 0.0)
    with InferenceLog(f"sqlite:///{tmp_path / 'log.db'}") as log:
        fill_log(log, strategy, candidate_noise)
        rows = log.labelled_answers(("1", "2"))
    verdict = judge_live_candidate(live, rows, JUDGEMENT, BusinessSettings())
    assert (verdict.decision, verdict.candidate, verdict.primary) == (expected, "2", "1")
    assert verdict.mode == ("paired" if strategy == "shadow" else "a/b")
    assert verdict.outcomes == (N if strategy == "shadow" else pytest.approx(0.4 * N, rel=0.1))


def test_no_candidate_no_verdict() -> None:
    verdict = judge_live_candidate(LiveDeployment(primary=served("1")), [], JUDGEMENT,
                                   BusinessSettings())
    assert (verdict.decision, verdict.mode, verdict.primary) == ("none", None, "1")
