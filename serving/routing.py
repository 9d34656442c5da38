"""Which model answers a request: the live deployment, its canary split and its rollback."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from churnops import REGISTERED_MODEL_NAME
from churnops.deployment import DeploymentEvent, LiveDeployment, ServedModel, Slot
from churnops.deployment_record import DeploymentRecord, StaleDeploymentError
from churnops.settings import CanaryBounds, ModelOverride
from serving.expectations import CompiledSuite, compile_suite
from serving.metrics import Metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlotModel:
    """The served model in one slot, with its validation suite compiled.

    ``slot`` is ``primary``, ``canary`` (a candidate taking a share of traffic) or
    ``shadow`` (a candidate that only scores alongside the primary).
    """

    slot: Slot
    model: ServedModel
    suite: CompiledSuite


@dataclass(frozen=True)
class Route:
    """Who answers one request, and who scores it alongside for comparison."""

    answer: SlotModel
    shadow: SlotModel | None = None

    @property
    def is_canary(self) -> bool:
        return self.answer.slot == "canary"


@dataclass
class CanaryMonitor:
    """The canary's errors and its agreement with the primary over a sliding window."""

    bounds: CanaryBounds
    _outcomes: deque[tuple[bool, bool | None]] = field(init=False)

    def __post_init__(self) -> None:
        self._outcomes = deque(maxlen=self.bounds.window)

    def record(self, failed: bool, agreed: bool | None) -> str | None:
        """Add one canary request; returns why the canary must go, once it must."""
        self._outcomes.append((failed, agreed))
        total = len(self._outcomes)
        errors = sum(failed for failed, _ in self._outcomes)
        compared = [agreed for _, agreed in self._outcomes if agreed is not None]
        if total < self.bounds.min_requests:
            return None
        if errors / total > self.bounds.max_error_rate:
            return (f"canary error rate {errors / total:.3f} over the last {total} requests "
                    f"exceeds {self.bounds.max_error_rate}")
        if compared and sum(compared) / len(compared) < self.bounds.min_agreement:
            return (f"canary agreed with the primary on {sum(compared) / len(compared):.3f} "
                    f"of {len(compared)} requests, below {self.bounds.min_agreement}")
        return None

    def rates(self) -> tuple[float, float]:
        """(error rate, agreement) over the window; agreement is 1.0 before any comparison."""
        total = len(self._outcomes) or 1
        compared = [agreed for _, agreed in self._outcomes if agreed is not None]
        errors = sum(failed for failed, _ in self._outcomes)
        return errors / total, (sum(compared) / len(compared)) if compared else 1.0


@dataclass(frozen=True)
class Router:
    """A live deployment, compiled for routing: who answers each request."""

    config: LiveDeployment
    primary: SlotModel
    candidate: SlotModel | None

    @classmethod
    def compile(cls, config: LiveDeployment) -> Router:
        slot = config.candidate_slot
        candidate = _slot_model(slot, config.candidate) if slot and config.candidate else None
        return cls(config, _slot_model("primary", config.primary), candidate)

    def route(self, request_id: str) -> Route:
        """The route of one request; the canary draw is a pure function of its id."""
        if self.candidate is None:
            return Route(self.primary)
        if self.candidate.slot == "shadow":
            return Route(self.primary, self.candidate)
        if canary_draw(request_id) < self.config.canary_share:
            return Route(self.candidate, self.primary)
        return Route(self.primary)


def _slot_model(slot: Slot, model: ServedModel) -> SlotModel:
    if model.endpoint is None:
        raise ValueError(f"v{model.version} in the {slot} slot has no endpoint")
    return SlotModel(slot, model, compile_suite(model.validation_suite))


