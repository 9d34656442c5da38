from __future__ import annotations

from zenml import pipeline

from churnops.deployment import Strategy
from churnops.settings import CanaryBounds
from steps.deployment.publish import publish_live_deployment
from steps.deployment.resolve import resolve_versions
from steps.deployment.serve import deploy_model_server
from steps.deployment.smoke import smoke_test


@pipeline(name="churn_deployment", enable_cache=False)
def deployment_pipeline(
    strategy: Strategy,
    canary_share: float,
    bounds: CanaryBounds,
    model_version: str | None = None,
    smoke_test_size: int = 20,
    deploy_timeout: int = 120,
) -> None:
    """Serve the chosen versions, smoke-test each new server, then publish them to the
    deployment record."""
    plan = resolve_versions(strategy, canary_share, bounds, model_version)
    primary = deploy_model_server(plan, "primary", deploy_timeout)
    primary_check = smoke_test(plan, primary, smoke_test_size)
    if strategy == "basic":
        publish_live_deployment(plan, primary, primary_check)
        return
    slot = "canary" if strategy == "canary" else "shadow"
    candidate = deploy_model_server(plan, slot, deploy_timeout, id="deploy_candidate_server")
    candidate_check = smoke_test(plan, candidate, smoke_test_size, id="smoke_test_candidate")
    publish_live_deployment(plan, primary, primary_check, candidate, candidate_check)
