"""Every settings class of the project, and the one way run configs are merged.

Pipelines take their settings from the YAML run configs in ``configs/`` (the ``parameters``
of a ZenML run config); the prediction service takes ``ServiceSettings`` from the
environment. ``merge`` is how an override (a command-line flag, the loop's window) goes into
a run config: ZenML refuses a parameter given both in a config file and in the call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field

from churnops import paths


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Training ------------------------------------------------------------------------------------


class BusinessSettings(_Settings):
    """The retention campaign's economics (USD, per month); see ``modeling.evaluation``."""

    offer_cost: float = Field(10.0, ge=0, description="Cost of one retention offer.")
    acceptance_rate: float = Field(
        0.3, ge=0, le=1, description="Share of would-be churners that the offer retains."
    )


class GateSettings(_Settings):
    """When a challenger may take the champion alias."""

    min_improvement: float = Field(
        0.002, description="ROC-AUC margin over the champion on the same holdout."
    )
    min_roc_auc: float = Field(0.80, description="Absolute floor for the holdout ROC-AUC.")
    max_equal_opportunity_diff: float = Field(
        0.20, description="Largest allowed TPR gap between groups of a sensitive attribute."
    )
    max_demographic_parity_diff: float = Field(
        0.35, description="Largest allowed gap in positive-decision rate between groups."
    )


class TrainingSettings(_Settings):
    seed: int = 42
    cv_folds: int = Field(5, ge=2)
    n_jobs: int = 2
    candidates: dict[str, dict[str, list]] = Field(
        ..., description="Candidate name -> grid search space (keys like model__C)."
    )
    business: BusinessSettings = BusinessSettings()
    gate: GateSettings = GateSettings()


class RetrainingPolicy(_Settings):
    """Which labelled data a retraining run learns from, besides the reference.

    ``window``: the outcomes received in the last ``window_days``, topped up with reference
    rows (sampled with ``seed``) to ``min_rows``, so that recent behaviour dominates after
    a concept drift. ``cumulative``: every labelled production row plus the whole reference.
    """

    mode: Literal["window", "cumulative"] = "window"
    window_days: float = Field(7.0, gt=0)
    min_rows: int = Field(2000, ge=100)
    seed: int = 42


# Deployment ----------------------------------------------------------------------------------

CANARY_WINDOW = 500
"""How many of the latest canary requests the canary's rates are computed over (at least)."""


class CanaryBounds(_Settings):
    """When the service rolls a canary back on its own, judged over its latest requests.

    No verdict before ``min_requests`` canary requests: a canary that fails every call is
    rolled back after ``min_requests`` of them. Users never see those failures (the primary
    answers instead); they cost only the failed call's latency, bounded by the model timeout.
    """

    max_error_rate: float = Field(
        0.05, ge=0, le=1, description="Largest share of failed candidate requests."
    )
    min_agreement: float = Field(
        0.8, ge=0, le=1, description="Smallest share of decisions the candidate and the "
        "primary agree on."
    )
    min_requests: int = Field(
        50, ge=1, description="Candidate requests to see before the bounds are judged."
    )

    @property
    def window(self) -> int:
        return max(CANARY_WINDOW, self.min_requests)


class ChallengerJudgement(_Settings):
    """When a live candidate is promoted or rolled back on outcomes (``churnops.challenger``).

    Non-inferiority: the candidate is promoted when, at ``confidence``, it is worse than the
    primary by less than the margin on both ROC-AUC and value per customer; it is rolled back
    when it is worse by more than the margin on either; otherwise the judgement waits.
    """

    margin_roc_auc: float = Field(0.01, ge=0, description="Tolerated ROC-AUC loss.")
    margin_value_per_customer: float = Field(
        0.5, ge=0, description="Tolerated loss of business value per customer (USD/month).")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="One-sided confidence level.")
    min_outcomes: int = Field(
        200, ge=20, description="Labelled requests (per arm for a canary) before any verdict.")
    bootstrap_samples: int = Field(1000, ge=100, description="Bootstrap resamples.")
    seed: int = 0


# Monitoring ----------------------------------------------------------------------------------