def canary_draw(request_id: str) -> float:
    """A uniform number in [0, 1) derived from the request id (random ids, so random draws)."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class DeploymentWatcher:
    """The deployment in force, re-read when the record's generation moves (checked at most
    every ``poll_s``); rolls a failing canary back and records that in the record.

    With a ``ModelOverride`` (``CHURNOPS_MODEL_*``), that single model serves and the
    record is not read.
    """

    def __init__(self, record: DeploymentRecord, override: ModelOverride | None,
                 metrics: Metrics, poll_s: float = 1.0) -> None:
        self.record = record
        self.poll_s = poll_s
        self._metrics = metrics
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._checked = float("-inf")
        self._active: Router | None = None
        self._monitor: CanaryMonitor | None = None
        self.problem: str | None = None
        """Why no deployment, or a stale one, is in force; ``None`` when all is well."""
        self._fixed = override is not None
        if override is not None:
            self._install(_from_override(override))

    def current(self) -> Router | None:
        """The active deployment, reloaded first if a newer generation was published."""
        if not self._fixed and time.monotonic() - self._checked >= self.poll_s:
            with self._lock:
                self._reload()
        return self._active

    def record_canary(self, active: Router, failed: bool, agreed: bool | None) -> None:
        """Count one canary request; roll back when the canary is out of bounds."""
        with self._lock:
            if self._active is not active or self._monitor is None:
                return  # the deployment changed meanwhile; this outcome is about the old one
            reason = self._monitor.record(failed, agreed)
            error_rate, agreement = self._monitor.rates()
            self._metrics.canary_error_rate.set(error_rate)
            self._metrics.canary_agreement.set(agreement)
            if reason is not None:
                self._roll_back(active, reason)

    def _reload(self) -> None:
        """Read the record again if its generation moved; keep the last good deployment
        when the record cannot be read."""
        self._checked = time.monotonic()
        try:
            generation = self.record.generation()
            if generation == self._generation:
                return
            published = self.record.current()
        except Exception as error:  # keep serving what is in force
            self.problem = f"cannot read the deployment record: {error}"
            logger.error("%s", self.problem)
            return
        if published is None:
            self.problem = "nothing is deployed yet (the deployment record is empty)"
            self._active = None
        else:
            try:
                self._install(published.deployment)
            except Exception as error:  # keep serving the last good deployment
                self.problem = f"cannot load generation {published.generation}: {error}"
                logger.error("%s", self.problem)
        self._generation = generation

    def _install(self, config: LiveDeployment) -> None:
        self._active = Router.compile(config)
        self._monitor = CanaryMonitor(config.bounds) if config.strategy == "canary" \
            else None
        self.problem = None
        logger.info("Serving %s: primary v%s%s", config.strategy, config.primary.version,
                    f", candidate v{config.candidate.version}" if config.candidate else "")

    def _roll_back(self, active: Router, reason: str) -> None:
        """Stop the canary now, then publish that, unless a newer deployment was published
        meanwhile (it wins at the next read)."""
        config = active.config.rolled_back(reason)
        candidate = active.config.candidate
        logger.error("Rolling back canary v%s: %s", candidate.version, reason)
        self._metrics.rollbacks.inc()
        self._install(config)
        if self._fixed or self._generation is None:
            return
        event = DeploymentEvent(event="rolled_back", strategy="canary",
                                primary=config.primary.version, candidate=candidate.version,
                                reason=f"automatic: {reason}")
        try:
            published = self.record.publish(config, event, read=self._generation)
        except StaleDeploymentError as error:
            logger.warning("Canary rollback not recorded: %s", error)
            return
        self._generation = published.generation


def _from_override(override: ModelOverride) -> LiveDeployment:
    """A basic deployment of the single model given by ``CHURNOPS_MODEL_*``."""
    return LiveDeployment(strategy="basic", primary=ServedModel(
        version=override.version,
        model_uri=f"models:/{REGISTERED_MODEL_NAME}/{override.version}",
        endpoint=override.endpoint,
        threshold=override.threshold,
        validation_suite=json.loads(override.validation_suite.read_text()),
    ))
