"""The scenario library: what changes in simulated production from the onset day, and how much.

Each scenario has one ``strength`` in its own unit and a documented default (``default``):
the smallest strength of its grid that the monitoring flagged within two runs of the onset in
at least 98 % of the drift benchmark's tuning seeds (benchmarks/drift reports the held-out
seeds). A concept drift counts from its first outcomes, a gradual one from the day its
strength in force reaches the step change's default (benchmarks/drift's ``due_run``).
A scenario can change who the customers are (``weights``), what the service receives
(``inputs``), and who churns (``outcomes``). ``touches`` names the features it moves: a
change in one or two features is expected to be flagged as a warning that names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

LONG_TENURE_MONTHS = 24
HIGH_BILL_USD = 70.0
NEW_CUSTOMER_MONTHS = 6
PRICE_RISE_PER_STRENGTH = 0.10
"""``data_drift`` raises bills by this share per unit of strength."""
GRADUAL_RAMP_DAYS = 14
"""``gradual`` reaches its strength this many days after the onset."""

Kind = Literal["none", "covariate", "concept", "data_quality"]


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: Kind
    description: str
    unit: str
    default: float
    strengths: tuple[float, ...]
    """The power curve's grid."""
    touches: tuple[str, ...] = ()

    def strength_on(self, day: int, onset_day: int, strength: float) -> float:
        """The strength in force on ``day``: 0 before the onset, ramped for ``gradual``."""
        if self.kind == "none" or day < onset_day:
            return 0.0
        if self.name == "gradual":
            return strength * min(1.0, (day - onset_day + 1) / GRADUAL_RAMP_DAYS)
        return strength

    def weights(self, customers: pd.DataFrame, strength: float) -> np.ndarray | None:
        """Sampling weights of the day's customers, or None for the usual uniform draw."""
        if strength == 0:
            return None
        if self.name in ("data_drift", "mixed", "gradual"):
            return _normalised(np.exp(strength * _drift_score(customers)))
        if self.name == "acquisition":
            new = (customers["tenure"] <= NEW_CUSTOMER_MONTHS).to_numpy()
            # A share ``strength`` of the day's customers are newly acquired ones.
            return (1 - strength) / len(new) + strength * new / new.sum()
        return None

    def inputs(self, frame: pd.DataFrame, strength: float, rng: np.random.Generator
               ) -> pd.DataFrame:
        """The features the service receives."""
        if strength == 0:
            return frame
        frame = frame.copy()
        if self.name in ("data_drift", "mixed", "gradual"):
            rise = 1.0 + PRICE_RISE_PER_STRENGTH * strength
            frame["MonthlyCharges"] = (frame["MonthlyCharges"] * rise).round(2)
            frame["TotalCharges"] = (frame["TotalCharges"] * rise).round(2)
        elif self.name == "price_change":
            frame["MonthlyCharges"] = (frame["MonthlyCharges"] * (1 + strength)).round(2)
        elif self.name == "segment_price":
            fiber = frame["InternetService"] == "Fiber optic"
            frame.loc[fiber, "MonthlyCharges"] = (
                frame.loc[fiber, "MonthlyCharges"] * (1 + strength)).round(2)
        elif self.name == "unit_change":
            cents = rng.random(len(frame)) < strength
            frame.loc[cents, "MonthlyCharges"] = (frame.loc[cents, "MonthlyCharges"] * 100).round(2)
        elif self.name == "constant_default":
            defaulted = rng.random(len(frame)) < strength
            frame.loc[defaulted, "PaymentMethod"] = "Mailed check"
        elif self.name == "missing_values":
            frame.loc[rng.random(len(frame)) < strength, "TotalCharges"] = np.nan
        return frame

    def outcomes(self, frame: pd.DataFrame, churned: np.ndarray, strength: float,
                 rng: np.random.Generator) -> np.ndarray:
        """Who churns."""
        if strength == 0 or self.name not in ("concept_drift", "mixed"):
            return churned
        probability = strength if self.name == "concept_drift" else SCENARIOS[
            "concept_drift"].default
        return concept_drift_churn(frame, churned, probability, rng)


