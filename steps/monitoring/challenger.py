"""The live candidate (shadow or canary) judged against the primary on outcomes."""

from __future__ import annotations

import logging
from typing import Annotated

from zenml import log_metadata, step

from churnops import paths
from churnops.challenger import ChallengerVerdict, judge_live_candidate
from churnops.deployment_record import read_live
from churnops.inference_log import InferenceLogReader
from churnops.settings import MonitoringSettings

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def judge_candidate(settings: MonitoringSettings, inference_log_url: str | None = None
                    ) -> Annotated[ChallengerVerdict, "challenger_verdict"]:
    """Promote, roll back or wait: non-inferiority of the live candidate on outcomes."""
    live = read_live()
    if live is None:
        return ChallengerVerdict(mode=None, decision="none", outcomes=0,
                                 reasons=["nothing is deployed"])
    versions = tuple(model.version for model in live.models())
    with InferenceLogReader(inference_log_url or paths.inference_log_url()) as log:
        rows = log.labelled_answers(versions)
    verdict = judge_live_candidate(live, rows, settings.challenger, settings.business)
    figures = {f"{arm}_{name}": value
               for arm, live in (("primary", verdict.primary_figures),
                                 ("candidate", verdict.candidate_figures)) if live
               for name, value in live.model_dump().items() if value is not None}
    log_metadata({"decision": verdict.decision, "outcomes": verdict.outcomes,
                  "more_outcomes_needed": verdict.more_outcomes_needed or 0,
                  "reasons": verdict.reasons, **figures},
                 artifact_name="challenger_verdict", infer_artifact=True)
    logger.info("Candidate: %s (%s).", verdict.decision, "; ".join(verdict.reasons))
    return verdict