class MonitoringSettings(_Settings):
    """What counts as drift and as degraded performance (reasons in docs/monitoring.md)."""

    alpha: float = Field(
        0.001, gt=0, lt=1, description="Chance that a run on unchanged traffic raises an act "
        "finding on drift, and the significance a performance drop needs to act.")
    warn_alpha: float = Field(
        0.01, gt=0, lt=1, description="The same chance for a warning that names a feature "
        "or a prediction shift.")
    act_min_features: int = Field(
        3, ge=1, description="Features that must move together (at alpha) for input drift "
        "to act without a shift in the predictions.")
    min_rows: int = Field(100, ge=1, description="Fewer production rows: no drift verdict.")
    min_labels: int = Field(
        300, ge=10, description="Fewer labelled rows: no performance verdict.")
    max_roc_auc_drop: float = Field(
        0.05, ge=0, description="Live ROC-AUC this far below the training-time figure "
        "means degraded performance.")
    max_refused_share: float = Field(
        0.01, ge=0, le=1, description="Requests the service refused as invalid: any is a "
        "warning; more than this share of the window's requests calls for an investigation.")
    business: BusinessSettings = BusinessSettings()
    challenger: ChallengerJudgement = ChallengerJudgement()
    alert_webhook: str | None = Field(
        None, description="URL that receives a JSON POST on a positive decision (Slack "
        "incoming webhooks work); CHURNOPS_ALERT_WEBHOOK overrides it.")


class MonitoringWindow(_Settings):
    """Which production traffic a monitoring run looks at.

    Predictions made in ``[start, end)`` are compared with the reference; outcomes received
    in ``[labels_start, end)`` measure live performance. Unset bounds count back from now
    by ``hours`` and ``label_hours``.
    """

    start: datetime | None = None
    end: datetime | None = None
    labels_start: datetime | None = None
    hours: float = Field(24.0, gt=0)
    label_hours: float = Field(72.0, gt=0)

    def resolve(self, now: datetime | None = None) -> tuple[datetime, datetime, datetime]:
        end = self.end or now or datetime.now(UTC)
        start = self.start or end - timedelta(hours=self.hours)
        labels_start = self.labels_start or end - timedelta(hours=self.label_hours)
        return start, end, labels_start


# The closed loop and its simulated production --------------------------------------------------

Scenario = Literal["none", "data_drift", "price_change", "acquisition", "segment_price",
                   "gradual", "unit_change", "constant_default", "missing_values",
                   "concept_drift", "mixed"]
SCENARIOS: tuple[str, ...] = Scenario.__args__
"""The scenario library (``simulation/scenarios.py`` defines each)."""


class SimulationSettings(_Settings):
    """The simulated production traffic (``simulation/traffic.py``)."""

    scenario: Scenario = "none"
    strength: float | None = Field(
        None, ge=0, description="In the scenario's own unit; unset: its documented default.")
    requests_per_day: int = Field(300, ge=1)
    onset_day: int = Field(4, ge=1, description="First day the scenario's change applies "
                           "(days are numbered from 1).")
    label_delay_days: int = Field(2, ge=0)
    seed: int = 0


class LoopSettings(_Settings):
    """The continuous-training controller's rules (``churnops/continuous.py``).

    One run of the continuous-training pipeline is one turn of the loop; "days" count runs.
    """

    label_window_days: int = Field(3, ge=1, description="Outcomes of this many days back "
                                   "measure live performance.")
    cooldown_days: int = Field(4, ge=0, description="Days after a retraining before the "
                               "next one: the new model's outcomes must arrive first.")
    recovery_tolerance: float = Field(
        0.02, ge=0, description="After a performance drop, retraining goes on (every "
        "cooldown) until the live ROC-AUC is back within this of its level before the drop.")
    min_labels: int = Field(300, ge=1, description="Outcomes a live ROC-AUC needs to count.")
    min_new_outcomes: int = Field(
        900, ge=1, description="After a drop, outcomes of requests made since the change "
        "that a retraining waits for.")
    label_delay_days: int = Field(2, ge=0, description="How late outcomes arrive: a drop "
                                  "read today started this many runs earlier.")
    candidate_strategy: Literal["shadow", "canary"] = Field(
        "shadow", description="How an approved challenger goes live: a shadow is judged on "
        "every request (paired), a canary on its own share (A/B).")
    max_candidate_runs: int = Field(
        10, ge=1, description="A candidate still undecided after this many runs is rolled "
        "back, so that retraining can go on.")
    canary_share: float = Field(0.2, gt=0, le=1)
    bounds: CanaryBounds = CanaryBounds(min_agreement=0.3, min_requests=30)


