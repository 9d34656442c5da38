"""Access to the active stack's model registry from inside a step."""

from __future__ import annotations

from typing import Any

from steps.stack_components import active_component


def active_model_registry() -> Any:
    """The stack's model registry, with ``mlflow.*`` pointed at its backend.

    The experiment tracker resets MLflow's global URI after each tracked step, so it is
    set again on every use.
    """
    model_registry = active_component("model_registry")
    model_registry.configure_mlflow()
    return model_registry
