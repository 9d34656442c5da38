"""Production traffic: new customers, made from the future pool, with late outcomes.

Each simulated day (``churnops.settings.SimulationSettings``) draws ``requests_per_day``
customers of the future pool (``churnops.data.POOLS``: customers no model version ever
trains on), with a random generator seeded by ``(seed, day)``: a given seed gives the same
days, in any order. Each request is a new customer with a new id and its template's
features; whether it churns is drawn from the simulated world's P(churn | features)
(``simulation/world.py``), not copied from the template. A customer a retrained version
learned from never comes back.
From ``onset_day`` on, a scenario of the library (``simulation/scenarios.py``) changes who
the customers are, what the service receives, or who churns, at the configured strength.

Outcomes (ground truth) arrive ``label_delay_days`` after the request, through the service's
``/feedback``. ``ServiceDriver`` sends everything over HTTP; ``LogDriver`` writes the same
records straight into an inference log, for long benchmarks.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from churnops import data, schema
from churnops.settings import SimulationSettings
from simulation.scenarios import SCENARIOS
from simulation.world import churn_probability


@dataclass(frozen=True)
class DayTraffic:
    """One day's requests: ``customer_id``, every feature, and the true ``churned``."""

    day: int
    requests: pd.DataFrame

    def payloads(self) -> list[dict[str, Any]]:
        """``/predict`` bodies: the customer and its full features (a missing one as null)."""
        features = self.requests[list(schema.FEATURE_NAMES)].astype(object)
        features = features.where(features.notna(), None).to_dict("records")
        return [{"customer_id": customer_id, "features": row}
                for customer_id, row in zip(self.requests[schema.ENTITY_KEY], features,
                                            strict=True)]

    def complete(self) -> np.ndarray:
        """Which requests have every feature: the service refuses the others."""
        return self.requests[list(schema.FEATURE_NAMES)].notna().all(axis=1).to_numpy()

    def refusals(self) -> list[str]:
        """What the service says of each incomplete request (``field: missing; ...``)."""
        missing = self.requests.loc[~self.complete(), list(schema.FEATURE_NAMES)].isna()
        return ["; ".join(f"{name}: missing" for name in missing.columns[row])
                for row in missing.to_numpy()]


class TrafficSimulator:
    def __init__(self, customers: pd.DataFrame, config: SimulationSettings) -> None:
        """``customers`` is the cleaned customer table (``churnops.data.clean``); only its
        future pool is used."""
        self.config = config
        self.scenario = SCENARIOS[config.scenario]
        self.strength = self.scenario.default if config.strength is None else config.strength
        self._customers = customers[data.in_pools(customers, "future")].reset_index(drop=True)
        self._churn_probability = churn_probability(customers, self._customers)

    def drifting(self, day: int) -> bool:
        return self.strength_on(day) > 0

    def strength_on(self, day: int) -> float:
        return self.scenario.strength_on(day, self.config.onset_day, self.strength)

    def day(self, day: int) -> DayTraffic:
        """The requests of ``day``; the same for the same seed, whenever it is asked for."""
        rng = np.random.default_rng([self.config.seed, day])
        strength = self.strength_on(day)
        weights = self.scenario.weights(self._customers, strength)
        rows = rng.choice(len(self._customers), size=self.config.requests_per_day,
                          replace=True, p=weights)
        frame = self._customers.loc[rows, [schema.ID_COLUMN, *schema.FEATURE_NAMES]]
        frame = frame.rename(columns={schema.ID_COLUMN: schema.ENTITY_KEY}).reset_index(drop=True)
        frame[schema.ENTITY_KEY] = [f"{template}-s{self.config.seed}d{day}n{i}"
                                    for i, template in enumerate(frame[schema.ENTITY_KEY])]
        churned = rng.random(len(rows)) < self._churn_probability[rows]
        churned = self.scenario.outcomes(frame, churned, strength, rng)
        frame = self.scenario.inputs(frame, strength, rng)
        frame["churned"] = churned
        return DayTraffic(day, frame)


# Drivers: where the traffic goes ---------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Ground truth for one answered request, due on ``due_day``."""

    customer_id: str
    request_id: str
    churned: bool
    due_day: int


class Driver(Protocol):
    def predict(self, traffic: DayTraffic) -> list[str | None]:
        """Score the day's requests; the request ids, in order (None: refused as invalid)."""

    def feedback(self, outcomes: Sequence[Outcome]) -> None:
        """Deliver outcomes."""


