"""SeldonDeployment manifests for the three deployment strategies, as plain dictionaries.

Everything here is a pure function of its arguments, so every manifest the deployer would
send can be built and checked without a cluster. One SeldonDeployment serves one endpoint;
its predictors are the model versions behind it:

- ``basic``: one predictor, the primary, with all the traffic.
- ``shadow``: the primary with all the traffic, and the candidate as a ``shadow: true``
  predictor. The ingress (Istio or Ambassador) mirrors every request to the shadow and
  drops its answers.
- ``canary``: two predictors whose ``traffic`` weights split the requests, for example
  90/10 for a canary share of 0.1.

Promotion and rollback are new rollouts of the same SeldonDeployment: the candidate, or the
primary, becomes the single predictor. A served model's ``model_uri`` here is where Seldon's
storage initializer downloads it (s3://, gs://, ...; the registry's download URI, not
models:/). A predictor is named after the version it serves
(``v7``), never after its role, so promoting a candidate leaves its pods as they are and
only the routing changes.

Every predictor gives its graph the same name, ``model_name``. MLServer serves the model
under that name, so the V2 inference path (``/v2/models/<model_name>/infer``) is the same
whichever predictor the ingress picks.

``predictor_address`` is the one place that names a predictor and the in-cluster URL of the
Kubernetes Service Seldon Core creates for it. The manifest takes the predictor's name from
it (and lists each endpoint in an annotation), and the deployment pipeline publishes the URL
to the deployment record, from which the prediction service routes each slot itself.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from churnops.deployment import ServedModel, Strategy

API_VERSION = "machinelearning.seldon.io/v1"
KIND = "SeldonDeployment"
GROUP, VERSION = API_VERSION.split("/")
PLURAL = "seldondeployments"

ANNOTATION_PREFIX = "churnops.io/"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MODEL_LABEL = "app.kubernetes.io/name"
ENDPOINT_ANNOTATION = f"{ANNOTATION_PREFIX}endpoint-"  # + the predictor's name

EXECUTOR_HTTP_PORT = 8000
"""The HTTP port of every predictor's Service: Seldon Core v1's executor (service
orchestrator) port, ``DEFAULT_ENGINE_CONTAINER_PORT``; the operator's ``ENGINE_SERVER_PORT``
(Helm value ``executor.port``) changes it cluster-wide."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _dns_label(value: str) -> str:
    """Kubernetes names built from ``value`` need it to be a DNS-1123 label."""
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase letters, digits and "
                         "'-', at most 63 characters)")
    return value


class ServerSettings(BaseModel):
    """How every predictor of a deployment is served."""

    model_config = ConfigDict(frozen=True)

    implementation: str = Field("MLFLOW_SERVER", description="Seldon prepackaged server.")
    protocol: str = Field("v2", description="v2: the Open Inference Protocol (MLServer).")
    replicas: int = Field(1, ge=1)
    secret_name: str | None = Field(
        None, description="Kubernetes secret with the storage initializer's credentials.")
    server_image: str | None = Field(
        None, description="Image for the model container instead of the one Seldon's "
                          "configuration names for the implementation.")
    service_account: str | None = None
    executor_port: int = Field(
        EXECUTOR_HTTP_PORT, ge=1, le=65535,
        description="HTTP port of the predictors' Services (the operator's executor port).")


class Rollout(BaseModel):
    """What one SeldonDeployment serves: the strategy and the versions behind it."""

    model_config = ConfigDict(frozen=True)

    deployment_name: str = Field(description="metadata.name of the SeldonDeployment.")
    model_name: str = Field(description="Graph name in every predictor; the V2 model name.")
    strategy: Strategy
    primary: ServedModel
    candidate: ServedModel | None = None
    canary_share: float = Field(0.0, ge=0, le=1)

    @field_validator("deployment_name", "model_name")
    @classmethod
    def _names_are_labels(cls, value: str) -> str:
        return _dns_label(value)

    @model_validator(mode="after")
    def _candidate_matches_strategy(self) -> Rollout:
        if (self.strategy == "basic") != (self.candidate is None):
            raise ValueError("a candidate is required for shadow and canary, and only there")
        if self.candidate is not None and self.candidate.version == self.primary.version:
            raise ValueError(f"v{self.primary.version} cannot be its own candidate")
        if self.strategy == "canary":
            canary_traffic(self.canary_share)  # raises unless the share is a usable weight
        elif self.canary_share:
            raise ValueError("canary_share applies to the canary strategy only")
        return self


