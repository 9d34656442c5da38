"""What is live: the deployment description that the prediction service reads.

The deployment pipeline starts one model server per registry version and then publishes a
``LiveDeployment`` to ``<state>/deployment/live.json``. The prediction service reads that
file to know where to send requests:

- ``basic``: every request goes to the champion.
- ``shadow``: every request goes to the champion, and a copy goes to the candidate, whose
  answers are compared but never returned.
- ``canary``: a share ``canary_share`` of the requests is answered by the candidate. The
  service rolls the canary back on its own (and says why in ``rollback``) when the
  candidate leaves ``bounds``.

Every deployment, failed deployment, promotion and rollback is also appended to
``<state>/deployment/history.jsonl``. This module holds no ZenML code: the steps in
``steps/deployment`` talk to the stack.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import requests
from pydantic import BaseModel, ConfigDict, Field, model_validator

from churnops import paths
from churnops.protocols import ProtocolError, protocol_for_endpoint

Strategy = Literal["basic", "shadow", "canary"]
STRATEGIES: tuple[str, ...] = ("basic", "shadow", "canary")
EventKind = Literal["deployed", "failed", "promoted", "rolled_back"]


def _now() -> datetime:
    return datetime.now(UTC)


# The live deployment --------------------------------------------------------------------------


class ModelEndpoint(BaseModel):
    """One running model server: the registry version it serves and how to call it."""

    version: str
    endpoint: str = Field(description="Full prediction URL, http://127.0.0.1:PORT/invocations.")
    threshold: float = Field(description="The version's decision threshold on p(churn).")
    validation_suite: dict[str, Any] = Field(
        description="The GX feature suite (JSON) that requests to this version must pass."
    )
    service_id: str | None = Field(None, description="The model deployer's service id.")


CANARY_WINDOW = 500
"""How many of the latest canary requests the canary's rates are computed over (at least)."""


class CanaryBounds(BaseModel):
    """When the service rolls a canary back on its own, judged over its latest requests.

    No verdict before ``min_requests`` canary requests: a canary that fails every call is
    rolled back after ``min_requests`` of them. Users never see those failures (the champion
    answers instead); they cost only the failed call's latency, bounded by the model timeout.
    """

    model_config = ConfigDict(extra="forbid")

    max_error_rate: float = Field(
        0.05, ge=0, le=1, description="Largest share of failed candidate requests."
    )
    min_agreement: float = Field(
        0.8, ge=0, le=1, description="Smallest share of decisions the candidate and the "
        "champion agree on."
    )
    min_requests: int = Field(
        50, ge=1, description="Candidate requests to see before the bounds are judged."
    )

    @property
    def window(self) -> int:
        return max(CANARY_WINDOW, self.min_requests)


class Rollback(BaseModel):
    """Why and when a candidate was taken out of the deployment."""

    reason: str
    version: str = Field(description="The candidate version that was rolled back.")
    at: datetime = Field(default_factory=_now)


class LiveDeployment(BaseModel):
    """The content of ``live.json``."""

    strategy: Strategy = "basic"
    champion: ModelEndpoint
    candidate: ModelEndpoint | None = None
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
        return self

    def endpoints(self) -> list[ModelEndpoint]:
        """The champion, then the candidate if there is one."""
        return [self.champion, *([self.candidate] if self.candidate else [])]

    def rolled_back(self, reason: str) -> LiveDeployment:
        """This deployment with the candidate removed and the rollback recorded."""
        if self.candidate is None:
            raise ValueError("there is no candidate to roll back")
        return LiveDeployment(strategy="basic", champion=self.champion,
                              rollback=Rollback(reason=reason, version=self.candidate.version))


def deployment_dir() -> Path:
    path = paths.state_dir() / "deployment"
    path.mkdir(parents=True, exist_ok=True)
    return path


def live_deployment_path() -> Path:
    """``<state>/deployment/live.json``."""
    return deployment_dir() / "live.json"


def write_live(deployment: LiveDeployment, path: Path | None = None) -> Path:
    """Replace ``live.json`` atomically: readers see the old file or the new one, never half."""
    target = path or live_deployment_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".live-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(deployment.model_dump_json(indent=2))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_live(path: Path | None = None) -> LiveDeployment | None:
    """The live deployment, or None before the first one."""
    source = path or live_deployment_path()
    if not source.exists():
        return None
    return LiveDeployment.model_validate_json(source.read_text())


# History ------------------------------------------------------------------------------------


class DeploymentEvent(BaseModel):
    """One line of ``history.jsonl``."""

    event: EventKind
    strategy: Strategy
    champion: str | None
    candidate: str | None = None
    reason: str = ""
    at: datetime = Field(default_factory=_now)


