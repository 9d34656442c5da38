"""The deployment pipeline on the local stack: real MLflow model servers on 127.0.0.1.

The tests run in file order and share the servers they start: a basic deployment of the
champion as the primary, a canary beside it, a canary whose smoke test fails, a rollback and
a promotion.
Every server is deleted at the end of the module.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from uuid import UUID

import mlflow
import numpy as np
import pytest
import requests

from churnops import REGISTERED_MODEL_NAME, deployment_record, paths, registry, schema, tracking
from churnops.deployment import DeploymentEvent, LiveDeployment
from churnops.deployment_record import DeploymentRecord, read_live
from churnops.protocols import MLflowProtocol
from churnops.settings import run_config

pytestmark = pytest.mark.slow

UNSERVABLE_MODEL = textwrap.dedent('''
    import mlflow
    from mlflow.pyfunc import PythonModel


    class Unservable(PythonModel):
        def predict(self, context, model_input, params=None):
            raise RuntimeError("this model cannot predict")


    mlflow.models.set_model(Unservable())
''')


@pytest.fixture(scope="module")
def deployer(training_run, zenml_client) -> Iterator:
    """The stack's model deployer; every server it runs is deleted after the module."""
    model_deployer = zenml_client.active_stack.model_deployer
    yield model_deployer
    for service in model_deployer.find_model_server():
        model_deployer.delete_model_server(service.uuid, timeout=30, force=True)
    with DeploymentRecord() as record:  # later modules start with nothing deployed
        deployment_record.metadata.drop_all(record.engine)


@pytest.fixture(scope="module")
def versions() -> dict[str, str]:
    """Versions registered by the tests, by role."""
    return {}


def deploy(**overrides) -> LiveDeployment:
    from pipelines.deployment import deployment_pipeline

    config = run_config(paths.CONFIG_DIR / "deployment.yaml", overrides)
    deployment_pipeline.with_options(**config)()
    return read_live()


def last_event() -> DeploymentEvent:
    with DeploymentRecord() as record:
        return record.history()[-1]


def register_like(client, version: str, source: str, run_id: str) -> str:
    """A new version of ``churn-model`` from ``source``, with ``version``'s serving tags."""
    tags = client.get_model_version(REGISTERED_MODEL_NAME, version).tags
    created = client.create_model_version(
        REGISTERED_MODEL_NAME, source, run_id,
        tags={k: tags[k] for k in ("decision_threshold", "validation_suite")})
    return str(created.version)


def champion(client) -> str:
    return str(registry.champion_version(client).version)


def predict(endpoint: str, customers) -> np.ndarray:
    rows = customers[list(schema.FEATURE_NAMES)].to_dict("records")
    path, payload = MLflowProtocol().encode(rows)
    response = requests.post(endpoint.removesuffix(path) + path, json=payload, timeout=10)
    response.raise_for_status()
    return np.asarray(response.json()["predictions"])


def test_basic_deployment_serves_the_champion(deployer, mlflow_client, clean_customers):
    from ops.deployment import status

    live = deploy()
    version = champion(mlflow_client)
    assert live.strategy == "basic" and live.candidate is None
    assert live.primary.version == version
    assert live.primary.endpoint.startswith("http://127.0.0.1:")
    assert live.primary.endpoint.endswith("/invocations")
    assert live.primary.validation_suite["name"] == "churn_features"
    tags = mlflow_client.get_model_version(REGISTERED_MODEL_NAME, version).tags
    assert live.primary.threshold == float(tags["decision_threshold"])

    customers = clean_customers.head(3)
    model = mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL_NAME}/{version}")
    expected = model.predict_proba(customers[list(schema.FEATURE_NAMES)])
    np.testing.assert_allclose(predict(live.primary.endpoint, customers), expected, rtol=1e-9)

    assert f"churn-model v{version}" in status() and "[running]" in status()
    assert last_event().event == "deployed"


def test_canary_runs_the_candidate_beside_the_primary(deployer, mlflow_client, versions):
    before = read_live()
    source = mlflow_client.get_model_version(REGISTERED_MODEL_NAME, before.primary.version)
    candidate = register_like(mlflow_client, before.primary.version,
                              source.source, source.run_id)
    versions["candidate"] = candidate

    live = deploy(strategy="canary", canary_share=0.2)  # the newest non-champion version

    assert (live.strategy, live.canary_share) == ("canary", 0.2)
    assert live.primary == before.primary  # the same server, reused
    assert live.candidate.version == candidate
    assert live.candidate.endpoint != live.primary.endpoint
    assert live.bounds.model_dump() == {"max_error_rate": 0.05, "min_agreement": 0.8,
                                        "min_requests": 50}
    for model in live.models():
        assert requests.get(model.endpoint.replace("invocations", "ping"), timeout=5).ok