class PredictorAddress(NamedTuple):
    """Where a version is served inside a SeldonDeployment."""

    name: str
    """The predictor in ``spec.predictors``: ``v<version>``."""
    service: str
    """The Kubernetes Service Seldon Core creates for the predictor."""
    url: str | None
    """The Service's in-cluster V2 inference URL; None without a namespace."""


def predictor_address(
    deployment_name: str, model_name: str, version: str, namespace: str | None,
    port: int = EXECUTOR_HTTP_PORT,
) -> PredictorAddress:
    """The predictor serving ``version`` in SeldonDeployment ``deployment_name``: its name, its
    Kubernetes Service and that Service's V2 inference URL.

    The one function for these names: ``build_seldon_deployment`` names the predictor with
    it, and the deployment pipeline publishes the URL as the slot's endpoint.

    Seldon Core v1.17.1 names the Service of a predictor ``<deployment>-<predictor>``, or
    ``seldon-<md5 of that>`` when it is longer than 63 characters
    (``operator/apis/machinelearning.seldon.io/v1/seldondeployment_types.go``,
    ``getPredictorKeyAutoGenerated``), unless the predictor has a ``seldon.io/svc-name``
    annotation (this project sets none). The Service listens on the executor's HTTP port,
    8000 by default, and Seldon itself reports it as ``<service>.<namespace>:<port>``
    (``operator/controllers/seldondeployment_controller.go``, ``createComponents`` and
    ``createPredictorService``). For ``protocol: v2`` the executor answers
    ``/v2/models/<model>/infer`` and ``/v2/models/<model>/ready``
    (``executor/api/rest/server.go``).
    """
    name = _dns_label(f"v{version}".lower())
    service = f"{deployment_name}-{name}"
    if len(service) > 63:
        service = "seldon-" + hashlib.md5(service.encode()).hexdigest()
    url = (f"http://{service}.{namespace}:{port}/v2/models/{model_name}/infer"
           if namespace else None)
    return PredictorAddress(name, service, url)


def predictor_addresses(
    rollout: Rollout, namespace: str | None, port: int = EXECUTOR_HTTP_PORT,
) -> dict[str, PredictorAddress]:
    """Version -> where it is served, for every version of ``rollout``."""
    models = [rollout.primary, *([rollout.candidate] if rollout.candidate else [])]
    return {m.version: predictor_address(rollout.deployment_name, rollout.model_name,
                                         m.version, namespace, port) for m in models}


def canary_traffic(share: float) -> tuple[int, int]:
    """Integer traffic weights ``(primary, candidate)`` for a canary ``share`` in (0, 1).

    Seldon's weights are whole percents that sum to 100, so the share is rounded to the
    nearest percent (half up); a share that rounds to 0 or 100 is not a canary.
    """
    candidate = math.floor(share * 100 + 0.5)
    if not 0 < candidate < 100:
        raise ValueError(f"a canary share of {share} rounds to {candidate} % of the traffic; "
                         "use a share between 0.01 and 0.99")
    return 100 - candidate, candidate


def promoted(rollout: Rollout) -> Rollout:
    """The candidate becomes the single predictor, with all the traffic."""
    if rollout.candidate is None:
        raise ValueError(f"{rollout.deployment_name} has no candidate to promote")
    return Rollout(deployment_name=rollout.deployment_name, model_name=rollout.model_name,
                   strategy="basic", primary=rollout.candidate)


def rolled_back(rollout: Rollout) -> Rollout:
    """The candidate is dropped; the primary takes all the traffic again."""
    if rollout.candidate is None:
        raise ValueError(f"{rollout.deployment_name} has no candidate to roll back")
    return Rollout(deployment_name=rollout.deployment_name, model_name=rollout.model_name,
                   strategy="basic", primary=rollout.primary)


def with_canary_share(rollout: Rollout, share: float) -> Rollout:
    """The same canary with another share of the traffic (to ramp it up or down)."""
    if rollout.strategy != "canary":
        raise ValueError(f"{rollout.deployment_name} runs {rollout.strategy}, not a canary")
    return Rollout.model_validate({**rollout.model_dump(), "canary_share": share})