def concept_drift_churn(frame: pd.DataFrame, churned: np.ndarray, strength: float,
                        rng: np.random.Generator) -> np.ndarray:
    """Outcomes under the concept drift: the price-rise segment churns with probability
    ``strength``, whatever it did before."""
    return churned | (price_rise_segment(frame) & (rng.random(len(frame)) < strength))


def price_rise_segment(frame: pd.DataFrame) -> np.ndarray:
    """The customers the concept drift's price rise makes churn: long tenure, high bills."""
    return ((frame["tenure"] >= LONG_TENURE_MONTHS)
            & (frame["MonthlyCharges"] >= HIGH_BILL_USD)).to_numpy()


def _drift_score(customers: pd.DataFrame) -> np.ndarray:
    charges = customers["MonthlyCharges"]
    return ((customers["InternetService"] == "Fiber optic").astype(float)
            + (customers["Contract"] == "Month-to-month").astype(float)
            + (customers["PaymentMethod"] == "Electronic check").astype(float)
            + (charges - charges.mean()) / charges.std()).to_numpy()


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


_MIX = "customers drawn with weights exp(strength x score) that favour fiber-optic, " \
       "month-to-month and electronic-check customers with high bills, and bills up " \
       "10 % per unit"

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("none", "none", "every day looks like the future pool", "-", 0.0, (0.0,)),
    Scenario("data_drift", "covariate", f"the customer mix moves: {_MIX}", "mix strength",
             0.3, (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)),
    Scenario("price_change", "covariate", "every plan's monthly charge rises by a share",
             "price rise", 0.05, (0.01, 0.02, 0.03, 0.05, 0.08, 0.12),
             touches=("MonthlyCharges",)),
    Scenario("acquisition", "covariate", "a campaign: a share of the day's customers are "
             f"newly acquired (tenure <= {NEW_CUSTOMER_MONTHS} months)", "share of new customers",
             0.3, (0.03, 0.05, 0.1, 0.15, 0.2, 0.3)),
    Scenario("segment_price", "covariate", "fiber-optic customers only: their monthly "
             "charge rises by a share", "price rise", 0.15, (0.02, 0.04, 0.06, 0.1, 0.15, 0.2),
             touches=("MonthlyCharges",)),
    Scenario("gradual", "covariate", f"the data_drift mix, ramping from 0 at the onset to "
             f"its strength {GRADUAL_RAMP_DAYS} days later", "final mix strength", 0.3,
             (0.1, 0.2, 0.3, 0.5)),
    Scenario("unit_change", "data_quality", "one upstream source sends monthly charges in "
             "cents: a share of requests", "share of requests", 0.02,
             (0.005, 0.01, 0.02, 0.05, 0.1), touches=("MonthlyCharges",)),
    Scenario("constant_default", "data_quality", "a broken join fills the payment method "
             "with a default (Mailed check) for a share of requests", "share of requests",
             0.2, (0.02, 0.04, 0.06, 0.1, 0.15, 0.2), touches=("PaymentMethod",)),
    Scenario("missing_values", "data_quality", "a burst of missing values: an upstream "
             "export drops the total charges of a share of requests, which the service "
             "refuses (422)", "share of requests", 0.02, (0.002, 0.005, 0.01, 0.02, 0.05),
             touches=("TotalCharges",)),
    Scenario("concept_drift", "concept", "the inputs keep their distribution; long-tenure "
             f"customers with high bills (tenure >= {LONG_TENURE_MONTHS}, monthly charges >= "
             f"{HIGH_BILL_USD:g}) churn with this probability, whatever they did before",
             "churn probability in the segment", 0.5, (0.1, 0.2, 0.3, 0.5, 0.8)),
    Scenario("mixed", "covariate", "data_drift and concept_drift (at its default) together",
             "mix strength", 0.3, (0.1, 0.2, 0.3, 0.5)),
)}
