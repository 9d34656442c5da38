"""The data a retraining run learns from: the reference plus labelled production traffic."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

import pandas as pd
from zenml import step

from churnops import paths, registry, schema
from churnops.features import EVENT_TIMESTAMP
from churnops.inference_log import LABEL, InferenceLogReader, log_frame
from churnops.settings import RetrainingPolicy
from stacks.access import drift_reference, mlflow_client, model_version_of, training_artifact

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def load_reference_frame(model_version: str | None = None) -> tuple[
    Annotated[pd.DataFrame, "reference_frame"], Annotated[pd.DataFrame, "reference_set"]
]:
    """The rows the champion (or a version) was fitted on (its ``train_set``), and its drift
    reference, which the retrained version carries on."""
    version = str(model_version or registry.champion_version(mlflow_client()).version)
    return reference_frame(version), drift_reference(model_version_of(version))


def reference_frame(model_version: str | None = None) -> pd.DataFrame:
    """The rows ``model_version`` (by default the champion) was fitted on."""
    version = str(model_version or registry.champion_version(mlflow_client()).version)
    frame = training_artifact(version, "train_set")
    logger.info("Reference: %d rows, the train set of v%s.", len(frame), version)
    return frame


@step(enable_cache=False)
def load_labelled_production(policy: RetrainingPolicy, inference_log_url: str | None = None,
                             until: datetime | None = None,
                             since: datetime | None = None) -> Annotated[
    pd.DataFrame, "labelled_production"
]:
    """Answered requests whose outcome arrived: in the policy's window, or all of them.

    ``since`` keeps only requests made from then on: after a change in behaviour, the
    outcomes of earlier requests teach the old relation.
    """
    return labelled_production(policy, inference_log_url, until, since)


def labelled_production(policy: RetrainingPolicy, inference_log_url: str | None = None,
                        until: datetime | None = None, since: datetime | None = None
                        ) -> pd.DataFrame:
    """The labelled production rows the policy learns from (see the step above)."""
    end = until or datetime.now(UTC)
    start = (end - timedelta(days=policy.window_days) if policy.mode == "window"
             else datetime(1970, 1, 1, tzinfo=UTC))
    with InferenceLogReader(inference_log_url or paths.inference_log_url()) as log:
        frame = log_frame(log.outcomes_between(start, end, predicted_since=since))
    logger.info("Labelled production rows (%s policy): %d.", policy.mode, len(frame))
    return frame


@step
def combine_training_data(reference: pd.DataFrame, production: pd.DataFrame,
                          policy: RetrainingPolicy) -> tuple[
    Annotated[pd.DataFrame, "training_frame"], Annotated[str, "data_version"]
]:
    """Production rows in the training frame's layout, plus reference rows as the policy says.

    ``window``: reference rows are sampled (seeded) only to bring the total up to
    ``min_rows``, so recent behaviour dominates. ``cumulative``: the whole reference.
    """
    frame, data_version = combine(reference, production, policy)
    return frame, data_version  # a tuple literal: ZenML reads it as two outputs


def combine(reference: pd.DataFrame, production: pd.DataFrame, policy: RetrainingPolicy
            ) -> tuple[pd.DataFrame, str]:
    """The retraining frame and its data version (see the step above)."""
    recent = pd.DataFrame({
        schema.ENTITY_KEY: production["customer_id"].astype(str).to_numpy(),
        EVENT_TIMESTAMP: pd.to_datetime(production["ts"], utc=True).to_numpy(),
        schema.TARGET: production[LABEL].map({1: "Yes", 0: "No"}).to_numpy(),
    }) if len(production) else pd.DataFrame(columns=[schema.ENTITY_KEY, EVENT_TIMESTAMP,
                                                     schema.TARGET])
    for name in schema.FEATURE_NAMES:
        recent[name] = production[name].to_numpy() if len(production) else []
    kept = reference
    if policy.mode == "window":
        needed = max(policy.min_rows - len(recent), 0)
        kept = reference.sample(min(needed, len(reference)), random_state=policy.seed)
    frame = pd.concat([kept, recent[reference.columns]], ignore_index=True)
    frame = frame.astype({name: reference[name].dtype for name in reference.columns
                          if name != EVENT_TIMESTAMP})
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    logger.info("Retraining on %d rows: %d reference, %d production.",
                len(frame), len(kept), len(recent))
    return frame, f"retrain-{digest.hexdigest()[:16]}"
