"""SeldonDeployments of the ``seldon_progressive`` plugin, checked without a cluster.

The manifests are validated against the SeldonDeployment CRD that Seldon Core v1.17.1 ships
(its ``openAPIV3Schema``). The project keeps no copy of the CRD: the tests read it from
``<repo>/../shared/schemas/seldon/`` or from ``$CHURNOPS_SELDON_CRD``. Without it they skip,
except where ``<repo>/../shared`` exists (the project's own machines and CI): there a
missing CRD fails them.
"""

from __future__ import annotations

import copy
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from churnops import REGISTERED_MODEL_NAME, paths
from churnops.deployment import LiveDeployment, ServedModel
from churnops.protocols import V2Protocol, protocol_for_endpoint
from stacks.plugins.model_deployer.manifests import (
    Rollout,
    ServerSettings,
    build_seldon_deployment,
    canary_traffic,
    prediction_url,
    predictors_by_name,
    promoted,
    rolled_back,
    with_canary_share,
)
from stacks.plugins.model_deployer.validation import (
    InvalidSeldonDeployment,
    admission_errors,
    load_crd_schema,
    manifest_errors,
    validate_manifest,
)

CRD_FILE = "seldondeployments.machinelearning.seldon.io.v1.yaml"
SUITE = {"name": "churn_features", "expectations": []}
PRIMARY = ServedModel(version="3", model_uri="s3://churnops-artifacts/models/m-3/artifacts",
                      threshold=0.43, validation_suite=SUITE)
CANDIDATE = ServedModel(version="4", model_uri="s3://churnops-artifacts/models/m-4/artifacts",
                        threshold=0.41, validation_suite=SUITE)
SERVER = ServerSettings(secret_name="churnops-storage",
                        server_image="registry.example/churnops-mlserver:1.7.1")


def crd_path() -> Path:
    """The CRD file: ``$CHURNOPS_SELDON_CRD``, else the shared schemas beside the repo."""
    configured = os.environ.get("CHURNOPS_SELDON_CRD")
    return (Path(configured) if configured else
            paths.PROJECT_ROOT.parent / "shared" / "schemas" / "seldon" / CRD_FILE)


def require_crd() -> Path:
    """The CRD file; a skip without it, or a failure where ``../shared`` exists."""
    path = crd_path()
    if path.is_file():
        return path
    shared = paths.PROJECT_ROOT.parent / "shared"
    if shared.is_dir():
        pytest.fail(f"the SeldonDeployment CRD is not at {path}, although {shared} exists; "
                    f"it should hold schemas/seldon/{CRD_FILE}")
    pytest.skip(f"the SeldonDeployment CRD is not at {path}; set CHURNOPS_SELDON_CRD to "
                f"Seldon Core's {CRD_FILE} to run the schema checks")


@pytest.fixture(scope="module")
def crd() -> Path:
    return require_crd()


def rollout(strategy: str = "basic", share: float = 0.0) -> Rollout:
    return Rollout(deployment_name="churn-model", model_name=REGISTERED_MODEL_NAME,
                   strategy=strategy, primary=PRIMARY,
                   candidate=None if strategy == "basic" else CANDIDATE,
                   canary_share=share)


def manifest(strategy: str = "basic", share: float = 0.0,
             server: ServerSettings = SERVER) -> dict[str, Any]:
    return build_seldon_deployment(rollout(strategy, share), server, namespace="churnops")


# Each strategy is a valid SeldonDeployment ---------------------------------------------------


@pytest.mark.parametrize("server", [SERVER, ServerSettings()], ids=["custom-image", "defaults"])
@pytest.mark.parametrize(("strategy", "share"), [("basic", 0.0), ("shadow", 0.0),
                                                 ("canary", 0.1)])
def test_every_strategy_passes_the_crd_schema_and_seldons_admission_rules(
    crd: Path, strategy: str, share: float, server: ServerSettings
) -> None:
    document = manifest(strategy, share, server)
    assert manifest_errors(document, crd) == []
    validate_manifest(document, crd)  # does not raise


