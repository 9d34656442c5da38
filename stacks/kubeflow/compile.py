"""Compile a pipeline to the KFP v2 IR the ``kubeflow`` stack submits, without a cluster.

The path is ZenML's own run path, stopped at the point where it would talk to Kubeflow:

1. The pipeline is configured from its run config plus ``configs/kubeflow/settings.yaml``
   (Docker image, resources) and ``pipeline.create_snapshot(...)`` compiles and stores a
   ZenML snapshot against the ``kubeflow`` stack: stack validation, the pipeline build
   (``skip_build``: the configured image, no Docker) and the step configurations.
2. The stack is validated as ``prepare_pipeline_submission`` does, secrets included. Its
   remaining check, that a remote orchestrator needs a remote ZenML server, is the one
   skipped: nothing is submitted.
3. ZenML's ``KubeflowOrchestrator.submit_pipeline`` builds the KFP pipeline and runs
   ``kfp.compiler.Compiler``. The orchestrator is a subclass that writes into the output
   folder and replaces the upload to the KFP API with nothing.

The ``kubeflow`` stack is made active for this process only (``ZENML_ACTIVE_STACK_ID``);
the active stack in the ZenML config is never changed. See ``stacks/kubeflow/README.md``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zenml.integrations.kubeflow.orchestrators.kubeflow_orchestrator import KubeflowOrchestrator

from churnops.settings import run_config
from stacks.kubeflow import settings
from stacks.kubeflow.register import STACK_NAME

if TYPE_CHECKING:
    from zenml.models import PipelineSnapshotResponse
    from zenml.orchestrators import SubmissionResult
    from zenml.pipelines.pipeline_definition import Pipeline
    from zenml.stack import Stack

ACTIVE_STACK_ENV = "ZENML_ACTIVE_STACK_ID"  # zenml.constants.ENV_ZENML_ACTIVE_STACK_ID


class NoKubeflowStackError(RuntimeError):
    """The stack to compile against is not registered."""


class _CompilingKubeflowOrchestrator(KubeflowOrchestrator):
    """ZenML's Kubeflow orchestrator that compiles into a folder and uploads nothing."""

    def __init__(self, *args: Any, output_dir: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._output_dir = output_dir
        self.compiled: Path | None = None

    @property
    def pipeline_directory(self) -> str:
        return str(self._output_dir)

    def _upload_and_run_pipeline(
        self, snapshot: PipelineSnapshotResponse, pipeline_file_path: str, run_name: str,
    ) -> SubmissionResult | None:
        self.compiled = Path(pipeline_file_path)
        return None

    @classmethod
    def of(cls, orchestrator: KubeflowOrchestrator,
           output_dir: Path) -> _CompilingKubeflowOrchestrator:
        """The same component (id, config, environment, secrets), compiling into ``output_dir``."""
        return cls(
            name=orchestrator.name, id=orchestrator.id, config=orchestrator.config,
            flavor=orchestrator.flavor, type=orchestrator.type, user=orchestrator.user,
            created=orchestrator.created, updated=orchestrator.updated,
            environment=orchestrator.environment, secrets=orchestrator.secrets,
            labels=orchestrator.labels,
            connector_requirements=orchestrator.connector_requirements,
            connector=orchestrator.connector,
            connector_resource_id=orchestrator.connector_resource_id,
            output_dir=output_dir,
        )


@contextmanager
def active_stack(name: str = STACK_NAME) -> Iterator[Stack]:
    """Make stack ``name`` the active one for this process only, and yield it."""
    from zenml.client import Client

    try:
        stack_id = str(Client().get_stack(name).id)
    except KeyError as error:
        raise NoKubeflowStackError(f"No '{name}' stack is registered.") from error
    previous = os.environ.get(ACTIVE_STACK_ENV)
    os.environ[ACTIVE_STACK_ENV] = stack_id
    try:
        yield Client().active_stack
    finally:
        if previous is None:
            os.environ.pop(ACTIVE_STACK_ENV, None)
        else:
            os.environ[ACTIVE_STACK_ENV] = previous


def step_environments(snapshot: PipelineSnapshotResponse, stack: Stack) -> tuple[
        dict[str, str], dict[str, dict[str, str]]]:
    """The environment ``BaseOrchestrator.run`` hands to ``submit_pipeline``, less credentials.

    A real submission adds the ZenML server's API token; a compiled file never holds one.
    """
    from zenml.orchestrators.utils import get_config_environment_vars
    from zenml.utils.env_utils import get_runtime_environment

    base, _credentials = get_config_environment_vars()
    steps = {name: {**base, **get_runtime_environment(config=step.config, stack=stack)}
             for name, step in snapshot.step_configurations.items()}
    return base, steps


def store_warning() -> str | None:
    """Why the compiled pods could not reach this client's ZenML store, if they could not.

    Pods report their runs to the store named in their environment (``ZENML_STORE_URL``,
    from this client's configuration). Only a ZenML server is reachable from a cluster; a
    local SQLite store is a file on this machine.
    """
    from zenml.config.global_config import GlobalConfiguration
    from zenml.enums import StoreType

    store = GlobalConfiguration().store_configuration
    if store.type == StoreType.REST:
        return None
    return (f"The step pods would report to the ZenML store {store.url}, which is not a server "
            "and no pod can reach: connect to the ZenML server the cluster uses (`zenml "
            "login <url>`) and compile again.")


def compile_pipeline(pipeline: Pipeline, config_path: Path, out_dir: Path,
                     stack_name: str = STACK_NAME) -> Path:
    """Write the KFP v2 IR of ``pipeline`` to ``out_dir/<pipeline name>.yaml``; return the path.

    Needs the ``kubeflow`` stack registered (``python -m stacks.kubeflow.register``), no
    cluster and no Docker engine. Stores a ZenML snapshot named ``kfp-<pipeline name>``.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with active_stack(stack_name) as stack:
        options = settings.apply(pipeline, run_config(config_path))
        snapshot = pipeline.with_options(**options).create_snapshot(
            name=f"kfp-{pipeline.name}", replace=True)
        stack.validate(fail_if_secrets_missing=True)
        orchestrator = _CompilingKubeflowOrchestrator.of(stack.orchestrator, out_dir)
        base, steps = step_environments(snapshot, stack)
        orchestrator.submit_pipeline(snapshot=snapshot, stack=stack, base_environment=base,
                                     step_environments=steps)
    assert orchestrator.compiled is not None, "the Kubeflow orchestrator compiled nothing"
    return orchestrator.compiled.replace(out_dir / f"{pipeline.name}.yaml")
