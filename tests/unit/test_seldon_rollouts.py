"""Seldon rollouts on the ``seldon_progressive`` deployer, step by step, without a cluster.

The flows run the project's own code: the deployment steps' functions (``serve_in_slot``,
``publish``), the candidate functions (``set_canary_share``, ``rollback_candidate``), the
flavor dispatch in ``stacks.access`` (``serve_slot``, ``served_promotion``, ...), the real
``SeldonProgressiveModelDeployer`` methods (``apply_rollout``, ``promote``, ``rollback``,
``set_canary_share``) with their ZenML service records in the test session's store, and a
deployment record in a temporary SQLite database.

Only the Kubernetes API is a stand-in (``FakeSeldonCluster``, in place of
``kubernetes.client.CustomObjectsApi``), because no cluster can exist where these tests
run. It keeps the SeldonDeployments it is sent, answers as the API server does (404, a
conflict on a stale ``resourceVersion``) and reports each one ``Available``, as Seldon's
operator would once it has reconciled it.

At every step the manifest the API received is validated against the SeldonDeployment CRD
(schema, pruned fields, Seldon's admission rules), and its predictors are checked against
the endpoints the flow publishes to the deployment record: Seldon Core gives each predictor
the Service ``<deployment>-<predictor>`` on the executor's port 8000, and that is where the
prediction service must send the slot's requests. Like ``test_seldon_deployments.py``, the
tests skip without the CRD, and fail where ``../shared`` exists but lacks it.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from churnops import REGISTERED_MODEL_NAME, paths
from churnops.deployment import LiveDeployment, ServedModel, SmokeTestResult
from churnops.deployment_record import DeploymentRecord, read_live
from churnops.protocols import V2Protocol, protocol_for_endpoint
from stacks.plugins.model_deployer.manifests import ENDPOINT_ANNOTATION, predictor_address
from stacks.plugins.model_deployer.validation import validate_manifest
from tests.unit.test_seldon_deployments import CANDIDATE as V4
from tests.unit.test_seldon_deployments import FLAVOR_SOURCE, require_crd
from tests.unit.test_seldon_deployments import PRIMARY as V3

NAMESPACE = "churnops"
V5 = V3.model_copy(update={"version": "5", "threshold": 0.40,
                           "model_uri": "s3://churnops-artifacts/models/m-5/artifacts"})
TIMEOUT = 5


@pytest.fixture(scope="module")
def crd() -> Path:
    return require_crd()


# The stand-in for the Kubernetes API ---------------------------------------------------------


class FakeSeldonCluster:
    """Stands in for ``kubernetes.client.CustomObjectsApi`` (no cluster can exist here).

    Holds SeldonDeployments by name, records every call with a copy of what was sent, and
    marks each stored resource with ``status.state`` = ``state`` (``Available``: what
    Seldon's operator reports once the predictors run).
    """

    def __init__(self, state: str = "Available") -> None:
        self.state = state
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._version = 0

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self._version)
        stored["status"] = {"state": self.state, "description": ""}
        self.objects[stored["metadata"]["name"]] = stored
        return copy.deepcopy(stored)

    @staticmethod
    def _check(kwargs: dict[str, Any]) -> None:
        assert (kwargs["group"], kwargs["version"], kwargs["plural"], kwargs["namespace"]) == (
            "machinelearning.seldon.io", "v1", "seldondeployments", NAMESPACE)

    def get_namespaced_custom_object(self, **kwargs: Any) -> dict[str, Any]:
        from kubernetes.client.rest import ApiException

        self._check(kwargs)
        self.calls.append(("get", {"name": kwargs["name"]}))
        if kwargs["name"] not in self.objects:
            raise ApiException(status=404)
        return copy.deepcopy(self.objects[kwargs["name"]])

    def create_namespaced_custom_object(self, **kwargs: Any) -> dict[str, Any]:
        from kubernetes.client.rest import ApiException

        self._check(kwargs)
        self.calls.append(("create", copy.deepcopy(kwargs["body"])))
        if kwargs["body"]["metadata"]["name"] in self.objects:
            raise ApiException(status=409)
        return self._store(kwargs["body"])

    def replace_namespaced_custom_object(self, **kwargs: Any) -> dict[str, Any]:
        from kubernetes.client.rest import ApiException

        self._check(kwargs)
        self.calls.append(("replace", copy.deepcopy(kwargs["body"])))
        current = self.objects.get(kwargs["name"])
        if current is None:
            raise ApiException(status=404)
        if (kwargs["body"]["metadata"].get("resourceVersion")
                != current["metadata"]["resourceVersion"]):
            raise ApiException(status=409)  # optimistic concurrency, as the API server
        return self._store(kwargs["body"])

    def delete_namespaced_custom_object(self, **kwargs: Any) -> None:
        from kubernetes.client.rest import ApiException

        self._check(kwargs)
        self.calls.append(("delete", {"name": kwargs["name"]}))
        if self.objects.pop(kwargs["name"], None) is None:
            raise ApiException(status=404)

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        return [(verb, body) for verb, body in self.calls if verb != "get"]

    def last_manifest(self) -> dict[str, Any]:
        """The last SeldonDeployment sent (created or replaced)."""
        verb, body = self.writes()[-1]
        assert verb in ("create", "replace"), verb
        return body


@pytest.fixture()
def cluster() -> FakeSeldonCluster:
    return FakeSeldonCluster()


@pytest.fixture()
def deployer(cluster: FakeSeldonCluster, monkeypatch: pytest.MonkeyPatch,
             tmp_path: Path) -> Iterator[Any]:
    """A ``seldon_progressive`` component registered in the session's ZenML store, active
    for ``stacks.access`` and the plugin's services, talking to ``cluster``; and a
    deployment record of the test's own."""
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack import StackComponent
    from zenml.utils import source_utils

    from stacks import access
    from stacks.plugins.model_deployer.deployer import SeldonProgressiveModelDeployer
    from stacks.plugins.model_deployer.service import SeldonDeploymentApi, SeldonRolloutService

    source_utils.set_custom_source_root(str(paths.PROJECT_ROOT))
    client = Client()
    kind = StackComponentType.MODEL_DEPLOYER
    try:
        client.get_flavor_by_name_and_type("seldon_progressive", kind)
    except KeyError:
        client.create_flavor(source=FLAVOR_SOURCE, component_type=kind)
    component = client.create_stack_component(
        name=f"seldon-rollouts-{uuid.uuid4().hex[:8]}", flavor="seldon_progressive",
        component_type=kind,
        configuration={"kubernetes_namespace": NAMESPACE, "base_url": "https://ingress.example",
                       "kubernetes_secret_name": "churnops-storage",
                       "server_image": "registry.example/churnops-mlserver:1.7.1"})
    model_deployer = StackComponent.from_model(client.get_stack_component(kind, component.id))
    assert isinstance(model_deployer, SeldonProgressiveModelDeployer)
    model_deployer._deployments = SeldonDeploymentApi(cluster, NAMESPACE)
    monkeypatch.setattr(SeldonProgressiveModelDeployer, "get_active_model_deployer",
                        lambda: model_deployer)
    monkeypatch.setattr(access, "active_model_deployer", lambda: model_deployer)
    monkeypatch.setenv("CHURNOPS_DEPLOYMENT_URL", f"sqlite:///{tmp_path / 'deployment.db'}")
    try:
        yield model_deployer
    finally:
        for service in model_deployer.find_model_server(
                service_type=SeldonRolloutService.SERVICE_TYPE):
            client.delete_service(service.uuid)  # the records only; the cluster is a fake
        client.delete_stack_component(component.id, kind)


# What the flows do ---------------------------------------------------------------------------


def seldon_service(deployment: str, predictor: str) -> str:
    """The Service Seldon Core v1.17.1 creates for a predictor, restated from its operator
    (``getPredictorKeyAutoGenerated`` in seldondeployment_types.go)."""
    name = f"{deployment}-{predictor}"
    return name if len(name) <= 63 else "seldon-" + hashlib.md5(name.encode()).hexdigest()


def routes(manifest: dict[str, Any]) -> dict[str, str]:
    """Predictor name -> the URL of its Service, read off a manifest the API received."""
    deployment = manifest["metadata"]["name"]
    return {p["name"]: (f"http://{seldon_service(deployment, p['name'])}.{NAMESPACE}:8000"
                        f"/v2/models/{p['graph']['name']}/infer")
            for p in manifest["spec"]["predictors"]}


def check_manifest(manifest: dict[str, Any], crd: Path, served: list[ServedModel]) -> None:
    """Valid for the cluster, and its predictors are exactly where ``served`` are sent."""
    validate_manifest(manifest, crd)
    assert manifest["metadata"]["name"] == "churn-model"
    assert manifest["metadata"]["namespace"] == NAMESPACE
    expected = routes(manifest)
    assert {f"v{m.version}": m.endpoint for m in served} == expected
    annotated = {key.removeprefix(ENDPOINT_ANNOTATION): value
                 for key, value in manifest["metadata"]["annotations"].items()
                 if key.startswith(ENDPOINT_ANNOTATION)}
    assert annotated == expected
    for model in served:
        protocol, base = protocol_for_endpoint(model.endpoint)
        assert protocol == V2Protocol(model_name=REGISTERED_MODEL_NAME)
        assert base == f"http://churn-model-v{model.version}.{NAMESPACE}:8000"


def predictors(manifest: dict[str, Any]) -> list[tuple[str, int | None, bool, str]]:
    """(name, traffic, shadow, modelUri) of each predictor, in order."""
    return [(p["name"], p.get("traffic"), p.get("shadow", False), p["graph"]["modelUri"])
            for p in manifest["spec"]["predictors"]]


def check(version: str) -> SmokeTestResult:
    return SmokeTestResult(version=version, endpoint="-", requests=1, latency_p50_ms=1.0,
                           latency_p99_ms=1.0)


def deploy(plan: LiveDeployment, cluster: FakeSeldonCluster, crd: Path) -> LiveDeployment:
    """The deployment pipeline's work, step by step (the smoke tests need live servers and
    are left out): serve the primary, then the candidate, then publish."""
    from steps.deployment.publish import publish
    from steps.deployment.serve import serve_in_slot

    primary = serve_in_slot(plan, "primary", TIMEOUT)
    manifest = cluster.last_manifest()
    check_manifest(manifest, crd, [primary])
    assert predictors(manifest) == [(f"v{plan.primary.version}", 100, False,
                                     plan.primary.model_uri)]
    candidate = None
    if plan.candidate_slot is not None:
        candidate = serve_in_slot(plan, plan.candidate_slot, TIMEOUT)
        check_manifest(cluster.last_manifest(), crd, [primary, candidate])
    before = read_live()
    live, retired = publish(plan, primary, candidate,
                            [check(m.version) for m in (primary, candidate) if m])
    assert read_live() == live
    # Retiring reports the versions no longer served, and leaves the one resource alone.
    served = {m.version for m in plan.models()}
    assert retired == [m.version for m in before.models() if m.version not in served] \
        if before else retired == []
    assert "delete" not in [verb for verb, _ in cluster.writes()]
    assert list(cluster.objects) == ["churn-model"]
    return live


def the_one_record(deployer: Any) -> Any:
    """ZenML keeps one service record: the SeldonDeployment's, with what it serves."""
    (service,) = deployer.find_model_server(service_name="churn-model")
    return service


# The flows -----------------------------------------------------------------------------------


def test_basic_shadow_canary_ramp_and_promote(deployer, cluster, crd) -> None:
    from stacks.access import served_promotion, serving_service_ids
    from steps.deployment.candidate import set_canary_share

    basic = deploy(LiveDeployment(primary=V3), cluster, crd)
    assert [verb for verb, _ in cluster.writes()] == ["create"]
    assert predictors(cluster.last_manifest()) == [("v3", 100, False, V3.model_uri)]
    check_manifest(cluster.last_manifest(), crd, [basic.primary])

    shadow = deploy(LiveDeployment(strategy="shadow", primary=V3, candidate=V4), cluster, crd)
    manifest = cluster.last_manifest()
    assert predictors(manifest) == [("v3", 100, False, V3.model_uri),
                                    ("v4", None, True, V4.model_uri)]
    check_manifest(manifest, crd, shadow.models())
    assert shadow.primary.endpoint == basic.primary.endpoint  # the same Service throughout
    assert str(the_one_record(deployer).uuid) in serving_service_ids(shadow)

    canary = deploy(LiveDeployment(strategy="canary", primary=V3, candidate=V4,
                                   canary_share=0.1), cluster, crd)
    manifest = cluster.last_manifest()
    assert predictors(manifest) == [("v3", 90, False, V3.model_uri),
                                    ("v4", 10, False, V4.model_uri)]
    check_manifest(manifest, crd, canary.models())
    assert canary.candidate.endpoint == shadow.candidate.endpoint

    ramped = set_canary_share(0.5, "agreement holds")
    assert read_live() == ramped and ramped.canary_share == 0.5
    with DeploymentRecord() as record:
        event = record.history()[-1]
    assert (event.event, event.primary, event.candidate) == ("canary_share", "3", "4")
    assert event.reason == "agreement holds (0.1 -> 0.5)"
    manifest = cluster.last_manifest()
    assert predictors(manifest) == [("v3", 50, False, V3.model_uri),
                                    ("v4", 50, False, V4.model_uri)]
    assert manifest["metadata"]["annotations"]["churnops.io/canary-share"] == "0.5"
    check_manifest(manifest, crd, ramped.models())

    # promote_candidate publishes this, moves the registry alias (which needs a trained
    # model: tests/integration/test_deployment.py), then has the deployer follow.
    with DeploymentRecord() as record:
        record.publish(ramped.promoted())
    served_promotion(ramped)
    promoted = read_live()
    manifest = cluster.last_manifest()
    assert predictors(manifest) == [("v4", 100, False, V4.model_uri)]
    check_manifest(manifest, crd, [promoted.primary])
    assert promoted.primary.endpoint == ramped.candidate.endpoint  # v4's Service stays
    assert manifest["spec"]["predictors"][0]["graph"] == \
        predictors_by_name(cluster.writes()[-2][1])["v4"]["graph"]  # so do its pods

    # One resource, created once and replaced in place each time; nothing was deleted.
    verbs = [verb for verb, _ in cluster.writes()]
    assert verbs[0] == "create" and set(verbs[1:]) == {"replace"}
    assert list(cluster.objects) == ["churn-model"]
    assert the_one_record(deployer).config.rollout.primary.version == "4"


def test_basic_canary_and_rollback(deployer, cluster, crd) -> None:
    from steps.deployment.candidate import rollback_candidate

    deploy(LiveDeployment(primary=V3), cluster, crd)
    canary = deploy(LiveDeployment(strategy="canary", primary=V3, candidate=V4,
                                   canary_share=0.2), cluster, crd)
    assert predictors(cluster.last_manifest()) == [("v3", 80, False, V3.model_uri),
                                                   ("v4", 20, False, V4.model_uri)]

    restored = rollback_candidate("agreement too low")

    assert read_live() == restored
    assert (restored.strategy, restored.candidate) == ("basic", None)
    assert restored.rollback.version == "4"
    manifest = cluster.last_manifest()
    assert predictors(manifest) == [("v3", 100, False, V3.model_uri)]
    check_manifest(manifest, crd, [restored.primary])
    assert restored.primary.endpoint == canary.primary.endpoint
    assert "churnops.io/candidate" not in manifest["metadata"]["annotations"]
    assert [verb for verb, _ in cluster.writes()].count("delete") == 0
    assert the_one_record(deployer).config.rollout.candidate is None


def test_a_new_primary_replaces_the_predictor_and_the_endpoint(deployer, cluster, crd) -> None:
    from steps.deployment.publish import retire_unused_servers

    before = deploy(LiveDeployment(primary=V3), cluster, crd)
    live = deploy(LiveDeployment(primary=V4), cluster, crd)
    assert predictors(cluster.last_manifest()) == [("v4", 100, False, V4.model_uri)]
    assert live.primary.endpoint.startswith(f"http://churn-model-v4.{NAMESPACE}:8000/")
    assert retire_unused_servers(before, live) == ["3"]
    assert list(cluster.objects) == ["churn-model"]


def test_retiring_never_deletes_the_seldon_deployment_in_use(deployer, cluster, crd) -> None:
    """The ids a deployment record holds go stale as the deployer replaces its record; the
    resource serving the new deployment is kept whatever ids the records hold."""
    from steps.deployment.publish import retire_unused_servers

    shadow = deploy(LiveDeployment(strategy="shadow", primary=V3, candidate=V4), cluster, crd)
    current = the_one_record(deployer)
    assert shadow.candidate.service_id == str(current.uuid)
    later = shadow.model_copy(update={
        "primary": shadow.primary.served_at(shadow.primary.endpoint, str(uuid.uuid4())),
        "candidate": shadow.candidate.served_at(shadow.candidate.endpoint, str(uuid.uuid4()))})

    assert retire_unused_servers(shadow, later) == []

    assert "delete" not in [verb for verb, _ in cluster.writes()]
    assert list(cluster.objects) == ["churn-model"]
    assert the_one_record(deployer).uuid == current.uuid


def test_the_cluster_follows_the_record_when_it_serves_something_else(
    deployer, cluster, crd
) -> None:
    """A later deployment applied v5 as a shadow and failed before publishing: promoting
    the record's canary puts v4 alone in the SeldonDeployment, not v5."""
    from stacks.access import served_promotion
    from steps.deployment.serve import serve_in_slot

    canary = deploy(LiveDeployment(strategy="canary", primary=V3, candidate=V4,
                                   canary_share=0.1), cluster, crd)
    serve_in_slot(LiveDeployment(strategy="shadow", primary=V3, candidate=V5), "shadow",
                  TIMEOUT)
    assert [name for name, *_ in predictors(cluster.last_manifest())] == ["v3", "v5"]

    served_promotion(canary)

    manifest = cluster.last_manifest()
    assert predictors(manifest) == [("v4", 100, False, V4.model_uri)]
    check_manifest(manifest, crd, [canary.promoted().primary])


def test_a_deployment_that_does_not_become_available_fails_the_slot(deployer, cluster) -> None:
    from steps.deployment.serve import serve_in_slot

    cluster.state = "Failed"
    with pytest.raises(RuntimeError, match="did not become available"):
        serve_in_slot(LiveDeployment(primary=V3), "primary", TIMEOUT)
    with DeploymentRecord() as record:
        (event,) = record.history()
    assert (event.event, event.primary) == ("failed", "3")
    assert read_live() is None


def test_a_canary_share_needs_a_live_canary_and_a_usable_share(deployer, cluster, crd) -> None:
    from steps.deployment.candidate import NoCandidateError, set_canary_share

    deploy(LiveDeployment(strategy="shadow", primary=V3, candidate=V4), cluster, crd)
    writes = len(cluster.writes())
    with pytest.raises(NoCandidateError, match="no canary is live"):
        set_canary_share(0.5)
    for share in (0.0, 0.004, 0.995, 1.0):
        with pytest.raises(ValueError, match="between 0.01 and 0.99"):
            set_canary_share(share)
    assert len(cluster.writes()) == writes
    assert read_live().strategy == "shadow"


def test_the_mlflow_flavor_changes_no_server_for_a_canary_share(monkeypatch) -> None:
    """On the local stack the prediction service splits by the record: nothing to apply."""
    from stacks import access

    class LocalDeployer:
        flavor = "mlflow"

        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the deployer was asked for {name}")

    monkeypatch.setattr(access, "active_model_deployer", LocalDeployer)
    live = LiveDeployment(strategy="canary", primary=V3, candidate=V4, canary_share=0.1)
    access.served_canary_share(live, 0.3)  # touches no server


# The names -----------------------------------------------------------------------------------


def test_a_predictor_and_its_service_are_named_as_seldon_names_them() -> None:
    address = predictor_address("churn-model", "churn-model", "12", NAMESPACE)
    assert address == ("v12", "churn-model-v12",
                       "http://churn-model-v12.churnops:8000/v2/models/churn-model/infer")
    assert predictor_address("churn-model", "churn-model", "12", None).url is None
    assert predictor_address("churn-model", "churn-model", "3", "prod", port=9000).url == \
        "http://churn-model-v3.prod:9000/v2/models/churn-model/infer"

    long_name = "churn-model-for-the-retail-customers-of-the-southern-region"  # 59
    address = predictor_address(long_name, "churn-model", "123", NAMESPACE)
    assert address.service == seldon_service(long_name, "v123")
    assert address.service == "seldon-" + hashlib.md5(f"{long_name}-v123".encode()).hexdigest()
    assert len(address.service) <= 63


def predictors_by_name(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in manifest["spec"]["predictors"]}