def test_basic_is_one_predictor_with_all_the_traffic() -> None:
    (predictor,) = manifest("basic")["spec"]["predictors"]
    assert predictor["name"] == "v3"
    assert predictor["traffic"] == 100
    assert "shadow" not in predictor
    assert predictor["graph"]["modelUri"] == PRIMARY.model_uri


def test_shadow_mirrors_to_the_candidate_which_answers_nobody() -> None:
    predictors = predictors_by_name(manifest("shadow"))
    assert predictors.keys() == {"v3", "v4"}
    assert predictors["v3"]["traffic"] == 100 and "shadow" not in predictors["v3"]
    assert predictors["v4"]["shadow"] is True
    assert "traffic" not in predictors["v4"]  # a shadow gets a copy of every request
    assert predictors["v4"]["graph"]["modelUri"] == CANDIDATE.model_uri


@pytest.mark.parametrize(("share", "weights"), [(0.1, (90, 10)), (0.25, (75, 25)),
                                                (0.05, (95, 5)), (0.5, (50, 50)),
                                                (0.125, (87, 13)), (0.99, (1, 99))])
def test_canary_weights_follow_the_share_and_sum_to_100(
    share: float, weights: tuple[int, int]
) -> None:
    predictors = predictors_by_name(manifest("canary", share))
    assert (predictors["v3"]["traffic"], predictors["v4"]["traffic"]) == weights
    assert sum(p["traffic"] for p in predictors.values()) == 100
    assert not any(p.get("shadow") for p in predictors.values())


@pytest.mark.parametrize("share", [0.0, 0.004, 0.996, 1.0])
def test_a_share_that_rounds_to_no_split_is_not_a_canary(share: float) -> None:
    with pytest.raises(ValueError, match="canary share"):
        canary_traffic(share)
    with pytest.raises(ValueError):
        rollout("canary", share)


def test_every_predictor_serves_the_same_v2_model_name() -> None:
    for strategy, share in (("basic", 0.0), ("shadow", 0.0), ("canary", 0.2)):
        predictors = manifest(strategy, share)["spec"]["predictors"]
        assert {p["graph"]["name"] for p in predictors} == {REGISTERED_MODEL_NAME}
        assert {p["graph"]["implementation"] for p in predictors} == {"MLFLOW_SERVER"}
        for predictor in predictors:  # the custom image replaces the model container's
            (container,) = predictor["componentSpecs"][0]["spec"]["containers"]
            assert container == {"name": REGISTERED_MODEL_NAME, "image": SERVER.server_image}
    assert manifest("canary", 0.2)["spec"]["protocol"] == "v2"


def test_metadata_says_what_is_served() -> None:
    metadata = manifest("canary", 0.1)["metadata"]
    assert metadata["namespace"] == "churnops"
    assert metadata["annotations"] == {
        "churnops.io/strategy": "canary", "churnops.io/primary": "3",
        "churnops.io/candidate": "4", "churnops.io/canary-share": "0.1",
        "churnops.io/endpoint-v3":
            "http://churn-model-v3.churnops:8000/v2/models/churn-model/infer",
        "churnops.io/endpoint-v4":
            "http://churn-model-v4.churnops:8000/v2/models/churn-model/infer"}
    assert all(isinstance(v, str) for v in metadata["labels"].values())


# Promotion, rollback and ramping are new rollouts of the same deployment ---------------------


@pytest.mark.parametrize("strategy", ["shadow", "canary"])
def test_promotion_leaves_the_candidate_alone_with_all_the_traffic(
    crd: Path, strategy: str
) -> None:
    after = promoted(rollout(strategy, 0.1 if strategy == "canary" else 0.0))
    assert (after.strategy, after.primary, after.candidate) == ("basic", CANDIDATE, None)
    document = build_seldon_deployment(after, SERVER, namespace="churnops")
    validate_manifest(document, crd)
    (predictor,) = document["spec"]["predictors"]
    before = predictors_by_name(manifest(strategy, 0.1 if strategy == "canary" else 0.0))
    # Same name and graph as while it was the candidate: Seldon keeps its pods.
    assert predictor["name"] == "v4"
    assert predictor["graph"] == before["v4"]["graph"]
    assert predictor["traffic"] == 100 and "shadow" not in predictor
    assert document["metadata"]["name"] == "churn-model"


