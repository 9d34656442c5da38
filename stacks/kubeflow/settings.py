"""The settings a pipeline gets on the ``kubeflow`` stack: ``configs/kubeflow/settings.yaml``.

That file holds ZenML run-config keys (``settings``, ``steps``) that only the kubeflow stack
needs: the pipeline image with ``skip_build``, and step resources. They are merged into a
pipeline's run options when the active orchestrator is Kubeflow, by ``run.py`` and by
``stacks.kubeflow.compile``. On any other stack the options are left as they are, so the
local stack never sees Docker or resource settings. This module imports no ZenML
integration, so the check costs nothing on the local stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from churnops import paths

if TYPE_CHECKING:
    from zenml.pipelines.pipeline_definition import Pipeline

SETTINGS_FILE = paths.CONFIG_DIR / "kubeflow" / "settings.yaml"
ORCHESTRATOR_FLAVOR = "kubeflow"


def load(settings_file: Path = SETTINGS_FILE) -> dict[str, Any]:
    """The settings file, with relative Docker file paths resolved against the project."""
    overlay = yaml.safe_load(settings_file.read_text()) or {}
    docker = (overlay.get("settings") or {}).get("docker") or {}
    for key in ("requirements", "dockerfile"):
        if isinstance(docker.get(key), str) and not Path(docker[key]).is_absolute():
            docker[key] = str(paths.PROJECT_ROOT / docker[key])
    return overlay


def apply(pipeline: Pipeline, options: dict[str, Any],
          settings_file: Path = SETTINGS_FILE) -> dict[str, Any]:
    """``options`` (for ``pipeline.with_options``) with the kubeflow settings merged in.

    Step entries for steps ``pipeline`` does not have are dropped.
    """
    overlay = load(settings_file)
    prepared = pipeline.with_options(**options)
    prepared.prepare()  # parameters from the config; gives the step invocations
    steps = {name: step for name, step in (overlay.get("steps") or {}).items()
             if name in prepared.invocations}
    return {**options,  # what the run config itself says wins
            "settings": _merge(overlay.get("settings") or {}, options.get("settings") or {}),
            "steps": _merge(steps, options.get("steps") or {})}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        both_dicts = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both_dicts else value
    return merged


def for_active_stack(pipeline: Pipeline, options: dict[str, Any]) -> dict[str, Any]:
    """``apply`` when the active stack's orchestrator is Kubeflow, else ``options`` as given."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    (orchestrator,) = Client().active_stack_model.components[StackComponentType.ORCHESTRATOR]
    return apply(pipeline, options) if orchestrator.flavor_name == ORCHESTRATOR_FLAVOR else options
