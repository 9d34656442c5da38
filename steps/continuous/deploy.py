"""Put an approved challenger live beside the primary, as a shadow or a canary."""

from __future__ import annotations

import logging
from typing import Annotated

from zenml import step

from churnops.continuous import RetrainingResult
from churnops.deployment import LiveDeployment
from churnops.settings import LoopSettings
from steps.deployment.publish import publish
from steps.deployment.resolve import plan_deployment
from steps.deployment.serve import serve_in_slot
from steps.deployment.smoke import run_smoke_test

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def deploy_challenger(result: RetrainingResult, settings: LoopSettings,
                      deploy_timeout: int = 120, smoke_test_size: int = 20
                      ) -> Annotated[LiveDeployment | None, "challenger_deployment"]:
    """Serve the approved version as ``settings.candidate_strategy`` next to the champion,
    smoke-test it and publish; nothing when no version was approved.

    The same functions as the deployment pipeline's steps: the primary's running server
    is reused, a candidate that fails its smoke test is withdrawn and the step fails.
    """
    version = result.approved_version
    if version is None:
        return None
    strategy = settings.candidate_strategy
    plan = plan_deployment(strategy, settings.canary_share, settings.bounds, version)
    primary = serve_in_slot(plan, "primary", deploy_timeout)
    candidate = serve_in_slot(plan, plan.candidate_slot, deploy_timeout)
    check = run_smoke_test(plan, candidate, smoke_test_size)
    live, _ = publish(plan, primary, candidate, [check])
    logger.info("v%s is live as %s beside v%s.", version, strategy, primary.version)
    return live