# The prediction service ----------------------------------------------------------------------


class ModelOverride(_Settings):
    """A single model given by environment variables instead of the deployment file."""

    endpoint: str
    version: str
    threshold: float
    validation_suite: Path


class ServiceSettings(_Settings):
    """The prediction service's settings, read from the environment (12-factor).

    | variable | default | meaning |
    |---|---|---|
    | ``CHURNOPS_DEPLOYMENT_URL`` | ``sqlite:///<state>/deployment.db`` | deployment record |
    | ``CHURNOPS_MODEL_ENDPOINT`` | unset | one model's prediction URL; overrides the record |
    | ``CHURNOPS_MODEL_VERSION`` | unset | that model's version (required with the endpoint) |
    | ``CHURNOPS_MODEL_THRESHOLD`` | unset | its decision threshold (required with it) |
    | ``CHURNOPS_VALIDATION_SUITE`` | unset | path to its GX suite JSON (required with it) |
    | ``CHURNOPS_FEATURE_REPO`` | the project's ``feature_repo/`` | the Feast repository |
    | ``CHURNOPS_INFERENCE_LOG_URL`` | ``sqlite:///<state>/inference_log.db`` | log database |
    | ``CHURNOPS_API_KEY`` | unset | when set, required as header ``X-API-Key`` |
    | ``CHURNOPS_MODEL_TIMEOUT_S`` | ``2.0`` | timeout of one model-server call |
    | ``CHURNOPS_BATCH_LIMIT`` | ``256`` | most items in one ``/predict/batch`` request |

    ``<state>`` is the project's state folder (``CHURNOPS_HOME``, see ``churnops.paths``).
    """

    deployment_url: str
    feature_repo: Path
    inference_log_url: str
    model_override: ModelOverride | None = None
    api_key: str | None = None
    model_timeout_s: float = Field(2.0, gt=0)
    batch_limit: int = Field(256, gt=0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        """Settings from ``environ`` (default ``os.environ``), with the defaults above."""
        env = os.environ if environ is None else environ
        return cls(
            deployment_url=paths.deployment_record_url(env),
            feature_repo=Path(env.get("CHURNOPS_FEATURE_REPO") or paths.FEATURE_REPO),
            inference_log_url=paths.inference_log_url(env),
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


# Run configs ---------------------------------------------------------------------------------


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in, recursively: nested mappings merge, anything
    else in ``override`` replaces. Neither argument is changed."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def run_config(path: str | Path, parameters: Mapping[str, Any] | None = None,
               with_schedule: bool = False) -> dict[str, Any]:
    """A ZenML run config (the YAML at ``path``) with ``parameters`` merged into its own.

    A config can take parameters from other configs, so that each setting has one home:
    ``parameters_from: {monitoring: monitoring.yaml:parameters.settings}`` sets the
    parameter ``monitoring`` to that entry of ``monitoring.yaml`` (a path beside ``path``);
    the config's own ``parameters`` merge over it. Use the result as
    ``pipeline.with_options(**run_config(...))()``: one run now. Its ``schedule`` is left
    out unless ``with_schedule`` (``run.py schedule`` and ``compile-kfp`` read it).
    """
    config = yaml.safe_load(Path(path).read_text()) or {}
    if not with_schedule:
        config.pop("schedule", None)
    if borrowed := config.pop("parameters_from", None):
        taken = {name: _config_entry(Path(path).parent, where)
                 for name, where in borrowed.items()}
        config["parameters"] = merge(taken, config.get("parameters") or {})
    if parameters:
        config["parameters"] = merge(config.get("parameters") or {}, parameters)
    return config


def _config_entry(folder: Path, where: str) -> Any:
    """``file.yaml:a.b`` -> the entry ``a`` / ``b`` of ``folder/file.yaml``."""
    file, _, keys = where.partition(":")
    entry = yaml.safe_load((folder / file).read_text()) or {}
    for key in keys.split("."):
        if not isinstance(entry, Mapping) or key not in entry:
            raise KeyError(f"{where}: {folder / file} has no entry {keys}")
        entry = entry[key]
    return entry
