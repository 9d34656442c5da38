"""Production traffic from the inference log."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import step

from churnops import paths
from churnops.inference_log import InferenceLogReader, log_frame
from churnops.monitoring import DeployedModel, RefusedRequests
from churnops.settings import MonitoringWindow

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def load_production_window(deployed_model: DeployedModel, window: MonitoringWindow,
                           inference_log_url: str | None = None) -> tuple[
    Annotated[pd.DataFrame, "production_window"], Annotated[pd.DataFrame, "labelled_window"],
    Annotated[RefusedRequests, "refused_requests"],
]:
    """The deployed version's answered requests in the window, the outcomes received, and
    the requests refused as invalid.

    The log is ``inference_log_url``, else the service's (``CHURNOPS_INFERENCE_LOG_URL`` or
    the local default).
    """
    start, end, labels_start = window.resolve()
    version = deployed_model.version
    with InferenceLogReader(inference_log_url or paths.inference_log_url()) as log:
        current = log_frame(log.answered_between(start, end, version))
        labelled = log_frame(log.outcomes_between(labels_start, end, version))
        refused = RefusedRequests.of(len(current), log.refused_between(start, end))
    logger.info("Window %s .. %s: %d predictions by v%s (%d requests refused as invalid); "
                "%d outcomes since %s.", start.isoformat(timespec="seconds"),
                end.isoformat(timespec="seconds"), len(current), version, refused.refused,
                len(labelled), labels_start.isoformat(timespec="seconds"))
    return current, labelled, refused
