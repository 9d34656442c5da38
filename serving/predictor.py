"""The prediction path: resolve features, validate, route, score, log, answer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from churnops.inference_log import INVALID, PredictionRecord
from serving.expectations import Violation
from serving.feature_source import OnlineFeatureSource
from serving.inference_log import InferenceLog
from serving.metrics import Metrics
from serving.model_client import ModelClient, ModelServerError
from serving.routing import DeploymentWatcher, Route, Router, SlotModel

logger = logging.getLogger(__name__)


class ServiceUnavailableError(Exception):
    """A dependency (model server, feature store, inference log, deployment) failed."""


class UnknownCustomerError(Exception):
    def __init__(self, customer_ids: list[str]) -> None:
        self.customer_ids = customer_ids
        super().__init__(f"unknown customer_id: {', '.join(customer_ids)}")


class InvalidFeaturesError(Exception):
    """Rows failed the model version's suite: ``(item index, from the store, violation)``."""

    def __init__(self, failures: list[tuple[int, bool, Violation]]) -> None:
        self.failures = failures
        super().__init__("; ".join(v.message for _, _, v in failures))


@dataclass(frozen=True)
class Item:
    """One request to score, with its features resolved."""

    request_id: str
    customer_id: str | None
    features: dict[str, Any]
    from_store: bool
    route: Route


@dataclass(frozen=True)
class Scores:
    """One model's answer for some items: probabilities, or the error."""

    probabilities: dict[int, float]
    error: str | None
    latency_ms: float


@dataclass(frozen=True)
class Prediction:
    request_id: str
    customer_id: str | None
    churn_probability: float
    decision: bool
    threshold: float
    model_version: str
    variant: str
    """The slot that answered: ``primary`` or ``canary``."""