class ServiceDriver:
    """Drives the real service over HTTP: ``/predict/batch`` then ``/feedback/batch``.

    A batch the service refuses with 503 (its model server failed or timed out; the
    service logged the attempt) is sent again, up to ``retries`` times, like a client
    would; ``failed_batches`` counts those refusals. A batch refused with 422 is sent again
    without the requests it names, which ``refused`` counts.
    """

    def __init__(self, base_url: str, api_key: str | None = None, batch_size: int = 100,
                 timeout_s: float = 30.0, retries: int = 3) -> None:
        import httpx

        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)
        self.batch_size = batch_size
        self.retries = retries
        self.failed_batches = 0
        self.refused = 0

    def predict(self, traffic: DayTraffic) -> list[str | None]:
        payloads = traffic.payloads()
        request_ids: list[str | None] = []
        for start in range(0, len(payloads), self.batch_size):
            request_ids += self._score(payloads[start:start + self.batch_size])
        return request_ids

    def _score(self, batch: list[dict[str, Any]]) -> list[str | None]:
        """The batch's request ids, None for the requests the service refused as invalid."""
        for attempt in range(self.retries + 1):
            response = self._http.post("/predict/batch", json={"requests": batch})
            if response.status_code == 422:
                return self._without_invalid(batch, response.json()["detail"])
            if response.status_code != 503 or attempt == self.retries:
                break
            self.failed_batches += 1
            time.sleep(0.5 * 2**attempt)
        response.raise_for_status()
        return [answer["request_id"] for answer in response.json()]

    def _without_invalid(self, batch: list[dict[str, Any]], detail: list[dict[str, Any]]
                         ) -> list[str | None]:
        invalid = {problem["loc"][2] for problem in detail if problem["loc"][1:2] == ["requests"]
                   and isinstance(problem["loc"][2], int)}
        if not invalid:
            raise ValueError(f"the service refused a batch: {detail}")
        self.refused += len(invalid)
        kept = [i for i in range(len(batch)) if i not in invalid]
        answers = iter(self._score([batch[i] for i in kept]) if kept else [])
        return [None if i in invalid else next(answers) for i in range(len(batch))]

    def feedback(self, outcomes: Sequence[Outcome]) -> None:
        items = [{"customer_id": o.customer_id, "churned": o.churned,
                  "request_id": o.request_id} for o in outcomes]
        for start in range(0, len(items), self.batch_size):
            self._http.post("/feedback/batch", json={
                "outcomes": items[start:start + self.batch_size]}).raise_for_status()

    def close(self) -> None:
        self._http.close()


class LogDriver:
    """Writes what the service would log, without HTTP: for long benchmark runs.

    ``score`` maps a feature frame to p(churn) with the same model the service would call.
    Rows match the service's (answers ``ok`` in the primary slot, incomplete requests
    ``invalid``); only latency is zero.
    """

    def __init__(self, log: Any, score: Callable[[pd.DataFrame], np.ndarray],
                 model_version: str, threshold: float) -> None:
        self.log = log
        self.score = score
        self.model_version = model_version
        self.threshold = threshold

    def predict(self, traffic: DayTraffic) -> list[str | None]:
        from churnops.inference_log import INVALID, PredictionRecord

        complete = traffic.complete()
        frame = traffic.requests
        probabilities = iter(self.score(frame.loc[complete, list(schema.FEATURE_NAMES)]))
        refusals = iter(traffic.refusals())
        records = []
        for customer_id, row, valid in zip(frame[schema.ENTITY_KEY], traffic.payloads(),
                                           complete, strict=True):
            p = next(probabilities) if valid else None
            records.append(PredictionRecord(
                request_id=uuid.uuid4().hex, customer_id=customer_id, features=row["features"],
                model_version=self.model_version, variant="primary" if valid else "none",
                probability=None if p is None else float(p),
                decision=None if p is None else bool(p >= self.threshold), latency_ms=0.0,
                status="ok" if valid else INVALID, error=None if valid else next(refusals)))
        self.log.record_predictions(records)
        return [r.request_id if r.status == "ok" else None for r in records]

    def feedback(self, outcomes: Sequence[Outcome]) -> None:
        from serving.inference_log import Feedback

        if outcomes:
            self.log.record_feedback(
                [Feedback(o.customer_id, o.churned, o.request_id) for o in outcomes])


@dataclass
class Simulation:
    """Days of traffic through a driver, with outcomes delivered when they fall due."""

    simulator: TrafficSimulator
    driver: Driver
    _pending: dict[int, list[Outcome]] = field(default_factory=lambda: defaultdict(list))

    def run_day(self, day: int) -> tuple[int, int]:
        """Send ``day``'s requests, then the outcomes due that day: (requests, outcomes)."""
        traffic = self.simulator.day(day)
        request_ids = self.driver.predict(traffic)
        due = day + self.simulator.config.label_delay_days
        for customer_id, request_id, churned in zip(
                traffic.requests[schema.ENTITY_KEY], request_ids, traffic.requests["churned"],
                strict=True):
            if request_id is not None:  # a refused request has no outcome to report
                self._pending[due].append(Outcome(customer_id, request_id, bool(churned), due))
        outcomes = self._pending.pop(day, [])
        self.driver.feedback(outcomes)
        return len(request_ids), len(outcomes)