@pytest.mark.parametrize("strategy", ["shadow", "canary"])
def test_rollback_drops_the_candidate(crd: Path, strategy: str) -> None:
    after = rolled_back(rollout(strategy, 0.1 if strategy == "canary" else 0.0))
    assert (after.strategy, after.primary, after.candidate) == ("basic", PRIMARY, None)
    document = build_seldon_deployment(after, SERVER, namespace="churnops")
    validate_manifest(document, crd)
    (predictor,) = document["spec"]["predictors"]
    assert (predictor["name"], predictor["traffic"]) == ("v3", 100)
    assert predictor["graph"]["modelUri"] == PRIMARY.model_uri


def test_promotion_and_rollback_need_a_candidate() -> None:
    with pytest.raises(ValueError, match="no candidate"):
        promoted(rollout("basic"))
    with pytest.raises(ValueError, match="no candidate"):
        rolled_back(rollout("basic"))


def test_a_canary_ramps_up_in_place(crd: Path) -> None:
    ramped = with_canary_share(rollout("canary", 0.1), 0.5)
    document = build_seldon_deployment(ramped, SERVER)
    validate_manifest(document, crd)
    assert [p["traffic"] for p in document["spec"]["predictors"]] == [50, 50]
    with pytest.raises(ValueError, match="not a canary"):
        with_canary_share(rollout("shadow"), 0.5)


@pytest.mark.parametrize(("changes", "message"), [
    ({"strategy": "basic", "candidate": CANDIDATE}, "only there"),
    ({"strategy": "canary", "candidate": None, "canary_share": 0.1}, "required"),
    ({"strategy": "shadow", "candidate": PRIMARY}, "its own candidate"),
    ({"strategy": "shadow", "candidate": CANDIDATE, "canary_share": 0.1},
     "canary strategy only"),
    ({"deployment_name": "Churn_Model"}, "DNS-1123"),
])
def test_inconsistent_rollouts_are_refused(changes: dict[str, Any], message: str) -> None:
    fields = {"deployment_name": "churn-model", "model_name": REGISTERED_MODEL_NAME,
              "strategy": "basic", "primary": PRIMARY, **changes}
    with pytest.raises(ValueError, match=message):
        Rollout(**fields)


# The validator rejects what the cluster would reject -----------------------------------------


def test_a_traffic_weight_of_the_wrong_type_fails_the_schema(crd: Path) -> None:
    document = manifest("canary", 0.1)
    document["spec"]["predictors"][1]["traffic"] = "ten"
    with pytest.raises(InvalidSeldonDeployment) as raised:
        validate_manifest(document, crd)
    assert raised.value.errors == [
        "spec.predictors[1].traffic: 'ten' is not of type 'integer'"]


def test_a_misspelt_field_is_reported_because_the_api_server_would_drop_it(crd: Path) -> None:
    document = manifest("shadow")
    predictor = document["spec"]["predictors"][1]
    predictor["shadw"] = predictor.pop("shadow")
    errors = manifest_errors(document, crd)
    assert "spec.predictors[1].shadw: unknown field (the API server would drop it)" in errors
    # Seldon itself would accept it: a live predictor with weight 0 sums to 100 with the
    # primary. The candidate would get no requests at all, mirrored or not.
    assert admission_errors(document) == []


def test_wrong_nesting_and_missing_required_fields_fail_the_schema(crd: Path) -> None:
    document = manifest("basic")
    del document["spec"]["predictors"][0]["graph"]["name"]
    document["spec"]["predictors"][0]["replicas"] = [1]
    errors = manifest_errors(document, crd)
    assert "spec.predictors[0].graph: 'name' is a required property" in errors
    assert "spec.predictors[0].replicas: [1] is not of type 'integer'" in errors


def _edited(document: dict[str, Any], **predictor_changes: dict[str, Any]) -> dict[str, Any]:
    edited = copy.deepcopy(document)
    for index, changes in predictor_changes.items():
        edited["spec"]["predictors"][int(index[1:])].update(changes)
    return edited


