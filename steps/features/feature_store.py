"""Access to the active stack's Feast feature store from inside a step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zenml.client import Client

from churnops import features

if TYPE_CHECKING:
    from feast import FeatureStore


def active_feature_store() -> FeatureStore:
    """Open (once per process) the Feast repo that the active stack's feature store names."""
    component = Client().active_stack.feature_store
    if component is None:
        raise RuntimeError(
            "The active stack has no feature store. Use the 'local' stack "
            "(`zenml stack set local`) or register a feast feature store on this one."
        )
    return features.open_store(component.config.feast_repo)