@pytest.mark.filterwarnings("ignore:Add type hints")
def test_the_service_routes_by_the_published_deployment(deployer, tmp_path) -> None:
    """The service reads the record the pipeline published: primary and canary both answer."""
    from tests.serving_fixtures import running_service, service_settings

    live = read_live()
    settings = service_settings(tmp_path, deployment_url=paths.deployment_record_url())
    with running_service(settings) as service, service.client() as client:
        answers = [client.post("/predict", json={"customer_id": "7590-VHVEG"})
                   for _ in range(60)]

    assert all(answer.status_code == 200 for answer in answers)
    served = {(a.json()["variant"], a.json()["model_version"]) for a in answers}
    assert served == {("primary", live.primary.version), ("canary", live.candidate.version)}


def test_failed_smoke_test_leaves_the_live_deployment_alone(
    deployer, mlflow_client, zenml_client, clean_customers, tmp_path
):
    """A version whose server starts but cannot predict is withdrawn; nothing else changes."""
    code = tmp_path / "unservable.py"
    code.write_text(UNSERVABLE_MODEL)
    experiment = tracking.ensure_experiment(mlflow.get_tracking_uri(), "deployment_tests")
    with mlflow.start_run(experiment_id=experiment) as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=str(code))
    broken = register_like(mlflow_client, champion(mlflow_client), info.model_uri,
                           run.info.run_id)
    with DeploymentRecord() as record:
        generation_before = record.generation()
    before = read_live()

    with pytest.raises(Exception, match="smoke"):
        deploy(strategy="canary", model_version=broken)

    with DeploymentRecord() as record:
        assert record.generation() == generation_before
    for model in before.models():
        assert predict(model.endpoint, clean_customers.head(2)).shape == (2, 2)
    event = last_event()
    assert (event.event, event.candidate) == ("failed", broken)
    assert "HTTP" in event.reason
    (server,) = deployer.find_model_server(service_name=f"zenml-churn-model-v{broken}")
    assert not server.is_running
    run = zenml_client.get_pipeline("churn_deployment").runs[0]
    assert run.steps["smoke_test_candidate"].status.value == "failed"
    assert "publish_live_deployment" not in run.steps


def test_rollback_returns_all_traffic_to_the_primary(deployer):
    from ops.deployment import rollback_candidate

    before = read_live()
    live = rollback_candidate("agreement too low")

    assert read_live() == live
    assert (live.strategy, live.candidate, live.primary) == ("basic", None, before.primary)
    assert live.rollback.reason == "agreement too low"
    assert live.rollback.version == before.candidate.version
    assert not deployer.find_model_server(service_name=f"zenml-churn-model-v"
                                          f"{before.candidate.version}")
    assert last_event().event == "rolled_back"


def test_promoting_the_canary_moves_the_alias_and_the_traffic(
    deployer, mlflow_client, versions
):
    from ops.deployment import promote_candidate, status

    old = read_live().primary
    candidate = versions["candidate"]
    deploy(strategy="canary", model_version=candidate, canary_share=0.5)
    canary = read_live()

    live = promote_candidate()

    assert champion(mlflow_client) == candidate
    assert registry.history(mlflow_client)[-1].event == "manual_promote"
    assert read_live() == live
    assert (live.strategy, live.candidate) == ("basic", None)
    assert live.primary == canary.candidate  # its server keeps serving
    assert deployer.find_model_server(service_uuid=UUID(old.service_id)) == []
    assert "traffic 100 %" in status()
    assert last_event().event == "promoted"


def test_nothing_to_promote_or_roll_back_without_a_candidate(deployer):
    from ops.deployment import NoCandidateError, promote_candidate, rollback_candidate

    for command in (promote_candidate, rollback_candidate):
        with pytest.raises(NoCandidateError, match="no shadow or canary is live"):
            command()


def test_run_config_overrides_reach_the_pipeline() -> None:
    from pipelines.deployment import deployment_pipeline

    config = run_config(paths.CONFIG_DIR / "deployment.yaml",
                        {"strategy": "shadow", "model_version": "2"})
    configured = deployment_pipeline.with_options(**config)
    assert configured.configuration.parameters["strategy"] == "shadow"
    assert configured.configuration.parameters["model_version"] == "2"
