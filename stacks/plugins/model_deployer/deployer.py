"""The ``seldon_progressive`` model deployer: ZenML's Seldon deployer with rollouts.

It keeps everything the ``seldon`` deployer does around a deployment (Kubernetes context or
service connector, namespace, storage credentials turned into a Kubernetes secret) and
replaces the deployment itself: a ``SeldonRolloutService`` renders a ``Rollout`` into a
SeldonDeployment with one or two predictors (see ``manifests``).

The project uses it through ``apply_rollout``, ``promote``, ``rollback`` and
``set_canary_share``: one SeldonDeployment (``churn-model``) holds the primary and, for
shadow and canary, the candidate as its predictors (``stacks/access.py``: ``serve_slot``,
``served_promotion``, ``served_rollback``, ``served_canary_share``). Each predictor gets a
Kubernetes Service of its own, and the deployment record holds those Services' URLs
(``SeldonRolloutService.endpoints``), so the prediction service routes each slot itself;
the predictors' weights and shadow flag serve whatever comes through Seldon's ingress.
``BaseModelDeployer.deploy_model`` with a ``SeldonRolloutConfig`` works too, as for every
model deployer.

These paths talk to a real cluster; the manifests they send are built and validated by pure
functions, and ``tests/unit/test_seldon_rollouts.py`` drives them against a stand-in for the
Kubernetes API.
"""

from __future__ import annotations

from typing import ClassVar, cast
from uuid import UUID

from zenml.client import Client
from zenml.integrations.seldon.model_deployers.seldon_model_deployer import (
    DEFAULT_SELDON_DEPLOYMENT_START_STOP_TIMEOUT,
    SeldonModelDeployer,
)
from zenml.logger import get_logger
from zenml.model_deployers import BaseModelDeployerFlavor
from zenml.services.service import BaseService, ServiceConfig

from stacks.plugins.model_deployer import manifests
from stacks.plugins.model_deployer.flavor import (
    SeldonProgressiveDeployerConfig,
    SeldonProgressiveDeployerFlavor,
)
from stacks.plugins.model_deployer.manifests import Rollout, ServerSettings
from stacks.plugins.model_deployer.service import (
    SeldonDeploymentApi,
    SeldonRolloutConfig,
    SeldonRolloutService,
    rollout_of,
)

logger = get_logger(__name__)


