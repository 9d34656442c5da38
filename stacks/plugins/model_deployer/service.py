"""A ZenML service for one SeldonDeployment that serves a rollout (basic, shadow or canary).

The service's configuration holds the ``Rollout``; ``provision`` renders it with
``manifests.build_seldon_deployment`` and applies it through the Kubernetes API. Applying
replaces the resource in place: Seldon keeps the pods of predictors that did not change
and only moves the traffic. ``endpoints`` gives each version's predictor URL, named by the
same function as the manifest's predictors (``manifests.predictor_address``).

ZenML's own ``SeldonClient`` is not used for the resource itself: it round-trips manifests
through a pydantic model that lacks ``traffic``, ``shadow`` and the predictors' ``labels``
and ignores unknown fields, so a canary or a shadow would reach the cluster without its
weights and flags (and Seldon's webhook would reject two predictors without weights).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from pydantic import Field
from zenml.enums import ServiceState
from zenml.models.v2.misc.service import ServiceType
from zenml.services.service import BaseDeploymentService, ServiceConfig
from zenml.services.service_status import ServiceStatus

from stacks.plugins.model_deployer import manifests
from stacks.plugins.model_deployer.manifests import Rollout, ServerSettings
from stacks.plugins.model_deployer.validation import InvalidSeldonDeployment, admission_errors

if TYPE_CHECKING:
    from kubernetes.client import CustomObjectsApi

    from stacks.plugins.model_deployer.deployer import SeldonProgressiveModelDeployer


class SeldonRolloutConfig(ServiceConfig):
    """A rollout and how its predictors are served.

    ``server`` is filled in from the model deployer's settings when the service is
    deployed, so a pipeline step only decides what to serve.
    """

    rollout: Rollout
    server: ServerSettings = Field(default_factory=ServerSettings)

    def manifest(self, namespace: str | None = None) -> dict[str, Any]:
        return manifests.build_seldon_deployment(self.rollout, self.server, namespace)

    def endpoints(self, namespace: str) -> dict[str, str]:
        """Version -> the in-cluster V2 URL of the predictor that serves it."""
        addresses = manifests.predictor_addresses(self.rollout, namespace,
                                                  self.server.executor_port)
        return {version: str(a.url) for version, a in addresses.items()}


class SeldonRolloutServiceStatus(ServiceStatus):
    """Status of a SeldonDeployment, as its ``status.state`` reports it."""


class SeldonDeploymentApi:
    """Create, replace, read and delete SeldonDeployments in one namespace."""

    def __init__(self, custom_objects: CustomObjectsApi, namespace: str) -> None:
        self._api = custom_objects
        self.namespace = namespace

    def _args(self) -> dict[str, str]:
        return {"group": manifests.GROUP, "version": manifests.VERSION,
                "namespace": self.namespace, "plural": manifests.PLURAL}

    def get(self, name: str) -> dict[str, Any] | None:
        from kubernetes.client.rest import ApiException

        try:
            return self._api.get_namespaced_custom_object(name=name, **self._args())
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create the resource, or replace it (the whole spec, so dropped predictors go)."""
        errors = admission_errors(manifest)
        if errors:  # fail here rather than in Seldon's webhook
            raise InvalidSeldonDeployment(errors)
        name = manifest["metadata"]["name"]
        current = self.get(name)
        if current is None:
            return self._api.create_namespaced_custom_object(body=manifest, **self._args())
        body = {**manifest, "metadata": {
            **manifest["metadata"],
            "resourceVersion": current["metadata"]["resourceVersion"]}}  # optimistic lock
        return self._api.replace_namespaced_custom_object(name=name, body=body, **self._args())

    def delete(self, name: str) -> None:
        from kubernetes.client.rest import ApiException

        try:
            self._api.delete_namespaced_custom_object(name=name, **self._args())
        except ApiException as error:
            if error.status != 404:
                raise


class SeldonRolloutService(BaseDeploymentService):
    """One SeldonDeployment, named by ``config.rollout.deployment_name``."""

    SERVICE_TYPE = ServiceType(
        name="seldon-progressive-deployment",
        type="model-serving",
        flavor="seldon_progressive",
        description="Seldon Core deployment with shadow and canary predictors (MLServer, V2)",
        logo_url="https://public-flavor-logos.s3.eu-central-1.amazonaws.com/model_deployer/"
                 "seldon.png",
    )

    config: SeldonRolloutConfig
    status: SeldonRolloutServiceStatus = Field(default_factory=SeldonRolloutServiceStatus)

    @property
    def deployment_name(self) -> str:
        return self.config.rollout.deployment_name

    def _deployer(self) -> SeldonProgressiveModelDeployer:
        from stacks.plugins.model_deployer.deployer import SeldonProgressiveModelDeployer

        deployer = SeldonProgressiveModelDeployer.get_active_model_deployer()
        if not isinstance(deployer, SeldonProgressiveModelDeployer):
            raise RuntimeError("The active stack's model deployer is not seldon_progressive.")
        return deployer

    def _api(self) -> SeldonDeploymentApi:
        return self._deployer().seldon_deployments

    def provision(self) -> None:
        api = self._api()
        api.apply(self.config.manifest(api.namespace))

    def deprovision(self, force: bool = False) -> None:
        self._api().delete(self.deployment_name)

    def check_status(self) -> tuple[ServiceState, str]:
        """Seldon's ``status.state``. Right after an update it can still describe the
        previous generation for a moment, until the operator has reconciled the change."""
        resource = self._api().get(self.deployment_name)
        if resource is None:
            return ServiceState.INACTIVE, ""
        status = resource.get("status") or {}
        state, description = status.get("state", "Unknown"), status.get("description", "")
        name = self.deployment_name
        if state == "Available":
            return ServiceState.ACTIVE, f"SeldonDeployment {name} is available"
        if state == "Failed":
            return ServiceState.ERROR, f"SeldonDeployment {name} failed: {description}"
        return ServiceState.PENDING_STARTUP, f"SeldonDeployment {name} is {state}: {description}"

    def get_logs(self, follow: bool = False, tail: int | None = None) -> Any:
        raise NotImplementedError(
            f"Read the model server logs with `kubectl logs -l "
            f"seldon-deployment-id={self.deployment_name} -c {self.config.rollout.model_name}`.")

    @property
    def prediction_url(self) -> str | None:
        """The V2 inference URL behind Seldon's ingress (the deployer's ``base_url``), which
        splits and mirrors by the predictors' weights; ``endpoints`` has each predictor's."""
        deployer = self._deployer()
        namespace = deployer.config.kubernetes_namespace or deployer.seldon_deployments.namespace
        return manifests.prediction_url(deployer.config.base_url, namespace,
                                        self.deployment_name, self.config.rollout.model_name)

    def endpoints(self) -> dict[str, str]:
        """Version -> the in-cluster V2 URL of its predictor's Service, in the namespace the
        SeldonDeployment is applied to. The prediction service sends each slot there."""
        return self.config.endpoints(self._api().namespace)

    def get_healthcheck_url(self) -> str | None:
        url = self.prediction_url
        return url.removesuffix("/infer") + "/ready" if url else None


def rollout_of(service: Any) -> Rollout:
    """The rollout a ``SeldonRolloutService`` serves."""
    return cast(SeldonRolloutService, service).config.rollout
