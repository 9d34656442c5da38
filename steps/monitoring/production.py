"""Production traffic from the inference log."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pandas as pd
from zenml import step

from churnops import schema
from churnops.monitoring import LABEL, PREDICTION, MonitoringWindow
from serving.inference_log import InferenceLog
from serving.settings import Settings

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def load_production_window(deployed_model: dict, window: MonitoringWindow,
                           inference_log_url: str | None = None) -> tuple[
    Annotated[pd.DataFrame, "production_window"], Annotated[pd.DataFrame, "labelled_window"]
]:
    """The deployed version's answered requests in the window, and the outcomes received.

    The log is ``inference_log_url``, else the service's (``CHURNOPS_INFERENCE_LOG_URL`` or
    the local default).
    """
    url = inference_log_url or Settings.from_env().inference_log_url
    start, end, labels_start = window.resolve()
    log = InferenceLog(url)
    try:
        version = deployed_model["version"]
        current = production_frame(log.answered_between(start, end, version))
        labelled = production_frame(log.outcomes_between(labels_start, end, version))
    finally:
        log.close()
    logger.info("Window %s .. %s: %d predictions by v%s; %d outcomes since %s.",
                start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds"),
                len(current), version, len(labelled), labels_start.isoformat(timespec="seconds"))
    return current, labelled


def production_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Log rows as a frame: the features (typed as in training), p(churn), the outcome as
    0/1 (``churned``, on outcome rows) and the rest of the row."""
    if not rows:
        return pd.DataFrame(columns=[*schema.FEATURE_NAMES, PREDICTION, LABEL])
    features = pd.DataFrame([row.pop("features") for row in rows])[list(schema.FEATURE_NAMES)]
    rest = pd.DataFrame(rows).rename(columns={"probability": PREDICTION})
    frame = pd.concat([features, rest], axis=1)
    for column in schema.FEATURES:
        if column.kind in ("integer", "binary"):
            frame[column.name] = frame[column.name].astype("int64")
        elif column.kind == "numeric":
            frame[column.name] = frame[column.name].astype(float)
    if LABEL in frame:
        frame[LABEL] = frame[LABEL].astype(int)
    return frame
