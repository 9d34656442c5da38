"""Register the ``kubeflow`` production stack in the active ZenML store.

| component          | name          | flavor                                                 |
|--------------------|---------------|--------------------------------------------------------|
| orchestrator       | kubeflow      | kubeflow (Kubeflow Pipelines v2)                       |
| artifact store     | minio         | s3 (MinIO through ``client_kwargs.endpoint_url``)      |
| container registry | registry      | default                                                |
| image builder      | docker        | local (idle: the pipeline image is prebuilt, see below)|
| experiment tracker | mlflow_remote | mlflow (remote tracking server)                        |
| model registry     | mlflow_remote | mlflow                                                 |
| model deployer     | seldon        | seldon_progressive (stack plugin: Seldon Core v1)      |
| feature store      | feast_prod    | feast (``CHURNOPS_FEAST_ENV=production``: Redis online)|
| data validator     | gx_evidently  | gx_evidently (stack plugin: GX 1.x + Evidently)        |

Endpoints come from environment variables and credentials go into ZenML secrets; nothing
is read from the repository. Registration is idempotent: existing components are kept as
they are (change one with ``zenml <type> update``). Run it from the project root::

    python -m stacks.kubeflow.register           # or: python stacks/kubeflow/register.py
    python -m stacks.kubeflow.register --help    # every variable
    zenml stack set kubeflow                     # and back: zenml stack set local

``stacks/kubeflow/register.sh`` does the same with the ``zenml`` CLI.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if not __package__:  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stacks import local  # noqa: E402
from stacks.registration import ComponentSpec, FlavorSpec, register_stack  # noqa: E402

if TYPE_CHECKING:
    from zenml.client import Client

logger = logging.getLogger(__name__)

STACK_NAME = "kubeflow"
SELDON_FLAVOR_SOURCE = "stacks.plugins.model_deployer.flavor.SeldonProgressiveDeployerFlavor"
FEAST_ENV = "production"
"""``CHURNOPS_FEAST_ENV`` of every step: ``feature_repo/feature_store.production.yaml``."""

MINIO_SECRET = "churnops-minio"
MLFLOW_SECRET = "churnops-mlflow"
FEAST_SECRET = "churnops-feast"
STATE_SECRET = "churnops-state"
"""The databases every stage shares: the inference log and the deployment record."""


@dataclass(frozen=True)
class Variable:
    """An environment variable the registration reads.

    ``default`` None means required. A secret variable is stored under each
    ``(ZenML secret, key)`` of ``secrets`` and is needed only while one of them is missing.
    """

    name: str
    help: str
    default: str | None = None
    secrets: tuple[tuple[str, str], ...] = ()


VARIABLES: tuple[Variable, ...] = (
    Variable("CHURNOPS_KFP_HOST", "Kubeflow Pipelines API, "
             "e.g. https://kubeflow.example.com/pipeline"),
    Variable("CHURNOPS_KFP_USER_NAMESPACE", "KFP profile namespace of the runs (multi-user "
             "Kubeflow); empty for single-user KFP", ""),
    Variable("CHURNOPS_REGISTRY_URI", "container registry of the pipeline image, "
             "e.g. ghcr.io/churnops"),
    Variable("CHURNOPS_S3_ENDPOINT_URL", "MinIO S3 API endpoint, e.g. http://minio.churnops.svc:9000"),
    Variable("CHURNOPS_ARTIFACT_PATH", "root of the ZenML artifact store on MinIO",
             "s3://churnops/zenml"),
    # The artifact store reads the first key; Feast's s3:// offline source (pyarrow, s3fs)
    # reads the standard AWS variables in the step pods, which the second provides.
    Variable("CHURNOPS_S3_ACCESS_KEY_ID", "MinIO access key",
             secrets=((MINIO_SECRET, "aws_access_key_id"), (FEAST_SECRET, "AWS_ACCESS_KEY_ID"))),
    Variable("CHURNOPS_S3_SECRET_ACCESS_KEY", "MinIO secret key",
             secrets=((MINIO_SECRET, "aws_secret_access_key"),
                      (FEAST_SECRET, "AWS_SECRET_ACCESS_KEY"))),
    Variable("CHURNOPS_MLFLOW_TRACKING_URI", "MLflow tracking server, "
             "e.g. http://mlflow.churnops.svc:5000"),
    Variable("CHURNOPS_MLFLOW_TRACKING_USERNAME", "MLflow user",
             secrets=((MLFLOW_SECRET, "username"),)),
    Variable("CHURNOPS_MLFLOW_TRACKING_PASSWORD", "MLflow password",
             secrets=((MLFLOW_SECRET, "password"),)),
    Variable("CHURNOPS_SELDON_BASE_URL", "ingress base URL of the Seldon deployments, "
             "e.g. http://seldon.churnops.example.com"),
    Variable("CHURNOPS_SELDON_NAMESPACE", "namespace of the SeldonDeployments", "churnops"),
    Variable("CHURNOPS_KUBE_CONTEXT", "kubeconfig context the Seldon deployer uses; empty for "
             "the in-cluster or current context", ""),
    Variable("CHURNOPS_SELDON_STORAGE_SECRET", "Kubernetes secret with the storage credentials "
             "of Seldon's model initializer; empty for none", ""),
    Variable("CHURNOPS_FEAST_REPO", "feature repo inside the pipeline image",
             "/app/feature_repo"),
    Variable("CHURNOPS_FEAST_PROJECT", "Feast project (namespaces registry rows and Redis keys)",
             "churnops"),
    Variable("CHURNOPS_FEAST_OFFLINE_SOURCE", "parquet object of the offline source, "
             "e.g. s3://churnops/feast/customer_snapshot.parquet"),
    Variable("CHURNOPS_FEAST_REGISTRY_URL", "Feast SQL registry, "
             "e.g. postgresql+psycopg://feast:PASSWORD@postgres:5432/feast",
             secrets=((FEAST_SECRET, "CHURNOPS_FEAST_REGISTRY_URL"),)),
    Variable("CHURNOPS_FEAST_REDIS", "Feast Redis connection string, "
             "e.g. redis:6379,password=PASSWORD",
             secrets=((FEAST_SECRET, "CHURNOPS_FEAST_REDIS"),)),
    Variable("CHURNOPS_INFERENCE_LOG_URL", "the inference log the service writes and the "
             "monitoring and retraining steps read, "
             "e.g. postgresql+psycopg://churnops:PASSWORD@postgres:5432/churnops",
             secrets=((STATE_SECRET, "CHURNOPS_INFERENCE_LOG_URL"),)),
    Variable("CHURNOPS_DEPLOYMENT_URL", "the deployment record the deployment steps publish "
             "to and the service watches (the same database will do)",
             secrets=((STATE_SECRET, "CHURNOPS_DEPLOYMENT_URL"),)),
)


class MissingSettings(RuntimeError):
    """Required variables are unset."""


def read_variables(env: Mapping[str, str], client: Client | None) -> dict[str, str]:
    """Every variable's value, defaults filled in. Raises ``MissingSettings`` naming the
    unset required ones; a secret variable is required only while its secret is missing."""
    existing = _existing_secrets(client) if client is not None else set()
    values: dict[str, str] = {}
    missing: list[str] = []
    for variable in VARIABLES:
        value = env.get(variable.name, "").strip()
        if variable.secrets and {name for name, _ in variable.secrets} <= existing:
            values[variable.name] = value
            continue
        if not value and variable.default is None:
            missing.append(variable.name)
        values[variable.name] = value or (variable.default or "")
    if missing:
        raise MissingSettings(
            "Set " + ", ".join(missing) + " (see `python -m stacks.kubeflow.register --help`).")
    return values


def _existing_secrets(client: Client) -> set[str]:
    names = {name for variable in VARIABLES for name, _ in variable.secrets}
    existing = set()
    for name in names:
        try:
            client.get_secret(name)
        except KeyError:
            continue
        existing.add(name)
    return existing


def secrets(values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The ZenML secrets to create or update: name -> key -> value (only values given)."""
    found: dict[str, dict[str, str]] = {}
    for variable in VARIABLES:
        for name, key in variable.secrets if values.get(variable.name) else ():
            found.setdefault(name, {})[key] = values[variable.name]
    return found


