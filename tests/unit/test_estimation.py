"""Performance estimated from calibrated probabilities, against outcomes drawn from them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from churnops.estimation import Estimator, expected_roc_auc
from churnops.modeling.evaluation import business_value_per_customer
from churnops.settings import BusinessSettings


def _world(n: int, shift: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A model's probabilities (too flat) and the true ones; ``shift`` moves the customers."""
    score = rng.normal(shift, 1.5, n)
    return 1 / (1 + np.exp(-(0.7 * score + 0.3))), 1 / (1 + np.exp(-score))


def test_the_expected_area_is_the_mean_realised_area() -> None:
    rng = np.random.default_rng(0)
    score, p = _world(300, 0.0, rng)
    realised = [roc_auc_score(rng.random(300) < p, score) for _ in range(2000)]
    assert expected_roc_auc(score, p) == pytest.approx(np.mean(realised), abs=0.003)


def test_an_estimate_follows_a_covariate_shift_within_its_interval() -> None:
    rng = np.random.default_rng(1)
    reference_score, reference_p = _world(3000, -1.0, rng)
    estimator = Estimator.fit(reference_score, rng.random(3000) < reference_p)
    inside, errors = 0, []
    for day in range(60):
        # Three days of outcomes (the label window); from day 30, other customers.
        score, p = _world(900, -1.0 + 1.5 * (day >= 30), rng)
        churned = rng.random(900) < p
        estimate = estimator.estimate(score)
        realised = roc_auc_score(churned, score)
        errors.append(abs(estimate.roc_auc - realised))
        inside += estimate.roc_auc_low <= realised <= estimate.roc_auc_high
    assert np.median(errors) < 0.02 and inside >= 0.9 * 60


def test_the_value_estimate_counts_calibrated_churners() -> None:
    rng = np.random.default_rng(2)
    score, p = _world(2000, 0.0, rng)
    estimator = Estimator.fit(score, rng.random(2000) < p)
    charges = rng.uniform(20, 110, 300)
    day_score, day_p = _world(300, 0.0, rng)
    business = BusinessSettings()
    estimate = estimator.estimate(day_score, charges, 0.5, business)
    expected = business_value_per_customer(day_p, day_score, charges, 0.5, business)
    assert estimate.value_per_customer == pytest.approx(expected, abs=0.5)


def test_a_reference_with_one_outcome_cannot_calibrate() -> None:
    with pytest.raises(ValueError, match="both outcomes"):
        Estimator.fit(np.array([0.1, 0.2]), np.array([0, 0]))
