"""What is live: the deployment description that the prediction service reads.

The deployment pipeline starts one model server per registry version and then publishes a
``LiveDeployment`` to the deployment record (``churnops.deployment_record``), a database the
prediction service watches to know where to send requests. Its serving slots:

- ``primary``: answers every request (``basic``), or every request but the canary's share.
- ``shadow``: a candidate that scores a copy of every request; its answers are logged and
  never returned.
- ``canary``: a candidate that answers a share ``canary_share`` of the requests. The
  service rolls the canary back on its own (and says why in ``rollback``) when the
  candidate leaves ``bounds``.

"champion" is the registry's alias only: the primary usually serves the champion, but
``--model-version`` can put another version there.

Every deployment, failed deployment, candidate promotion, rollback and change of the canary
share is appended to the deployment history, in the same record, beside the registry's
promotion history of the champion alias. This module holds no ZenML code.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import requests
from pydantic import BaseModel, Field, model_validator

from churnops.protocols import ProtocolError, protocol_for_endpoint
from churnops.settings import CanaryBounds

Strategy = Literal["basic", "shadow", "canary"]
STRATEGIES: tuple[str, ...] = ("basic", "shadow", "canary")
EventKind = Literal["deployed", "failed", "promoted", "rolled_back", "canary_share"]


def _now() -> datetime:
    return datetime.now(UTC)


# The live deployment --------------------------------------------------------------------------

Slot = Literal["primary", "canary", "shadow"]
"""Where a served model sits in a deployment."""


class ServedModel(BaseModel):
    """A registry version as a deployment serves it.

    ``endpoint`` and ``service_id`` are set once the model deployer runs its server; a
    deployment plan holds the versions before they are served.
    """

    version: str
    model_uri: str = Field(description="Where the model is loaded from: models:/..., s3://...")
    threshold: float = Field(description="The version's decision threshold on p(churn).")
    validation_suite: dict[str, Any] = Field(
        description="The GX feature suite (JSON) that requests to this version must pass."
    )
    endpoint: str | None = Field(
        None, description="Full prediction URL, e.g. http://127.0.0.1:PORT/invocations.")
    service_id: str | None = Field(None, description="The model deployer's service id.")

    def served_at(self, endpoint: str, service_id: str | None) -> ServedModel:
        """This version, served at ``endpoint`` by the deployer's service ``service_id``."""
        return self.model_copy(update={"endpoint": endpoint, "service_id": service_id})


class Rollback(BaseModel):
    """Why and when a candidate was taken out of the deployment."""

    reason: str
    version: str = Field(description="The candidate version that was rolled back.")
    at: datetime = Field(default_factory=_now)


class LiveDeployment(BaseModel):
    """What is served: the ``primary``, and for shadow or canary a ``candidate``.

    The deployment pipeline's plan is a ``LiveDeployment`` whose models are not served yet;
    what it publishes has every endpoint.
    """

    strategy: Strategy = "basic"
    primary: ServedModel
    candidate: ServedModel | None = None
    canary_share: float = Field(
        0.0, ge=0, le=1, description="Share of requests the candidate answers (canary only)."
    )
    bounds: CanaryBounds = CanaryBounds()
    updated_at: datetime = Field(default_factory=_now)
    rollback: Rollback | None = Field(
        None, description="Why and when the last candidate was rolled back."
    )

    @model_validator(mode="after")
    def _candidate_matches_strategy(self) -> LiveDeployment:
        if (self.strategy == "basic") != (self.candidate is None):
            raise ValueError("a candidate is required for shadow and canary, and only there")
        if self.strategy != "canary" and self.canary_share:
            raise ValueError("canary_share applies to the canary strategy only")
        if self.candidate is not None and self.candidate.version == self.primary.version:
            raise ValueError(f"v{self.primary.version} cannot be its own candidate")
        return self

    @property
    def candidate_slot(self) -> Slot | None:
        """``canary`` or ``shadow`` for the candidate's slot; None without a candidate."""
        if self.candidate is None:
            return None
        return "canary" if self.strategy == "canary" else "shadow"

    def models(self) -> list[ServedModel]:
        """The primary, then the candidate if there is one."""
        return [self.primary, *([self.candidate] if self.candidate else [])]

    def model(self, slot: Slot) -> ServedModel:
        """The model in ``slot``; ``canary`` and ``shadow`` both name the candidate."""
        chosen = self.primary if slot == "primary" else self.candidate
        if chosen is None or (slot != "primary" and slot != self.candidate_slot):
            raise ValueError(f"A {self.strategy} deployment has no {slot}.")
        return chosen

    def rolled_back(self, reason: str) -> LiveDeployment:
        """This deployment with the candidate removed and the rollback recorded."""
        if self.candidate is None:
            raise ValueError("there is no candidate to roll back")
        return LiveDeployment(strategy="basic", primary=self.primary,
                              rollback=Rollback(reason=reason, version=self.candidate.version))

    def promoted(self) -> LiveDeployment:
        """The candidate becomes the primary and answers every request."""
        if self.candidate is None:
            raise ValueError("there is no candidate to promote")
        return LiveDeployment(strategy="basic", primary=self.candidate, rollback=self.rollback)


