"""The deployment pipeline, and the run configuration that ``run.py`` gives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from zenml import pipeline

from churnops import paths
from churnops.deployment import CanaryBounds, Strategy, merge_overrides
from steps.deployment.publish import publish_live_deployment
from steps.deployment.resolve import resolve_versions
from steps.deployment.serve import deploy_model_server
from steps.deployment.smoke import smoke_test

DEFAULT_CONFIG = paths.CONFIG_DIR / "deployment.yaml"


@pipeline(name="churn_deployment", enable_cache=False)
def deployment_pipeline(
    strategy: Strategy,
    canary_share: float,
    bounds: CanaryBounds,
    model_version: str | None = None,
    smoke_test_size: int = 20,
    deploy_timeout: int = 120,
) -> None:
    """Serve the chosen versions, smoke-test each new server, then publish ``live.json``."""
    plan = resolve_versions(strategy, model_version)
    champion = deploy_model_server(plan, "champion", deploy_timeout)
    champion_check = smoke_test(plan, champion, smoke_test_size)
    if strategy == "basic":
        publish_live_deployment(plan, champion, champion_check, canary_share, bounds)
        return
    candidate = deploy_model_server(plan, "candidate", deploy_timeout,
                                    id="deploy_candidate_server")
    candidate_check = smoke_test(plan, candidate, smoke_test_size, id="smoke_test_candidate")
    publish_live_deployment(plan, champion, champion_check, canary_share, bounds,
                            candidate, candidate_check)


def build_run_config(
    strategy: str | None = None, canary_share: float | None = None,
    model_version: str | None = None, config_path: Path = DEFAULT_CONFIG,
) -> dict[str, Any]:
    """The run config at ``config_path`` with the command line's overrides merged in.

    Use it as ``deployment_pipeline.with_options(**build_run_config(...))()``. Pipeline
    parameters may not be set both in a config file and in the call, so the overrides are
    written into the config's ``parameters`` instead of being passed to the call.
    """
    config = yaml.safe_load(Path(config_path).read_text()) or {}
    return merge_overrides(config, strategy, canary_share, model_version)
