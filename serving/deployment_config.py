"""The live deployment description: which model versions serve, and how traffic is split.

The deployment pipeline writes it as JSON (default ``<state>/deployment/live.json``, or
``CHURNOPS_DEPLOYMENT_FILE``); the service re-reads it whenever the file's mtime changes, and
rewrites it itself only to roll a failing canary back. Example::

    {
      "strategy": "canary",
      "champion":  {"version": "3", "endpoint": "http://127.0.0.1:8001/invocations",
                    "threshold": 0.43, "validation_suite": {...}},
      "candidate": {"version": "4", "endpoint": "http://127.0.0.1:8002/invocations",
                    "threshold": 0.41, "validation_suite": {...}},
      "canary_share": 0.1,
      "bounds": {"max_error_rate": 0.05, "min_agreement": 0.9, "min_requests": 50}
    }

Fields this service does not use (such as a model deployer's ``service_id``) are kept, so a
rollback rewrites the file without losing them. ``canary_bounds`` is accepted for ``bounds``.

Strategies: ``basic`` (the champion answers), ``shadow`` (the champion answers; the candidate
scores every request too, logged with ``shadow = true``), ``canary`` (the candidate answers a
``canary_share`` of requests and the champion shadows those, so the two can be compared).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from serving.settings import ModelOverride

Strategy = Literal["basic", "shadow", "canary"]

CANARY_WINDOW = 500


class _Open(BaseModel):
    """Keeps fields written by other tools, and writes them back."""

    model_config = ConfigDict(extra="allow")


class ModelDeployment(_Open):
    """One served model version."""

    version: str = Field(description="Version of the registered model `churn-model`.")
    endpoint: str = Field(description="Full URL of the model server's `/invocations`.")
    threshold: float = Field(ge=0.0, le=1.0, description="Business decision threshold.")
    validation_suite: dict[str, Any] = Field(
        description="The version's GX feature suite, as `churnops.validation.suite_to_json`."
    )


class CanaryBounds(_Open):
    """When a canary is rolled back, judged over its most recent requests (``window``).

    Error budget: the canary may fail at most ``max_error_rate`` of its calls, and must make
    the champion's decision on at least ``min_agreement`` of the requests both answered. No
    verdict before ``min_requests`` canary requests: a canary that fails every call is rolled
    back after ``min_requests`` of them. Users never see those failures (the champion answers
    instead); they cost only the failed call's latency, bounded by the model timeout.
    """

    max_error_rate: float = Field(0.05, ge=0.0, le=1.0)
    min_agreement: float = Field(0.9, ge=0.0, le=1.0)
    min_requests: int = Field(50, ge=1)

    @property
    def window(self) -> int:
        """How many of the latest canary requests the rates are computed over."""
        return max(CANARY_WINDOW, self.min_requests)


class Rollback(_Open):
    """Why and when the service took a canary out of the deployment."""

    reason: str
    at: datetime
    version: str = Field(description="The candidate version that was rolled back.")


class DeploymentConfig(_Open):
    strategy: Strategy = "basic"
    champion: ModelDeployment
    candidate: ModelDeployment | None = None
    canary_share: float = Field(0.0, ge=0.0, le=1.0)
    bounds: CanaryBounds = Field(
        CanaryBounds(), validation_alias=AliasChoices("bounds", "canary_bounds")
    )
    updated_at: datetime | None = None
    rollback: Rollback | None = None

    @model_validator(mode="after")
    def _candidate_when_needed(self) -> DeploymentConfig:
        if self.strategy != "basic" and self.candidate is None:
            raise ValueError(f"strategy {self.strategy!r} needs a candidate")
        return self

    def rolled_back(self, reason: str) -> DeploymentConfig:
        """This deployment with the candidate removed and the rollback recorded."""
        assert self.candidate is not None
        now = datetime.now(UTC)
        return self.model_copy(update={
            "strategy": "basic", "candidate": None, "canary_share": 0.0, "updated_at": now,
            "rollback": Rollback(reason=reason, at=now, version=self.candidate.version),
        })


def read(path: Path) -> DeploymentConfig:
    """Parse a deployment file; raises ``OSError`` or ``pydantic.ValidationError``."""
    return DeploymentConfig.model_validate_json(path.read_bytes())


def write(path: Path, config: DeploymentConfig) -> None:
    """Replace the file atomically, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(config.model_dump_json(indent=2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


def from_override(override: ModelOverride) -> DeploymentConfig:
    """A basic deployment of the single model given by ``CHURNOPS_MODEL_*``."""
    suite = json.loads(override.validation_suite.read_text())
    return DeploymentConfig(
        champion=ModelDeployment(
            version=override.version,
            endpoint=override.endpoint,
            threshold=override.threshold,
            validation_suite=suite,
        )
    )
