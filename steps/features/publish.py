from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from churnops import features
from stacks.access import active_feature_store

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def publish_features(clean: pd.DataFrame) -> Annotated[dict, "feature_store_state"]:
    """Write the offline source, apply the definitions and materialize the online store.

    Not cached: it changes the feature store, which may have been reset since the last run.
    It is idempotent and skips work when the store already holds this exact snapshot.
    """
    store = active_feature_store()
    state = features.publish(store, clean)
    log_metadata(state, artifact_name="feature_store_state", infer_artifact=True)
    return state
