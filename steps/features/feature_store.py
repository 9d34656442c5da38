"""Access to the active stack's Feast feature store from inside a step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from churnops import features
from steps.stack_components import active_component

if TYPE_CHECKING:
    from feast import FeatureStore


def active_feature_store() -> FeatureStore:
    """Open (once per process) the Feast repo that the active stack's feature store names."""
    return features.open_store(active_component("feature_store").config.feast_repo)