class SeldonProgressiveModelDeployer(SeldonModelDeployer):
    """Seldon Core deployments with basic, shadow and canary rollouts."""

    NAME: ClassVar[str] = "Seldon Core (progressive delivery)"
    FLAVOR: ClassVar[type[BaseModelDeployerFlavor]] = SeldonProgressiveDeployerFlavor

    _deployments: SeldonDeploymentApi | None = None

    @property
    def config(self) -> SeldonProgressiveDeployerConfig:
        return cast(SeldonProgressiveDeployerConfig, self._config)

    @property
    def seldon_deployments(self) -> SeldonDeploymentApi:
        """SeldonDeployments in the configured namespace, through the Kubernetes API."""
        from kubernetes import client as k8s_client

        if self._deployments is None or self.connector_has_expired():
            # Building ZenML's client loads the Kubernetes configuration (context,
            # in-cluster or connector) and resolves the namespace.
            seldon_client = self.seldon_client
            connector = self.get_connector()
            api_client = connector.connect() if connector else None
            self._deployments = SeldonDeploymentApi(
                k8s_client.CustomObjectsApi(api_client), seldon_client.namespace)
        return self._deployments

    def server_settings(self, secret_name: str | None) -> ServerSettings:
        """How this component serves every predictor: MLServer's MLflow runtime, V2."""
        return ServerSettings(
            implementation="MLFLOW_SERVER", protocol="v2",
            replicas=self.config.replicas, secret_name=secret_name,
            server_image=self.config.server_image,
            service_account=self.config.service_account_name,
            executor_port=self.config.executor_port,
        )

    # BaseModelDeployer -------------------------------------------------------------------

    def perform_deploy_model(
        self, id: UUID, config: ServiceConfig,
        timeout: int = DEFAULT_SELDON_DEPLOYMENT_START_STOP_TIMEOUT,
    ) -> BaseService:
        """Create or replace the SeldonDeployment of a ``SeldonRolloutConfig``."""
        if not isinstance(config, SeldonRolloutConfig):
            raise TypeError(f"{type(self).__name__} deploys a SeldonRolloutConfig, "
                            f"not {type(config).__name__}")
        secret = config.server.secret_name or self._create_or_update_kubernetes_secret()
        config = config.model_copy(update={"server": self.server_settings(secret)})
        service = SeldonRolloutService(uuid=id, config=config)
        logger.info("Applying SeldonDeployment %s (%s).", service.deployment_name,
                    config.rollout.strategy)
        service.start(timeout=timeout)
        return service

    def perform_delete_model(
        self, service: BaseService,
        timeout: int = DEFAULT_SELDON_DEPLOYMENT_START_STOP_TIMEOUT, force: bool = False,
    ) -> None:
        """Delete the SeldonDeployment, then its storage secret if nothing else uses it."""
        rollout_service = cast(SeldonRolloutService, service)
        rollout_service.stop(timeout=timeout, force=force)
        secret = rollout_service.config.server.secret_name
        if secret and secret != self.config.kubernetes_secret_name and not any(
            cast(SeldonRolloutService, s).config.server.secret_name == secret
            for s in self.find_model_server(service_type=SeldonRolloutService.SERVICE_TYPE)
            if s.uuid != service.uuid
        ):
            self.seldon_client.delete_secret(secret)

    # Rollouts ----------------------------------------------------------------------------

    def find_rollout(self, deployment_name: str) -> SeldonRolloutService | None:
        """The service of the SeldonDeployment ``deployment_name``, if ZenML knows it."""
        services = self.find_model_server(service_name=deployment_name,
                                          service_type=SeldonRolloutService.SERVICE_TYPE)
        return cast(SeldonRolloutService, services[0]) if services else None

    def apply_rollout(
        self, rollout: Rollout, timeout: int = DEFAULT_SELDON_DEPLOYMENT_START_STOP_TIMEOUT,
        pipeline_name: str = "", pipeline_step_name: str = "",
    ) -> SeldonRolloutService:
        """Serve ``rollout``: create its SeldonDeployment, or update the existing one in place.

        ``deploy_model`` is not used here: in continuous mode it deletes the running
        deployment before creating the new one, and otherwise it matches services by a
        configuration filter that ZenML 0.98 ignores. ZenML keeps one service record per
        SeldonDeployment, holding the rollout and this component's server settings. A new
        rollout replaces the record (a new id: ZenML cannot update a service's
        configuration), so the store describes what the cluster serves. The same rollout
        again (a deployment that serves what is already served) is applied again under the
        same record: ZenML refuses two records with one configuration.
        """
        secret = self._create_or_update_kubernetes_secret()
        config = SeldonRolloutConfig(
            name=rollout.deployment_name, service_name=rollout.deployment_name,
            model_name=rollout.model_name, pipeline_name=pipeline_name,
            pipeline_step_name=pipeline_step_name, rollout=rollout,
            server=self.server_settings(secret),
        )
        previous = self.find_rollout(rollout.deployment_name)
        if previous is not None and (previous.config.model_dump(mode="json")
                                     == config.model_dump(mode="json")):
            logger.info("Applying SeldonDeployment %s (%s) again.", previous.deployment_name,
                        rollout.strategy)
            previous.start(timeout=timeout)
            self._save_status(previous)
            return previous
        client = Client()
        record = client.create_service(config=config,
                                       service_type=SeldonRolloutService.SERVICE_TYPE)
        try:
            service = self.perform_deploy_model(record.id, config, timeout)
        except Exception:
            client.delete_service(record.id)
            raise
        self._save_status(service)
        if previous is not None:
            client.delete_service(previous.uuid)  # the record only: the resource lives on
        return cast(SeldonRolloutService, service)

    @staticmethod
    def _save_status(service: BaseService) -> None:
        Client().update_service(
            id=service.uuid, name=service.config.service_name,
            service_source=service.model_dump().get("type"), admin_state=service.admin_state,
            status=service.status.model_dump(), prediction_url=service.get_prediction_url(),
            health_check_url=service.get_healthcheck_url(),
        )

    @staticmethod
    def get_model_server_info(  # type: ignore[override]
        service_instance: SeldonRolloutService,
    ) -> dict[str, str | None]:
        rollout = service_instance.config.rollout
        return {
            "PREDICTION_URL": service_instance.get_prediction_url(),
            "SELDON_DEPLOYMENT": rollout.deployment_name,
            "STRATEGY": rollout.strategy,
            "PRIMARY": rollout.primary.version,
            "CANDIDATE": rollout.candidate.version if rollout.candidate else None,
        }

    def promote(self, deployment_name: str, timeout: int = 300) -> SeldonRolloutService:
        """The candidate becomes the single predictor and takes all the traffic."""
        return self.apply_rollout(manifests.promoted(self._rollout(deployment_name)), timeout)

    def rollback(self, deployment_name: str, timeout: int = 300) -> SeldonRolloutService:
        """Drop the candidate; the primary takes all the traffic again."""
        return self.apply_rollout(manifests.rolled_back(self._rollout(deployment_name)),
                                  timeout)

    def set_canary_share(
        self, deployment_name: str, share: float, timeout: int = 300
    ) -> SeldonRolloutService:
        """Move a canary's traffic split, for example from 10 % to 50 %."""
        rollout = manifests.with_canary_share(self._rollout(deployment_name), share)
        return self.apply_rollout(rollout, timeout)

    def _rollout(self, deployment_name: str) -> Rollout:
        service = self.find_rollout(deployment_name)
        if service is None:
            raise RuntimeError(f"No SeldonDeployment {deployment_name} is known to this "
                               f"model deployer ({self.name}).")
        return rollout_of(service)
