"""The ``seldon_progressive`` model deployer flavor: its settings and where its code lives.

The settings extend ZenML's ``SeldonModelDeployerConfig`` (Kubernetes context and
namespace, ingress base URL, storage credentials), so a stack can swap ``seldon`` for
``seldon_progressive`` without changing anything else. This module imports only ZenML;
the Kubernetes client is imported when the deployer first talks to a cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field
from zenml.integrations.seldon.flavors.seldon_model_deployer_flavor import (
    SeldonModelDeployerConfig,
    SeldonModelDeployerFlavor,
)

if TYPE_CHECKING:
    from stacks.plugins.model_deployer.deployer import SeldonProgressiveModelDeployer

FLAVOR_NAME = "seldon_progressive"


class SeldonProgressiveDeployerConfig(SeldonModelDeployerConfig):
    """Settings of a ``seldon_progressive`` model deployer component.

    Attributes:
        secret: Name of a ZenML secret with the storage credentials Seldon's storage
            initializer needs to fetch model artifacts (optional, unlike upstream).
        kubernetes_secret_name: Name of an existing Kubernetes secret with those
            credentials, when the cluster already has one (optional, unlike upstream).
        replicas: Replicas per predictor.
        server_image: MLServer image for the model containers, instead of the one Seldon's
            configuration names for ``MLFLOW_SERVER``. Its MLflow, scikit-learn and skops
            must be able to load the registered models (see the package's docstring).
        service_account_name: Service account of the model containers (for example one
            with a cloud IAM role that can read the artifact store).
        executor_port: The HTTP port of the predictors' Kubernetes Services: the Seldon
            operator's executor port (its ``ENGINE_SERVER_PORT``, Helm value
            ``executor.port``; 8000 unless the cluster changed it). The endpoints published
            to the deployment record use it.
    """

    secret: str | None = None
    kubernetes_secret_name: str | None = None
    replicas: int = Field(1, ge=1)
    server_image: str | None = None
    service_account_name: str | None = None
    executor_port: int = Field(8000, ge=1, le=65535)


class SeldonProgressiveDeployerFlavor(SeldonModelDeployerFlavor):
    """Seldon Core v1 with shadow and canary predictors, served by MLServer (V2)."""

    @property
    def name(self) -> str:
        return FLAVOR_NAME

    @property
    def display_name(self) -> str:
        return "Seldon Core (progressive delivery)"

    @property
    def docs_url(self) -> str:
        return "https://docs.seldon.io/projects/seldon-core/en/latest/"

    @property
    def sdk_docs_url(self) -> str:
        return self.docs_url

    @property
    def config_class(self) -> type[SeldonProgressiveDeployerConfig]:
        return SeldonProgressiveDeployerConfig

    @property
    def implementation_class(self) -> type[SeldonProgressiveModelDeployer]:
        from stacks.plugins.model_deployer.deployer import SeldonProgressiveModelDeployer

        return SeldonProgressiveModelDeployer