class DeploymentHistory:
    """The append-only log of deployments, failed deployments, promotions and rollbacks."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or deployment_dir() / "history.jsonl"

    def append(self, event: DeploymentEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as file:
            file.write(event.model_dump_json() + "\n")

    def events(self) -> list[DeploymentEvent]:
        """All events, oldest first."""
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        return [DeploymentEvent.model_validate_json(line) for line in lines if line.strip()]


# Choosing versions --------------------------------------------------------------------------


class RegistryVersion(BaseModel):
    """A registry version with what serving needs to know about it."""

    version: str
    model_uri: str
    threshold: float
    validation_suite: dict[str, Any]


class DeploymentPlan(BaseModel):
    """The versions a deployment puts live: ``champion`` alone, or with a ``candidate``."""

    strategy: Strategy
    champion: RegistryVersion
    candidate: RegistryVersion | None = None

    def version(self, role: Literal["champion", "candidate"]) -> RegistryVersion:
        chosen = self.champion if role == "champion" else self.candidate
        if chosen is None:
            raise ValueError(f"A {self.strategy} deployment has no {role}.")
        return chosen


def choose_versions(
    strategy: Strategy, requested: str | None, champion: str | None, registered: Iterable[str]
) -> tuple[str, str | None]:
    """Which versions go live: ``(champion, candidate)``.

    ``basic`` serves ``requested`` or else the registry's champion, alone. ``shadow`` and
    ``canary`` keep the registry's champion and add ``requested`` or else the newest
    registered version that is not the champion.
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
    endpoint: ModelEndpoint, rows: Sequence[Mapping[str, Any]], timeout: float = 10.0,
) -> SmokeTestResult:
    """Send each row as its own request and check every answer; raise ``SmokeTestError``.

    The wire format follows the endpoint: MLflow's ``/invocations`` or the V2 protocol
    (``churnops/protocols.py``).
    """
    try:
        protocol, base = protocol_for_endpoint(endpoint.endpoint)
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
                raise SmokeTestError(f"no answer from {endpoint.endpoint}: {error}") from error
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SmokeTestError(f"{endpoint.endpoint} answered HTTP {response.status_code}: "
                                     f"{response.text[:300]}")
            try:
                body = response.json()
            except ValueError as error:
                raise SmokeTestError(f"not JSON: {response.text[:200]}") from error
            try:
                protocol.decode(body, expected_rows=1)
            except ProtocolError as error:
                raise SmokeTestError(f"{endpoint.endpoint}: {error}") from error
    p50, p99 = latency_percentiles(latencies)
    return SmokeTestResult(version=endpoint.version, endpoint=endpoint.endpoint,
                           requests=len(latencies), latency_p50_ms=p50, latency_p99_ms=p99)


def latency_percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    p50, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 99])
    return round(float(p50), 2), round(float(p99), 2)


# Status -------------------------------------------------------------------------------------


def traffic_shares(live: LiveDeployment) -> dict[str, str]:
    """What each model answers, by role."""
    if live.candidate is None:
        return {"champion": "100 %"}
    if live.strategy == "shadow":
        return {"champion": "100 %", "candidate": "100 % copy (shadow, answers not returned)"}
    return {"champion": f"{(1 - live.canary_share) * 100:g} %",
            "candidate": f"{live.canary_share * 100:g} %"}


def format_status(live: LiveDeployment | None, health: Mapping[str, str] | None = None) -> str:
    """What ``--status`` prints. ``health`` maps a version to its server's state, if known."""
    if live is None:
        return "Nothing is deployed yet: run the deployment pipeline."
    health = health or {}
    when = live.updated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"Strategy: {live.strategy} (updated {when})"]
    shares = traffic_shares(live)
    for role, endpoint in (("champion", live.champion), ("candidate", live.candidate)):
        if endpoint is None:
            continue
        state = f" [{health[endpoint.version]}]" if endpoint.version in health else ""
        lines.append(f"  {role:<9} churn-model v{endpoint.version:<4} traffic {shares[role]:<8}"
                     f" threshold {endpoint.threshold:.3f}  {endpoint.endpoint}{state}")
    if live.strategy == "canary":
        b = live.bounds
        lines.append(f"  bounds: error rate <= {b.max_error_rate:g}, agreement >= "
                     f"{b.min_agreement:g}, judged after {b.min_requests} requests")
    if live.rollback:
        at = live.rollback.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"  last rollback: v{live.rollback.version} at {at}: {live.rollback.reason}")
    return "\n".join(lines)


# Run configuration --------------------------------------------------------------------------


def merge_overrides(
    config: Mapping[str, Any], strategy: str | None = None, canary_share: float | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    """A run config with the command line's choices written into its ``parameters``.

    ZenML rejects a parameter set both in a config file and in the call, so overrides go
    into the config itself. Unset overrides keep the config's values.
    """
    merged = {**config, "parameters": dict(config.get("parameters") or {})}
    overrides = {"strategy": strategy, "canary_share": canary_share,
                 "model_version": None if model_version is None else str(model_version)}
    merged["parameters"].update({k: v for k, v in overrides.items() if v is not None})
    if merged["parameters"].get("strategy") not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}")
    return merged