def components(values: Mapping[str, str]) -> list[ComponentSpec]:
    from zenml.enums import StackComponentType as T

    v = values
    seldon = {
        "kubernetes_namespace": v["CHURNOPS_SELDON_NAMESPACE"],
        "base_url": v["CHURNOPS_SELDON_BASE_URL"],
        "kubernetes_context": v["CHURNOPS_KUBE_CONTEXT"] or None,
        "kubernetes_secret_name": v["CHURNOPS_SELDON_STORAGE_SECRET"] or None,
    }
    orchestrator = {"kubeflow_hostname": v["CHURNOPS_KFP_HOST"],
                    "user_namespace": v["CHURNOPS_KFP_USER_NAMESPACE"] or None}
    return [
        # Every step pod gets the shared databases' URLs, as the service does (deploy/k8s).
        ComponentSpec(T.ORCHESTRATOR, "kubeflow", "kubeflow", _drop_none(orchestrator),
                      secrets=(STATE_SECRET,)),
        ComponentSpec(T.ARTIFACT_STORE, "minio", "s3", {
            "path": v["CHURNOPS_ARTIFACT_PATH"],
            "client_kwargs": {"endpoint_url": v["CHURNOPS_S3_ENDPOINT_URL"]},
            # A named secret instead of `key`/`secret` fields: `--secret` is also the CLI's
            # option to attach secrets, so the `secret` field cannot be set from the CLI.
            "authentication_secret": MINIO_SECRET,
        }),
        ComponentSpec(T.CONTAINER_REGISTRY, "registry", "default",
                      {"uri": v["CHURNOPS_REGISTRY_URI"]}),
        ComponentSpec(T.IMAGE_BUILDER, "docker", "local"),
        ComponentSpec(T.EXPERIMENT_TRACKER, "mlflow_remote", "mlflow", {
            "tracking_uri": v["CHURNOPS_MLFLOW_TRACKING_URI"],
            "tracking_username": _reference(MLFLOW_SECRET, "username"),
            "tracking_password": _reference(MLFLOW_SECRET, "password"),
        }),
        ComponentSpec(T.MODEL_REGISTRY, "mlflow_remote", "mlflow"),
        ComponentSpec(T.MODEL_DEPLOYER, "seldon", "seldon_progressive", _drop_none(seldon)),
        ComponentSpec(
            T.FEATURE_STORE, "feast_prod", "feast", {"feast_repo": v["CHURNOPS_FEAST_REPO"]},
            # Every step pod gets these; churnops.features picks the production config.
            environment={"CHURNOPS_FEAST_ENV": FEAST_ENV,
                         "CHURNOPS_FEAST_PROJECT": v["CHURNOPS_FEAST_PROJECT"],
                         "CHURNOPS_FEAST_OFFLINE_SOURCE": v["CHURNOPS_FEAST_OFFLINE_SOURCE"],
                         "AWS_ENDPOINT_URL": v["CHURNOPS_S3_ENDPOINT_URL"]},  # s3:// is MinIO
            # Registry URL, Redis string and MinIO keys: ZenML resolves them in the pod.
            secrets=(FEAST_SECRET,),
        ),
        ComponentSpec(T.DATA_VALIDATOR, "gx_evidently", "gx_evidently"),
    ]


