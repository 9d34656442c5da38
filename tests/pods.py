"""Stages as pods: each one a process with its own empty working directory and HOME.

A pod shares only what a Kubernetes pod of the ``kubeflow`` stack shares: PostgreSQL (the
deployment record, the inference log, MLflow's backend behind a real ``mlflow server``),
the artifact store, and a real ZenML server (the one ``zenml login --local`` starts). It
runs ``run.py`` from the project, as the pipeline image does, with the stack named by
``ZENML_ACTIVE_STACK_ID``.

The ``pods`` stack registered in that server is the ``local`` stack's flavors pointed at
the shared services: the local orchestrator (each stage process is the pod that runs its
steps), a local-folder artifact store (S3 in a cluster), MLflow tracking and registry on
the MLflow server, and MLflow's model deployer, whose model servers are daemons on this
machine: the one part that stands in for the cluster, because no cluster can run here.

``python -m tests.pods register STORE_URL MLFLOW_URL ARTIFACTS SERVERS`` registers it (the
one-off admin step that ``stacks/kubeflow/register.sh`` is in production) and prints its id.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from churnops import paths

STACK_NAME = "pods"


@dataclass
class Cluster:
    """What the pods share, and where each pod's own folders go."""

    zenml_url: str
    stack_id: str
    deployment_url: str
    inference_log_url: str
    root: Path

    def env(self, name: str) -> dict[str, str]:
        """The environment of pod ``name``: its own HOME and state, the shared services."""
        home = self.root / name / "home"
        home.mkdir(parents=True, exist_ok=True)
        return {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
            "HOME": str(home),
            "ZENML_CONFIG_PATH": str(home / ".config" / "zenml"),
            "ZENML_STORE_URL": self.zenml_url,
            "ZENML_ACTIVE_STACK_ID": self.stack_id,
            "ZENML_ANALYTICS_OPT_IN": "false",
            "ZENML_AUTO_OPEN_DASHBOARD": "false",
            "CHURNOPS_HOME": str(home / "churnops"),
            "CHURNOPS_DEPLOYMENT_URL": self.deployment_url,
            "CHURNOPS_INFERENCE_LOG_URL": self.inference_log_url,
            # The tracker's credentials; the MLflow server of this test checks none.
            "MLFLOW_TRACKING_USERNAME": "pods", "MLFLOW_TRACKING_PASSWORD": "pods",
        }

    def workdir(self, name: str) -> Path:
        path = self.root / name / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(self, name: str, *args: str, timeout: float = 600,
            env: dict[str, str] | None = None, module: str | None = None) -> str:
        """``python run.py ARGS`` (or ``python -m MODULE ARGS``) in pod ``name``, with ``env``
        added; returns its output, fails with it."""
        command = ["-m", module] if module else [str(paths.PROJECT_ROOT / "run.py")]
        result = subprocess.run(
            [sys.executable, *command, *args], cwd=self.workdir(name),
            env={**self.env(name), **(env or {}),
                 **({"PYTHONPATH": str(paths.PROJECT_ROOT)} if module else {})},
            capture_output=True, text=True, timeout=timeout)
        output = result.stdout + result.stderr
        (self.root / name / "output.log").write_text(output)
        if result.returncode != 0:
            raise AssertionError(f"pod {name}: run.py {' '.join(args)} exited "
                                 f"{result.returncode}\n{output[-4000:]}")
        return output


def register(store_url: str, mlflow_url: str, artifacts: str, servers: str) -> str:
    """Register the ``pods`` stack in the ZenML server at ``store_url``; return its id."""
    os.environ["ZENML_STORE_URL"] = store_url
    from zenml.client import Client
    from zenml.enums import StackComponentType as T

    from stacks.local import flavors
    from stacks.registration import ComponentSpec, register_stack

    client = Client()
    register_stack(client, STACK_NAME, [
        ComponentSpec(T.ORCHESTRATOR, "pods", "local"),
        ComponentSpec(T.ARTIFACT_STORE, "pods", "local", {"path": artifacts}),
        ComponentSpec(T.EXPERIMENT_TRACKER, "pods", "mlflow", {
            "tracking_uri": mlflow_url, "tracking_username": "pods",
            "tracking_password": "pods"}),
        ComponentSpec(T.MODEL_REGISTRY, "pods", "mlflow"),
        ComponentSpec(T.MODEL_DEPLOYER, "pods", "mlflow", {"service_path": servers}),
        ComponentSpec(T.FEATURE_STORE, "pods", "feast", {"feast_repo": str(paths.FEATURE_REPO)}),
        ComponentSpec(T.DATA_VALIDATOR, "pods", "gx_evidently"),
    ], flavors())
    return str(client.get_stack(STACK_NAME).id)


if __name__ == "__main__":
    if sys.argv[1:2] != ["register"] or len(sys.argv) != 6:
        sys.exit(__doc__)
    print(register(*sys.argv[2:]))