class Predictor:
    """Runs on the event loop. The feature lookup and the log write are short local calls
    made inline; model calls are awaited, in parallel when a request needs two models."""

    def __init__(self, deployment: DeploymentWatcher, models: ModelClient,
                 features: OnlineFeatureSource, log: InferenceLog, metrics: Metrics) -> None:
        self.deployment = deployment
        self.models = models
        self.features = features
        self.log = log
        self.metrics = metrics

    async def predict(self, requests: Sequence[tuple[str | None, dict[str, Any] | None]]
                ) -> list[Prediction]:
        """Answer (customer_id, features) requests, all or none; rows are logged first."""
        active = self.deployment.current()
        if active is None:
            raise ServiceUnavailableError(f"no model is deployed: {self.deployment.problem}")
        items = self._resolve(active, requests)
        if failures := _violations(items):
            problems: dict[int, list[str]] = {}
            for index, _, violation in failures:
                problems.setdefault(index, []).append(
                    f"{violation.column or 'row'}: expected {violation.rule}")
            self.refuse(active.primary.model.version, [
                (items[i].customer_id, items[i].features, found)
                for i, found in problems.items()])
            raise InvalidFeaturesError(failures)
        scores = await self._score(items)
        records, answers, failure = self._outcomes(active, items, scores)
        try:
            self.log.record_predictions(records)
        except Exception as error:
            raise ServiceUnavailableError(f"inference log unavailable: {error}") from error
        if failure is not None:
            raise ServiceUnavailableError(failure)
        for answer in answers:
            self.metrics.probability.labels(answer.variant).observe(answer.churn_probability)
        return answers

    def refuse(self, model_version: str | None,
               refused: Sequence[tuple[str | None, dict[str, Any] | None, list[str]]]) -> None:
        """Log requests refused as invalid, ``(customer_id, features, problems)`` each with
        its problems as ``field: problem``: monitoring counts them. The request is refused
        (422) whether or not the log takes them."""
        records = [
            PredictionRecord(
                request_id=uuid.uuid4().hex, customer_id=customer_id, features=features,
                model_version=model_version or "-", variant="none", probability=None,
                decision=None, latency_ms=0.0, status=INVALID, error="; ".join(problems))
            for customer_id, features, problems in refused
        ]
        try:
            self.log.record_predictions(records)
        except Exception as error:
            logger.error("inference log unavailable: %d refused requests not logged: %s",
                         len(records), error)

    def _resolve(self, active: Router,
                 requests: Sequence[tuple[str | None, dict[str, Any] | None]]) -> list[Item]:
        """Fetch the features of requests given by id only (one store read) and route all."""
        lookups = [customer_id for customer_id, given in requests if given is None]
        stored: dict[str, dict[str, Any] | None] = {}
        if lookups:
            try:
                stored = dict(zip(lookups, self.features.lookup(lookups), strict=True))
            except Exception as error:
                raise ServiceUnavailableError(f"feature store unavailable: {error}") from error
        if unknown := [customer_id for customer_id in lookups if stored[customer_id] is None]:
            raise UnknownCustomerError(list(dict.fromkeys(unknown)))
        items = []
        for customer_id, given in requests:
            request_id = uuid.uuid4().hex
            features = given if given is not None else stored[customer_id]
            items.append(Item(request_id, customer_id, features, given is None,
                              active.route(request_id)))
        return items

    async def _score(self, items: list[Item]) -> dict[str, Scores]:
        """Call each model once for all the items it scores, in parallel."""
        work: dict[str, tuple[SlotModel, list[int]]] = {}
        for index, item in enumerate(items):
            for model in (item.route.answer, item.route.shadow):
                if model is not None:
                    work.setdefault(model.slot, (model, []))[1].append(index)
        results = await asyncio.gather(
            *(self._call(model, items, indices) for model, indices in work.values()))
        return {variant: result for variant, result in zip(work, results, strict=True)}

    async def _call(self, model: SlotModel, items: list[Item], indices: list[int]) -> Scores:
        """Score the items the model's suite accepts (answering models' rows always pass)."""
        accepted = [i for i in indices if not model.suite.violations(items[i].features)]
        start = time.perf_counter()
        try:
            values = await self.models.churn_probabilities(
                model.model.endpoint, [items[i].features for i in accepted]
            ) if accepted else []
            error = None
        except ModelServerError as failure:
            values, error = [], str(failure)
            self.metrics.model_failures.labels(model.slot).inc()
        elapsed = time.perf_counter() - start
        self.metrics.model_latency.labels(model.slot).observe(elapsed)
        return Scores(dict(zip(accepted, values, strict=False)), error, elapsed * 1000)

    def _outcomes(self, active: Router, items: list[Item], scores: dict[str, Scores]
                  ) -> tuple[list[PredictionRecord], list[Prediction], str | None]:
        """Log rows, answers, and the error that fails the request (if any)."""
        records: list[PredictionRecord] = []
        answers: list[Prediction] = []
        failures: list[str] = []
        for index, item in enumerate(items):
            answer, shadow = item.route.answer, item.route.shadow
            if item.route.is_canary:
                answer, shadow = self._canary_outcome(active, index, item, scores)
            result = scores[answer.slot]
            probability = result.probabilities.get(index)
            if probability is None:
                failures.append(result.error or "no score")
            records.append(_record(item, answer, result, index, shadow=False))
            if shadow is not None:
                records.append(self._shadow_record(item, shadow, scores[shadow.slot], index))
            if probability is not None:
                answers.append(_prediction(item, answer, probability))
        if failures:
            records = [_failed(r, failures[0]) if not r.shadow else r for r in records]
            return records, [], f"model server failed: {failures[0]}"
        return records, answers, None

    def _canary_outcome(self, active: Router, index: int, item: Item,
                        scores: dict[str, Scores]) -> tuple[SlotModel, SlotModel]:
        """Who answers a canary request: the canary, or the primary if the canary failed."""
        canary, primary = item.route.answer, active.primary
        canary_p = scores[canary.slot].probabilities.get(index)
        primary_p = scores[primary.slot].probabilities.get(index)
        agreed = None
        if canary_p is not None and primary_p is not None:
            agreed = (canary_p >= canary.model.threshold) == (
                primary_p >= primary.model.threshold)
        self.deployment.record_canary(active, failed=canary_p is None, agreed=agreed)
        if canary_p is None:
            return primary, canary
        return canary, primary

    def _shadow_record(self, item: Item, model: SlotModel, scores: Scores,
                       index: int) -> PredictionRecord:
        record = _record(item, model, scores, index, shadow=True)
        self.metrics.shadow_predictions.labels(model.slot, record.status).inc()
        return record


def _violations(items: list[Item]) -> list[tuple[int, bool, Violation]]:
    return [
        (index, item.from_store, violation)
        for index, item in enumerate(items)
        for violation in item.route.answer.suite.violations(item.features)
    ]


def _record(item: Item, model: SlotModel, scores: Scores, index: int,
            shadow: bool) -> PredictionRecord:
    probability = scores.probabilities.get(index)
    if probability is not None:
        status, error = "ok", None
    elif scores.error is not None:
        status, error = "model_error", scores.error
    else:
        status, error = "rejected", "; ".join(
            v.message for v in model.suite.violations(item.features))
    threshold = model.model.threshold
    return PredictionRecord(
        request_id=item.request_id, customer_id=item.customer_id, features=item.features,
        model_version=model.model.version, variant=model.slot,
        probability=probability,
        decision=None if probability is None else probability >= threshold,
        latency_ms=scores.latency_ms, status=status, error=error, shadow=shadow,
    )


def _failed(record: PredictionRecord, error: str) -> PredictionRecord:
    """An answering row of a request that failed as a whole: no answer was given."""
    return PredictionRecord(**{**record.__dict__, "probability": None, "decision": None,
                               "status": "model_error", "error": record.error or error})


def _prediction(item: Item, model: SlotModel, probability: float) -> Prediction:
    threshold = model.model.threshold
    return Prediction(
        request_id=item.request_id, customer_id=item.customer_id,
        churn_probability=probability, decision=probability >= threshold,
        threshold=threshold, model_version=model.model.version, variant=model.slot,
    )
