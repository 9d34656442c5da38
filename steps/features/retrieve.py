from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import step

from churnops import data, features
from stacks.access import active_feature_store


@step
def load_training_frame(clean: pd.DataFrame, feature_store_state: dict) -> Annotated[
    pd.DataFrame, "training_frame"
]:
    """Point-in-time join of the labels with the model's feature service (offline store),
    for the customers of the training and reference pools: never the future pool's."""
    store = active_feature_store()
    entities = features.training_entities(clean[data.in_pools(clean, "training", "reference")])
    return features.historical_features(store, entities)
