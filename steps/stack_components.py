"""The active stack's components, looked up when a step runs (never at import)."""

from __future__ import annotations

from typing import Any

from zenml.client import Client


def active_component(attribute: str) -> Any:
    """``Client().active_stack.<attribute>``, or an error that says how to get one."""
    component = getattr(Client().active_stack, attribute)
    if component is None:
        kind = attribute.replace("_", " ")
        raise RuntimeError(
            f"The active stack has no {kind}. Switch to the 'local' stack "
            f"(`zenml stack set local`) or add a {kind} to this stack."
        )
    return component
