"""The kubeflow stack: registered into the session's real ZenML store and compiled to KFP v2 IR.

There is no cluster here. The endpoints are loopback addresses that nothing contacts, and
the credentials are dummies stored as ZenML secrets. What is proven: the stack registers
and switches, and every pipeline compiles through ZenML's Kubeflow orchestrator into IR
that the kfp SDK loads, with the DAG, image and resources the pipeline and config say.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from churnops import paths
from churnops.settings import run_config
from stacks import local
from stacks.kubeflow import register, settings

ENV = {
    "CHURNOPS_KFP_HOST": "http://127.0.0.1:8888/pipeline",
    "CHURNOPS_REGISTRY_URI": "127.0.0.1:5000/churnops",
    "CHURNOPS_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "CHURNOPS_S3_ACCESS_KEY_ID": "test-access-key",
    "CHURNOPS_S3_SECRET_ACCESS_KEY": "test-secret-key",
    "CHURNOPS_MLFLOW_TRACKING_URI": "http://127.0.0.1:5001",
    "CHURNOPS_MLFLOW_TRACKING_USERNAME": "test-user",
    "CHURNOPS_MLFLOW_TRACKING_PASSWORD": "test-password",
    "CHURNOPS_SELDON_BASE_URL": "http://127.0.0.1:8081",
    "CHURNOPS_FEAST_OFFLINE_SOURCE": "s3://churnops/feast/customer_snapshot.parquet",
    "CHURNOPS_FEAST_REGISTRY_URL": "postgresql+psycopg://feast:test@127.0.0.1:5432/feast",
    "CHURNOPS_FEAST_REDIS": "127.0.0.1:6379",
    "CHURNOPS_INFERENCE_LOG_URL": "postgresql+psycopg://churnops:test@127.0.0.1:5432/log",
    "CHURNOPS_DEPLOYMENT_URL": "postgresql+psycopg://churnops:test@127.0.0.1:5432/record",
}

EXPECTED = {
    "ORCHESTRATOR": ("kubeflow", "kubeflow"),
    "ARTIFACT_STORE": ("minio", "s3"),
    "CONTAINER_REGISTRY": ("registry", "default"),
    "IMAGE_BUILDER": ("docker", "local"),
    "EXPERIMENT_TRACKER": ("mlflow_remote", "mlflow"),
    "MODEL_REGISTRY": ("mlflow_remote", "mlflow"),
    "MODEL_DEPLOYER": ("seldon", "seldon_progressive"),
    "FEATURE_STORE": ("feast_prod", "feast"),
    "DATA_VALIDATOR": ("gx_evidently", "gx_evidently"),
}


@pytest.fixture(scope="module")
def kubeflow_stack(zenml_client):
    """The kubeflow stack, registered by the registration script; the local stack stays active."""
    register.register(zenml_client, env=ENV)
    assert zenml_client.active_stack_model.name == local.STACK_NAME
    return zenml_client.get_stack(register.STACK_NAME)


def test_registration_creates_every_component_and_secret(zenml_client, kubeflow_stack) -> None:
    found = {component_type.name: (models[0].name, models[0].flavor_name)
             for component_type, models in kubeflow_stack.components.items()}
    assert found == EXPECTED
    components = {t.name: models[0] for t, models in kubeflow_stack.components.items()}
    store = components["ARTIFACT_STORE"].configuration
    assert store["client_kwargs"] == {"endpoint_url": ENV["CHURNOPS_S3_ENDPOINT_URL"]}
    assert store["authentication_secret"] == register.MINIO_SECRET
    tracker = components["EXPERIMENT_TRACKER"].configuration
    assert tracker["tracking_uri"] == ENV["CHURNOPS_MLFLOW_TRACKING_URI"]
    assert tracker["tracking_password"] == "{{churnops-mlflow.password}}"  # a reference only
    assert zenml_client.get_secret(register.MLFLOW_SECRET).secret_values == {
        "username": "test-user", "password": "test-password"}
    feast = components["FEATURE_STORE"]
    assert feast.environment["CHURNOPS_FEAST_ENV"] == "production"
    assert feast.environment["AWS_ENDPOINT_URL"] == ENV["CHURNOPS_S3_ENDPOINT_URL"]
    assert zenml_client.get_secret(register.FEAST_SECRET).secret_values == {
        "CHURNOPS_FEAST_REGISTRY_URL": ENV["CHURNOPS_FEAST_REGISTRY_URL"],
        "CHURNOPS_FEAST_REDIS": ENV["CHURNOPS_FEAST_REDIS"],
        "AWS_ACCESS_KEY_ID": "test-access-key", "AWS_SECRET_ACCESS_KEY": "test-secret-key"}

    orchestrator = components["ORCHESTRATOR"]
    assert orchestrator.secrets == [zenml_client.get_secret(register.STATE_SECRET).id]
    assert zenml_client.get_secret(register.STATE_SECRET).secret_values == {
        name: ENV[name] for name in ("CHURNOPS_INFERENCE_LOG_URL", "CHURNOPS_DEPLOYMENT_URL")}

    assert register.register(zenml_client, env=ENV) is False  # idempotent
    assert len(zenml_client.list_stacks(name=register.STACK_NAME)) == 1


def test_registration_names_missing_variables() -> None:
    with pytest.raises(register.MissingSettings, match="CHURNOPS_KFP_HOST"):
        register.read_variables({"CHURNOPS_REGISTRY_URI": "ghcr.io/churnops"}, None)


def test_every_variable_is_documented() -> None:
    readme = (paths.PROJECT_ROOT / "stacks" / "kubeflow" / "README.md").read_text()
    script = (paths.PROJECT_ROOT / "stacks" / "kubeflow" / "register.sh").read_text()
    for variable in register.VARIABLES:
        assert f"`{variable.name}`" in readme
        assert variable.name in script


def test_zenml_cli_describes_the_kubeflow_stack(kubeflow_stack) -> None:
    """What a user types: `zenml stack describe kubeflow` lists every component."""
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "zenml"), "stack", "describe", register.STACK_NAME],
        env={**os.environ, **ENV, "COLUMNS": "200"}, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    output = completed.stdout + completed.stderr  # the table is printed on stderr
    rows = dict(re.findall(r"│ ([A-Z_]+)\s+│ (\S+)\s+│", output))
    rows.pop("COMPONENT_TYPE")  # the header
    assert rows == {component_type: name for component_type, (name, _) in EXPECTED.items()}


def test_switching_to_kubeflow_and_back(zenml_client, kubeflow_stack) -> None:
    """`zenml stack set kubeflow` sticks (run.py keeps it), and the local stack comes back."""
    from pipelines.feature import feature_pipeline

    options = {"config_path": str(paths.CONFIG_DIR / "feature.yaml")}
    zenml_client.activate_stack(register.STACK_NAME)
    try:
        assert local.ensure_local_stack(zenml_client) == register.STACK_NAME  # what run.py does
        on_kubeflow = settings.for_active_stack(feature_pipeline, options)
        assert on_kubeflow["settings"]["docker"]["skip_build"] is True
    finally:
        zenml_client.activate_stack(local.STACK_NAME)
    assert local.ensure_local_stack(zenml_client) == local.STACK_NAME
    assert settings.for_active_stack(feature_pipeline, options) == options
    stack = zenml_client.active_stack  # the local stack, instantiated and valid
    stack.validate()
    assert stack.orchestrator.flavor == "local"


def _require_s3fs() -> None:
    if importlib.util.find_spec("s3fs") is None:
        pytest.fail("The kubeflow stack's S3 artifact store needs s3fs and boto3 (ZenML loads "
                    "it to compile and to run): add them to requirements.in.")


@pytest.mark.slow
def test_every_pipeline_compiles_to_kfp_ir(zenml_client, kubeflow_stack, tmp_path) -> None:
    """`run.py compile-kfp all DIR` (and the flags of earlier releases, `--pipeline all
    --compile-kfp DIR`): one IR file per pipeline."""
    _require_s3fs()
    import run
    from ops.pipelines import PIPELINES, load

    assert run.translate_legacy(["--pipeline", "all", "--compile-kfp", "out"]) == \
        ["compile-kfp", "all", "out"]
    assert run.main(["compile-kfp", "all", str(tmp_path)]) == 0
    assert zenml_client.active_stack_model.name == local.STACK_NAME  # left as it was

    written = {path.name for path in tmp_path.iterdir()}
    assert written == {f"{load(name).name}.yaml" for name in PIPELINES} | {
        "churn_continuous_training.schedule.yaml"}
    _check_recurring_run(tmp_path / "churn_continuous_training.schedule.yaml",
                         tmp_path / "churn_continuous_training.yaml")

    overlay = settings.load()
    image = overlay["settings"]["docker"]["parent_image"]
    for name in PIPELINES:
        pipeline = load(name)
        prepared = pipeline.with_options(**run_config(paths.CONFIG_DIR / f"{name}.yaml"))
        prepared.prepare()
        path = tmp_path / f"{pipeline.name}.yaml"
        tasks = _load_ir(path)

        assert set(tasks) == set(prepared.invocations), name
        for step, invocation in prepared.invocations.items():
            task = tasks[step]
            assert task["after"] == set(invocation.upstream_steps), (name, step)
            assert task["image"] == image
            cpu = (((overlay["steps"].get(step) or {}).get("settings") or {})
                   .get("resources") or {}).get("cpu_count")
            assert task["resources"].get("cpuLimit") == cpu, (name, step)
            assert task["env"]["CHURNOPS_FEAST_ENV"] == "production"
            assert task["env"]["AWS_ENDPOINT_URL"] == ENV["CHURNOPS_S3_ENDPOINT_URL"]
            assert "AWS_SECRET_ACCESS_KEY" not in task["env"]  # resolved in the pod
            assert "ZENML_STORE_API_TOKEN" not in task["env"]
            snapshot = zenml_client.get_snapshot(task["args"]["--snapshot_id"])
            assert snapshot.pipeline.name == pipeline.name


def _check_recurring_run(schedule: Path, compiled: Path) -> None:
    """The schedule is the body KFP's API takes, on the config's cron in KFP's form."""
    from croniter import croniter
    from kfp_server_api import ApiClient, V2beta1RecurringRun

    body = yaml.safe_load(schedule.read_text())
    run = ApiClient()._ApiClient__deserialize(body, V2beta1RecurringRun)  # the API's model
    assert run.display_name == "churn_continuous_training"
    assert run.mode == "ENABLE" and run.max_concurrency == "1" and run.no_catchup is True
    assert run.pipeline_spec == yaml.safe_load(compiled.read_text())
    cron = run.trigger.cron_schedule.cron
    assert cron == "0 0 6 * * *"  # robfig/cron: seconds first
    # Daily at 06:00:00 UTC: read as KFP reads it (croniter takes seconds last).
    seconds, *rest = cron.split()
    fires = croniter(" ".join([*rest, seconds]), datetime(2026, 1, 1, tzinfo=UTC))
    first, second = fires.get_next(datetime), fires.get_next(datetime)
    assert (first.hour, first.minute, first.second) == (6, 0, 0)
    assert second - first == timedelta(days=1)


def _load_ir(path: Path) -> dict[str, dict[str, Any]]:
    """Load with the kfp SDK; return step name -> upstream steps, image, resources, env, args."""
    from google.protobuf import json_format
    from kfp.components import load_component_from_file
    from kfp.pipeline_spec import pipeline_spec_pb2

    load_component_from_file(str(path))  # kfp's own loader accepts the file
    spec = json_format.ParseDict(yaml.safe_load(path.read_text()), pipeline_spec_pb2.PipelineSpec())
    assert spec.schema_version.startswith("2.")
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    dag = spec.root.dag.tasks
    tasks = {}
    for task in dag.values():
        container = executors[spec.components[task.component_ref.name].executor_label]["container"]
        args = container["args"]
        tasks[task.task_info.name] = {
            "after": {dag[key].task_info.name for key in task.dependent_tasks},
            "image": container["image"],
            "resources": container.get("resources", {}),
            "env": {item["name"]: item["value"] for item in container.get("env", [])},
            "args": dict(zip(args[::2], args[1::2], strict=True)),
        }
    return tasks
