"""Smoke-test a freshly started model server with real customers before it goes live."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from churnops import data, paths, schema
from churnops.deployment import (
    DeploymentEvent,
    LiveDeployment,
    ServedModel,
    SmokeTestError,
    SmokeTestResult,
    probe_endpoint,
)
from churnops.deployment_record import DeploymentRecord
from churnops.validation import suite_from_json
from stacks.access import active_component, withdraw_served

logger = logging.getLogger(__name__)

SAMPLE_SEED = 7


def sample_customers(size: int) -> pd.DataFrame:
    """``size`` customers of the raw data set, cleaned; the same ones on every run."""
    customers, _ = data.clean(data.load_raw(paths.RAW_DATA))
    return customers[list(schema.FEATURE_NAMES)].sample(n=size, random_state=SAMPLE_SEED)


def check_sample_against_suite(sample: pd.DataFrame, suite: dict) -> None:
    """The sample must pass the version's validation suite, as requests to it will have to."""
    validator = active_component("data_validator")
    try:
        report = validator.data_validation(sample, suite=suite_from_json(suite))
    except Exception as error:
        raise SmokeTestError(f"the version's validation suite cannot be run: {error}") from error
    if not report.success:
        raise SmokeTestError("real customers fail the version's validation suite:\n"
                             + report.to_text())


def withdraw(plan: LiveDeployment, model: ServedModel, reason: str) -> None:
    """Withdraw a server that failed its smoke test (``stacks.access.withdraw_served``);
    what is live is left as it is, so the previous deployment keeps serving."""
    with DeploymentRecord() as record:
        withdraw_served(record.live(), model)
        record.append(DeploymentEvent(
            event="failed", strategy=plan.strategy, primary=plan.primary.version,
            candidate=plan.candidate.version if plan.candidate else None,
            reason=f"smoke test of v{model.version} failed: {reason}"))


@step(enable_cache=False)
def smoke_test(
    plan: LiveDeployment, model: ServedModel, sample_size: int = 20,
    request_timeout: float = 10.0,
) -> Annotated[SmokeTestResult, "smoke_test"]:
    """Send ``sample_size`` real customers one by one; every answer must be two probabilities.

    On any failure the new server is stopped, the failure is recorded in the deployment
    history, and the step fails: nothing is published, the previous deployment keeps serving.
    """
    result = run_smoke_test(plan, model, sample_size, request_timeout)
    log_metadata(result.model_dump(), artifact_name="smoke_test", infer_artifact=True)
    return result


def run_smoke_test(plan: LiveDeployment, model: ServedModel, sample_size: int = 20,
                   request_timeout: float = 10.0) -> SmokeTestResult:
    """The smoke test the step above describes; withdraws the server when it fails."""
    sample = sample_customers(sample_size)
    try:
        check_sample_against_suite(sample, model.validation_suite)
        result = probe_endpoint(model, sample.to_dict("records"), timeout=request_timeout)
    except SmokeTestError as error:
        withdraw(plan, model, str(error))
        raise SmokeTestError(
            f"churn-model v{model.version} failed its smoke test at {model.endpoint}: "
            f"{error}. Its server was stopped; the previous deployment is still live."
        ) from error
    logger.info("Smoke test of v%s passed: %d requests, p50 %.1f ms, p99 %.1f ms.",
                result.version, result.requests, result.latency_p50_ms, result.latency_p99_ms)
    return result
