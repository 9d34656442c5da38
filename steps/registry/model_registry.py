"""Access to the active stack's model registry from inside a step."""

from __future__ import annotations

from typing import Any

from zenml.client import Client


def active_model_registry() -> Any:
    """The stack's model registry, with ``mlflow.*`` pointed at its backend.

    The experiment tracker resets MLflow's global URI after each tracked step, so it is
    set again on every use.
    """
    model_registry = Client().active_stack.model_registry
    if model_registry is None:
        raise RuntimeError(
            "The active stack has no model registry. Use the 'local' stack "
            "(`zenml stack set local`) or register an mlflow model registry on this one."
        )
    model_registry.configure_mlflow()
    return model_registry