# History ------------------------------------------------------------------------------------


class DeploymentEvent(BaseModel):
    """One entry of the deployment history (``churnops.deployment_record``)."""

    event: EventKind
    strategy: Strategy
    primary: str | None
    candidate: str | None = None
    reason: str = ""
    at: datetime = Field(default_factory=_now)


# Choosing versions --------------------------------------------------------------------------


def choose_versions(
    strategy: Strategy, requested: str | None, champion: str | None, registered: Iterable[str]
) -> tuple[str, str | None]:
    """Which versions go live: ``(primary, candidate)``.

    ``basic`` serves ``requested`` or else the registry's champion, alone. ``shadow`` and
    ``canary`` keep the registry's champion as the primary and add ``requested`` or else
    the newest registered version that is not the champion.
    """
    known = sorted({str(v) for v in registered}, key=int)
    if requested is not None and str(requested) not in known:
        raise ValueError(f"Version {requested} is not registered; registered: {known or 'none'}.")
    if strategy == "basic":
        live = str(requested) if requested is not None else champion
        if live is None:
            raise ValueError("There is no champion yet: train one first, or give a version.")
        return live, None
    if champion is None:
        raise ValueError(f"A {strategy} deployment needs a champion to compare the candidate "
                         "with; deploy with the basic strategy first.")
    if requested is not None and str(requested) == champion:
        raise ValueError(f"Version {requested} is the champion; pick another candidate.")
    candidates = [v for v in known if v != champion]
    if requested is None and not candidates:
        raise ValueError("No version besides the champion is registered to be a candidate.")
    return champion, str(requested) if requested is not None else candidates[-1]


# Smoke test ---------------------------------------------------------------------------------


class SmokeTestError(RuntimeError):
    """A model server gave a wrong answer, or none."""


class SmokeTestResult(BaseModel):
    """How a model server answered the smoke test."""

    version: str
    endpoint: str
    requests: int
    latency_p50_ms: float
    latency_p99_ms: float


def probe_endpoint(
    model: ServedModel, rows: Sequence[Mapping[str, Any]], timeout: float = 10.0,
) -> SmokeTestResult:
    """Send each row as its own request and check every answer; raise ``SmokeTestError``.

    The wire format follows the endpoint: MLflow's ``/invocations`` or the V2 protocol
    (``churnops/protocols.py``).
    """
    endpoint = model.endpoint or ""
    try:
        protocol, base = protocol_for_endpoint(endpoint)
    except ProtocolError as error:
        raise SmokeTestError(str(error)) from error
    latencies = []
    with requests.Session() as session:
        for row in rows:
            path, payload = protocol.encode([row])
            started = time.perf_counter()
            try:
                response = session.post(base + path, timeout=timeout, json=payload)
            except requests.RequestException as error:
                raise SmokeTestError(f"no answer from {endpoint}: {error}") from error
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SmokeTestError(f"{endpoint} answered HTTP {response.status_code}: "
                                     f"{response.text[:300]}")
            try:
                body = response.json()
            except ValueError as error:
                raise SmokeTestError(f"not JSON: {response.text[:200]}") from error
            try:
                protocol.decode(body, expected_rows=1)
            except ProtocolError as error:
                raise SmokeTestError(f"{endpoint}: {error}") from error
    p50, p99 = latency_percentiles(latencies)
    return SmokeTestResult(version=model.version, endpoint=endpoint,
                           requests=len(latencies), latency_p50_ms=p50, latency_p99_ms=p99)


def latency_percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return round(float(p50), 2), round(float(p99), 2)


# Status -------------------------------------------------------------------------------------


def traffic_shares(live: LiveDeployment) -> dict[str, str]:
    """What each model answers, by slot."""
    if live.candidate is None:
        return {"primary": "100 %"}
    if live.strategy == "shadow":
        return {"primary": "100 %", "shadow": "100 % copy (answers not returned)"}
    return {"primary": f"{(1 - live.canary_share) * 100:g} %",
            "canary": f"{live.canary_share * 100:g} %"}


def format_status(live: LiveDeployment | None, health: Mapping[str, str] | None = None) -> str:
    """What ``deploy status`` prints. ``health`` maps a version to its server's state."""
    if live is None:
        return "Nothing is deployed yet: run `python run.py pipeline deployment`."
    health = health or {}
    when = live.updated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"Strategy: {live.strategy} (updated {when})"]
    shares = traffic_shares(live)
    for slot, model in (("primary", live.primary), (live.candidate_slot, live.candidate)):
        if model is None or slot is None:
            continue
        state = f" [{health[model.version]}]" if model.version in health else ""
        lines.append(f"  {slot:<8} churn-model v{model.version:<4} traffic {shares[slot]:<8}"
                     f" threshold {model.threshold:.3f}  {model.endpoint}{state}")
    if live.strategy == "canary":
        b = live.bounds
        lines.append(f"  bounds: error rate <= {b.max_error_rate:g}, agreement >= "
                     f"{b.min_agreement:g}, judged after {b.min_requests} requests")
    if live.rollback:
        at = live.rollback.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"  last rollback: v{live.rollback.version} at {at}: {live.rollback.reason}")
    return "\n".join(lines)