def _reference(secret: str, key: str) -> str:
    """A ZenML secret reference, resolved when the component is used: ``{{secret.key}}``."""
    return "{{" + f"{secret}.{key}" + "}}"


def _drop_none(config: dict[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in config.items() if value is not None}


def flavors() -> list[FlavorSpec]:
    from zenml.enums import StackComponentType as T

    return [*local.flavors(), FlavorSpec(SELDON_FLAVOR_SOURCE, T.MODEL_DEPLOYER)]


def ensure_secrets(client: Client, values: Mapping[str, str]) -> None:
    """Create each secret, or update it with the values given."""
    for name, secret_values in secrets(values).items():
        try:
            client.get_secret(name)
        except KeyError:
            client.create_secret(name, secret_values)
            logger.info("Created the ZenML secret '%s'.", name)
        else:
            client.update_secret(name, add_or_update_values=secret_values)
            logger.info("Updated the ZenML secret '%s'.", name)


def register(client: Client, env: Mapping[str, str] | None = None) -> bool:
    """Register the stack (and its secrets) unless it exists. Returns True when created.

    Does not activate it: ``zenml stack set kubeflow`` does.
    """
    values = read_variables(os.environ if env is None else env, client)
    ensure_secrets(client, values)
    return register_stack(client, STACK_NAME, components(values), flavors())


def _help_epilog() -> str:
    rows = []
    for variable in VARIABLES:
        if variable.secrets:
            note = "[" + "; ".join(f"ZenML secret {name}, key {key}"
                                   for name, key in variable.secrets) + "]"
        elif variable.default is None:
            note = "[required]"
        else:
            note = f"[default: {variable.default!r}]"
        rows.append(f"  {variable.name}\n      {variable.help} {note}")
    return ("environment variables:\n" + "\n".join(rows) +
            "\n\nSecret variables are needed only while their ZenML secret does not exist; "
            "when set, they update it.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.kubeflow.register",
        description=f"Register the '{STACK_NAME}' ZenML stack (Kubeflow Pipelines, MinIO, "
                    "remote MLflow, Seldon Core, Feast on Redis) in the active ZenML store. "
                    f"Activate it with `zenml stack set {STACK_NAME}`.",
        epilog=_help_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    stacks_logger = logging.getLogger("stacks")  # ZenML's handlers would print it twice
    stacks_logger.setLevel(logging.INFO)
    stacks_logger.addHandler(handler)
    stacks_logger.propagate = False
    warnings.filterwarnings("ignore", category=FutureWarning)  # google.api_core, via kfp
    from zenml.client import Client
    from zenml.utils import source_utils

    from churnops import paths

    source_utils.set_custom_source_root(str(paths.PROJECT_ROOT))  # resolves the plugin flavors
    try:
        created = register(Client())
    except MissingSettings as error:
        print(error, file=sys.stderr)
        return 2
    state = "Registered" if created else "Kept the existing"
    print(f"{state} stack '{STACK_NAME}'. Activate it with `zenml stack set {STACK_NAME}`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
