"""Service settings, read from the environment (12-factor).

| variable | default | meaning |
|---|---|---|
| ``CHURNOPS_DEPLOYMENT_FILE`` | ``<state>/deployment/live.json`` | live deployment |
| ``CHURNOPS_MODEL_ENDPOINT`` | unset | a single model's ``/invocations`` URL; overrides the file |
| ``CHURNOPS_MODEL_VERSION`` | unset | that model's version (required with the endpoint) |
| ``CHURNOPS_MODEL_THRESHOLD`` | unset | its decision threshold (required with the endpoint) |
| ``CHURNOPS_VALIDATION_SUITE`` | unset | path to its GX suite JSON (required with the endpoint) |
| ``CHURNOPS_FEATURE_REPO`` | the project's ``feature_repo/`` | the Feast repository |
| ``CHURNOPS_INFERENCE_LOG_URL`` | ``sqlite:///<state>/inference_log.db`` | log database URL |
| ``CHURNOPS_API_KEY`` | unset | when set, required as header ``X-API-Key`` |
| ``CHURNOPS_MODEL_TIMEOUT_S`` | ``2.0`` | timeout of one model-server call |
| ``CHURNOPS_BATCH_LIMIT`` | ``256`` | most items in one ``/predict/batch`` request |

``<state>`` is the project's state folder (``CHURNOPS_HOME``, see ``churnops.paths``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from churnops import paths


@dataclass(frozen=True)
class ModelOverride:
    """A single model given by environment variables instead of the deployment file."""

    endpoint: str
    version: str
    threshold: float
    validation_suite: Path


@dataclass(frozen=True)
class Settings:
    deployment_file: Path
    feature_repo: Path
    inference_log_url: str
    model_override: ModelOverride | None = None
    api_key: str | None = None
    model_timeout_s: float = 2.0
    batch_limit: int = 256

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), with the defaults above."""
        env = os.environ if environ is None else environ
        state = paths.state_dir()
        return cls(
            deployment_file=Path(
                env.get("CHURNOPS_DEPLOYMENT_FILE") or state / "deployment" / "live.json"
            ),
            feature_repo=Path(env.get("CHURNOPS_FEATURE_REPO") or paths.FEATURE_REPO),
            inference_log_url=env.get("CHURNOPS_INFERENCE_LOG_URL")
            or f"sqlite:///{state / 'inference_log.db'}",
            model_override=_model_override(env),
            api_key=env.get("CHURNOPS_API_KEY") or None,
            model_timeout_s=_positive(env, "CHURNOPS_MODEL_TIMEOUT_S", float, 2.0),
            batch_limit=_positive(env, "CHURNOPS_BATCH_LIMIT", int, 256),
        )


_Number = TypeVar("_Number", int, float)

_OVERRIDE_VARIABLES = (
    "CHURNOPS_MODEL_ENDPOINT",
    "CHURNOPS_MODEL_VERSION",
    "CHURNOPS_MODEL_THRESHOLD",
    "CHURNOPS_VALIDATION_SUITE",
)


def _model_override(env: Mapping[str, str]) -> ModelOverride | None:
    """All four ``CHURNOPS_MODEL_*``/suite variables, or none of them."""
    given = {name: env[name] for name in _OVERRIDE_VARIABLES if env.get(name)}
    if not given:
        return None
    if missing := [name for name in _OVERRIDE_VARIABLES if name not in given]:
        raise ValueError(
            f"CHURNOPS_MODEL_ENDPOINT and friends go together; missing: {', '.join(missing)}"
        )
    return ModelOverride(
        endpoint=given["CHURNOPS_MODEL_ENDPOINT"],
        version=given["CHURNOPS_MODEL_VERSION"],
        threshold=float(given["CHURNOPS_MODEL_THRESHOLD"]),
        validation_suite=Path(given["CHURNOPS_VALIDATION_SUITE"]),
    )


def _positive(
    env: Mapping[str, str], name: str, kind: type[_Number], default: _Number
) -> _Number:
    raw = env.get(name)
    if not raw:
        return default
    value = kind(raw)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value