@pytest.mark.parametrize(("document", "message"), [
    (_edited(manifest("canary", 0.1), p0={"traffic": 80}), "traffic must sum to 100"),
    (_edited(manifest("canary", 0.1), p0={"shadow": True}, p1={"shadow": True}),
     "at most one predictor can be a shadow"),
    (_edited(manifest("basic"), p0={"shadow": True}), "a shadow cannot be the only predictor"),
    (_edited(manifest("basic"), p0={"traffic": 60}), "a single predictor's traffic must be 100"),
    (_edited(manifest("canary", 0.1), p1={"name": "v3"}), "duplicate predictor name 'v3'"),
    (_edited(manifest("basic"), p0={"graph": {"name": "churn-model",
                                              "implementation": "MLFLOW_SERVER"}}),
     "MLFLOW_SERVER needs a modelUri"),
])
def test_seldons_admission_rules_are_enforced(document: dict[str, Any], message: str) -> None:
    assert any(message in error for error in admission_errors(document)), \
        admission_errors(document)


def test_an_unknown_protocol_is_refused() -> None:
    document = manifest("basic")
    document["spec"]["protocol"] = "v3"
    assert admission_errors(document) == [
        "spec.protocol: 'v3' is not one of ('seldon', 'tensorflow', 'kfserving', 'v2')"]


def test_the_schema_loader_wants_a_crd(tmp_path: Path) -> None:
    not_a_crd = tmp_path / "deployment.yaml"
    not_a_crd.write_text("apiVersion: apps/v1\nkind: Deployment\n")
    with pytest.raises(ValueError, match="not a CustomResourceDefinition"):
        load_crd_schema(not_a_crd)


def test_the_crd_schema_is_the_v1_one(crd: Path) -> None:
    schema = load_crd_schema(crd)
    predictor = schema["properties"]["spec"]["properties"]["predictors"]["items"]
    assert predictor["properties"]["traffic"]["type"] == "integer"
    assert predictor["properties"]["shadow"]["type"] == "boolean"
    with pytest.raises(ValueError, match="no openAPIV3Schema for version 'v9'"):
        load_crd_schema(crd, "v9")


# The endpoint the service calls -------------------------------------------------------------


def test_the_prediction_url_is_a_v2_endpoint_of_the_model() -> None:
    url = prediction_url("https://ingress.example/", "churnops", "churn-model",
                         REGISTERED_MODEL_NAME)
    assert url == ("https://ingress.example/seldon/churnops/churn-model/v2/models/"
                   "churn-model/infer")
    protocol, base = protocol_for_endpoint(url)
    assert protocol == V2Protocol(model_name=REGISTERED_MODEL_NAME)
    assert base == "https://ingress.example/seldon/churnops/churn-model"
    assert base + protocol.encode([])[0] == url


# The flavor in a real ZenML store -----------------------------------------------------------

FLAVOR_SOURCE = "stacks.plugins.model_deployer.flavor.SeldonProgressiveDeployerFlavor"