def rollout_annotations(rollout: Rollout) -> dict[str, str]:
    """What the deployment serves, readable with ``kubectl describe`` (values are strings)."""
    annotations = {
        f"{ANNOTATION_PREFIX}strategy": rollout.strategy,
        f"{ANNOTATION_PREFIX}primary": rollout.primary.version,
    }
    if rollout.candidate is not None:
        annotations[f"{ANNOTATION_PREFIX}candidate"] = rollout.candidate.version
    if rollout.strategy == "canary":
        annotations[f"{ANNOTATION_PREFIX}canary-share"] = f"{rollout.canary_share:g}"
    return annotations


def build_seldon_deployment(
    rollout: Rollout,
    server: ServerSettings | None = None,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The SeldonDeployment (``machinelearning.seldon.io/v1``) that serves ``rollout``."""
    server = server or ServerSettings()
    addresses = predictor_addresses(rollout, namespace, server.executor_port)
    endpoints = {f"{ENDPOINT_ANNOTATION}{a.name}": a.url for a in addresses.values() if a.url}
    metadata: dict[str, Any] = {
        "name": rollout.deployment_name,
        "labels": {MANAGED_BY_LABEL: "zenml", MODEL_LABEL: rollout.model_name,
                   **(labels or {})},
        "annotations": {**rollout_annotations(rollout), **endpoints, **(annotations or {})},
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"protocol": server.protocol,
                 "predictors": _predictors(rollout, server, addresses)},
    }


def _predictors(rollout: Rollout, server: ServerSettings,
                addresses: dict[str, PredictorAddress]) -> list[dict[str, Any]]:
    primary, candidate = rollout.primary, rollout.candidate

    def predictor(model: ServedModel, traffic: int | None = None,
                  shadow: bool = False) -> dict[str, Any]:
        return _predictor(model, addresses[model.version].name, rollout.model_name, server,
                          traffic, shadow)

    if rollout.strategy == "basic":
        return [predictor(primary, traffic=100)]
    assert candidate is not None  # the Rollout validator guarantees it
    if rollout.strategy == "shadow":
        return [predictor(primary, traffic=100), predictor(candidate, shadow=True)]
    primary_weight, candidate_weight = canary_traffic(rollout.canary_share)
    return [predictor(primary, traffic=primary_weight),
            predictor(candidate, traffic=candidate_weight)]


def _predictor(
    model: ServedModel, name: str, model_name: str, server: ServerSettings,
    traffic: int | None = None, shadow: bool = False,
) -> dict[str, Any]:
    graph: dict[str, Any] = {
        "name": model_name,
        "type": "MODEL",
        "implementation": server.implementation,
        "modelUri": model.model_uri,
        "children": [],
    }
    if server.secret_name:
        graph["envSecretRefName"] = server.secret_name
    if server.service_account:
        graph["serviceAccountName"] = server.service_account
    # Seldon's Istio subsets select pods by the predictor's "version" label.
    predictor: dict[str, Any] = {"name": name, "replicas": server.replicas, "graph": graph,
                                 "labels": {"version": name}}
    if traffic is not None:
        predictor["traffic"] = traffic
    if shadow:
        predictor["shadow"] = True
    if server.server_image:
        # A container named like the graph unit overrides the prepackaged server's image.
        predictor["componentSpecs"] = [
            {"spec": {"containers": [{"name": model_name, "image": server.server_image}]}}]
    return predictor


def predictors_by_name(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A manifest's predictors keyed by name."""
    return {p["name"]: p for p in manifest["spec"]["predictors"]}


def prediction_url(base_url: str, namespace: str, deployment_name: str, model_name: str) -> str:
    """The V2 inference URL of a deployment behind Seldon's ingress.

    The ingress routes ``/seldon/<namespace>/<deployment>/`` to the deployment's predictors
    (rewriting it to ``/``) by their ``traffic`` and ``shadow``; MLServer answers the Open
    Inference Protocol below it. The prediction service does not use it: it splits the
    traffic itself, over each predictor's own URL (``predictor_address``).
    """
    return (f"{base_url.rstrip('/')}/seldon/{namespace}/{deployment_name}"
            f"/v2/models/{model_name}/infer")