def test_the_flavor_registers_and_builds_a_deployer_for_the_deployment_steps() -> None:
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.integrations.seldon.model_deployers import SeldonModelDeployer
    from zenml.stack import StackComponent
    from zenml.utils import source_utils

    from stacks.access import SELDON_DEPLOYMENT, SERVER_CONFIGS, seldon_rollout, server_config
    from stacks.plugins.model_deployer.deployer import SeldonProgressiveModelDeployer
    from stacks.plugins.model_deployer.service import SeldonRolloutConfig

    source_utils.set_custom_source_root(str(paths.PROJECT_ROOT))
    client = Client()
    kind = StackComponentType.MODEL_DEPLOYER
    try:
        flavor = client.get_flavor_by_name_and_type("seldon_progressive", kind)
    except KeyError:
        flavor = client.create_flavor(source=FLAVOR_SOURCE, component_type=kind)
    assert (flavor.name, flavor.source, flavor.type) == ("seldon_progressive",
                                                         FLAVOR_SOURCE, kind)
    assert {"kubernetes_namespace", "base_url", "server_image"} <= set(
        flavor.config_schema["properties"])

    name = f"seldon-progressive-{uuid.uuid4().hex[:8]}"
    component = client.create_stack_component(
        name=name, flavor="seldon_progressive", component_type=kind,
        configuration={"kubernetes_namespace": "churnops",
                       "base_url": "https://ingress.example",
                       "server_image": SERVER.server_image, "replicas": 2})
    try:
        deployer = StackComponent.from_model(client.get_stack_component(kind, component.id))
        assert isinstance(deployer, SeldonProgressiveModelDeployer)
        assert isinstance(deployer, SeldonModelDeployer)
        assert deployer.flavor == "seldon_progressive"
        assert deployer.config.kubernetes_namespace == "churnops"

        # One SeldonDeployment serves every version: no per-version server configuration.
        assert "seldon_progressive" not in SERVER_CONFIGS
        version = ServedModel(version="7", model_uri="s3://churnops/models/m-7/artifacts",
                              threshold=0.4, validation_suite={})
        with pytest.raises(NotImplementedError, match="serve_slot"):
            server_config(deployer, version, timeout=60)
        rollout = seldon_rollout(LiveDeployment(primary=version), "primary")
        assert (rollout.deployment_name, rollout.strategy) == (SELDON_DEPLOYMENT, "basic")
        # What perform_deploy_model would send, with this component's settings.
        server = deployer.server_settings(secret_name="churnops-storage")
        config = SeldonRolloutConfig(name=SELDON_DEPLOYMENT, rollout=rollout, server=server)
        document = config.manifest("churnops")
        assert admission_errors(document) == []
        if crd_path().is_file():
            validate_manifest(document, crd_path())
        (predictor,) = document["spec"]["predictors"]
        assert predictor["replicas"] == 2
        assert predictor["graph"]["modelUri"] == version.model_uri
    finally:
        client.delete_stack_component(component.id, kind)


# What the deployer sends to the Kubernetes API ------------------------------------------------


class RecordingCustomObjects:
    """Stands in for ``kubernetes.client.CustomObjectsApi``: records calls, holds one object."""

    def __init__(self, existing: dict[str, Any] | None = None) -> None:
        self.existing = existing
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_namespaced_custom_object(self, **kwargs: Any) -> dict[str, Any]:
        from kubernetes.client.rest import ApiException

        self.calls.append(("get", kwargs))
        if self.existing is None:
            raise ApiException(status=404)
        return self.existing

    def create_namespaced_custom_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create", kwargs))
        return kwargs["body"]

    def replace_namespaced_custom_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("replace", kwargs))
        return kwargs["body"]


def test_apply_creates_or_replaces_the_whole_resource() -> None:
    from stacks.plugins.model_deployer.service import SeldonDeploymentApi

    created = RecordingCustomObjects()
    SeldonDeploymentApi(created, "churnops").apply(manifest("canary", 0.1))
    assert [name for name, _ in created.calls] == ["get", "create"]
    assert created.calls[1][1] | {"body": None} == {
        "group": "machinelearning.seldon.io", "version": "v1", "namespace": "churnops",
        "plural": "seldondeployments", "body": None}

    current = {**manifest("canary", 0.1), "metadata": {"name": "churn-model",
                                                        "resourceVersion": "41"}}
    replaced = RecordingCustomObjects(existing=current)
    promotion = build_seldon_deployment(promoted(rollout("canary", 0.1)), SERVER)
    SeldonDeploymentApi(replaced, "churnops").apply(promotion)
    ((name, call),) = replaced.calls[1:]
    assert (name, call["name"]) == ("replace", "churn-model")
    assert call["body"]["metadata"]["resourceVersion"] == "41"  # optimistic concurrency
    assert [p["name"] for p in call["body"]["spec"]["predictors"]] == ["v4"]


def test_apply_refuses_what_seldons_webhook_would_reject() -> None:
    from stacks.plugins.model_deployer.service import SeldonDeploymentApi

    api = RecordingCustomObjects()
    document = _edited(manifest("canary", 0.1), p0={"traffic": 80})
    with pytest.raises(InvalidSeldonDeployment, match="traffic must sum to 100"):
        SeldonDeploymentApi(api, "churnops").apply(document)
    assert api.calls == []
