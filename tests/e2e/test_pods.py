"""The production loop as a cluster runs it: every stage a pod of its own.

Each stage is a process with its own empty working directory and HOME (``tests/pods.py``),
sharing only PostgreSQL (deployment record, inference log, and MLflow's backend behind a real
``mlflow server``), the artifact store and a real ZenML server (``zenml login --local``). No
stage can read a file another one wrote. The prediction service runs in a pod of its own for
the whole test and is never restarted: it follows the deployment record. No feature store is
shared (the requests carry their features), so the service is alive but reports the feature
store as not ready.

1. A champion is trained, deployed (basic) and served; concept-drifted traffic and its
   outcomes arrive. The continuous-training pipeline sees the drop, retrains, and the gate
   approves: the new version goes out as a shadow. More traffic and outcomes; the next run
   judges the shadow on them and promotes it, and the service answers with it.
2. A deliberately weak version is put out as a shadow; the next run judges it worse and rolls
   it back, and the primary stays the champion.

The model servers are MLflow's local daemons: the stand-in for the cluster that cannot run
here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest

from churnops import paths
from churnops.deployment_record import DeploymentRecord
from churnops.settings import SimulationSettings
from ops.processes import free_port, server_process, wait_for_http
from simulation.traffic import ServiceDriver, Simulation, TrafficSimulator
from tests.conftest import TEST_CONFIGS
from tests.pods import Cluster
from tests.postgres import fresh_database

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
CT_CONFIG = str(TEST_CONFIGS / "continuous_training.yaml")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """PostgreSQL databases, an MLflow server on one of them, a ZenML server, the stack."""
    root = tmp_path_factory.mktemp("cluster")
    shared = {name: root / "shared" / name for name in ("mlflow", "artifacts", "servers")}
    for folder in shared.values():
        folder.mkdir(parents=True)
    with fresh_database("churnops_record") as record, \
            fresh_database("churnops_log") as log, \
            fresh_database("churnops_mlflow") as mlflow_db, \
            mlflow_server(mlflow_db, shared["mlflow"], root) as mlflow_url, \
            zenml_server(root / "zenml-server") as zenml_url:
        stack_id = _register_stack(root, zenml_url, mlflow_url, shared)
        cluster = Cluster(zenml_url, stack_id, record, log, root / "pods")
        try:
            yield cluster
        finally:
            cluster.run("down", "down", timeout=300)  # the model server daemons


@contextmanager
def mlflow_server(backend: str, artifacts: Path, root: Path) -> Iterator[str]:
    """A real MLflow tracking server on PostgreSQL, serving the artifacts it stores."""
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", backend, "--artifacts-destination", str(artifacts),
               "--serve-artifacts", "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with server_process(command, f"{url}/health", root / "mlflow.log", 120):
        yield url


@contextmanager
def zenml_server(home: Path) -> Iterator[str]:
    """The ZenML server ``zenml login --local`` starts (a daemon); ``logout`` stops it."""
    home.mkdir(parents=True)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "ZENML_CONFIG_PATH": str(home / "zenml"),
           "ZENML_ANALYTICS_OPT_IN": "false", "ZENML_AUTO_OPEN_DASHBOARD": "false"}
    zenml = str(BIN / "zenml")
    subprocess.run([zenml, "login", "--local", "--port", str(port)], env=env, cwd=home,
                   check=True, capture_output=True, timeout=180)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", None, 60)
        yield url
    finally:
        subprocess.run([zenml, "logout", "--local"], env=env, cwd=home, capture_output=True,
                       timeout=120)


def _register_stack(root: Path, zenml_url: str, mlflow_url: str,
                    shared: dict[str, Path]) -> str:
    """The admin's one-off registration, from a process of its own."""
    admin = root / "admin"
    admin.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tests.pods", "register", zenml_url, mlflow_url,
         str(shared["artifacts"]), str(shared["servers"])],
        env={"PATH": os.environ["PATH"], "HOME": str(admin),
             "ZENML_CONFIG_PATH": str(admin / "zenml"), "ZENML_ANALYTICS_OPT_IN": "false",
             "PYTHONPATH": str(paths.PROJECT_ROOT)},
        cwd=admin, capture_output=True, text=True, timeout=300, check=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def service(cluster: Cluster) -> Iterator[tuple[str, subprocess.Popen]]:
    """The prediction service in its own pod, started once (after the first deployment)."""
    cluster.run("train", "pipeline", "training", "--config", str(TEST_CONFIGS / "training.yaml"))
    cluster.run("deploy-basic", "pipeline", "deployment")
    port = free_port()
    command = [sys.executable, str(paths.PROJECT_ROOT / "run.py"), "serve", "--host",
               "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with server_process(command, f"{url}/health", cluster.root / "service.log", 180,
                        env=cluster.env("service"), cwd=cluster.workdir("service")
                        ) as (process, _):
        # Its model server, record and log are reached through the shared services. No
        # feature store is shared here (requests carry their features), so not ready.
        checks = httpx.get(f"{url}/ready", timeout=30).json()["checks"]
        assert {name: checks[name] for name in ("deployment", "model:primary",
                                                "inference_log")} == dict.fromkeys(
            ("deployment", "model:primary", "inference_log"), "ok"), checks
        yield url, process


@pytest.fixture(scope="module")
def traffic(service: tuple[str, subprocess.Popen], clean_customers: pd.DataFrame
            ) -> Iterator[Simulation]:
    """Concept-drifted days, their outcomes sent right after the requests."""
    config = SimulationSettings(scenario="concept_drift", onset_day=1, seed=11,
                                requests_per_day=300, label_delay_days=0,
                                strength=0.8)
    driver = ServiceDriver(service[0])
    yield Simulation(TrafficSimulator(clean_customers, config), driver)
    driver.close()


def test_a_shadow_retrained_on_drift_is_promoted_on_its_outcomes_without_a_restart(
        cluster: Cluster, service: tuple[str, subprocess.Popen], traffic: Simulation) -> None:
    url, process = service
    record = DeploymentRecord(cluster.deployment_url)
    assert record.live().strategy == "basic" and record.live().primary.version == "1"

    for day in (1, 2):
        traffic.run_day(day)
    output = cluster.run("ct-1", "pipeline", "continuous_training", "--config", CT_CONFIG)
    live = record.live()
    assert live.strategy == "shadow", output
    assert (live.primary.version, live.candidate.version) == ("1", "2"), output
    assert "retrained v2: approved" in output and "v2 live as shadow" in output, output

    traffic.run_day(3)  # the shadow scores a copy of every request
    output = cluster.run("ct-2", "pipeline", "continuous_training", "--config", CT_CONFIG)
    live = record.live()
    assert live.strategy == "basic" and live.primary.version == "2", output
    assert "candidate v2 promoted" in output and "ROC-AUC +" in output, output
    assert record.history()[-1].event == "promoted"

    # The service, never restarted, follows the record.
    assert process.poll() is None
    answer = _predict_until(url, "2")
    assert answer["model_version"] == "2"
    record.close()


def test_a_weakened_challenger_is_rolled_back_and_the_primary_stays(
        cluster: Cluster, service: tuple[str, subprocess.Popen], traffic: Simulation) -> None:
    url, process = service
    output = cluster.run("train-weak", "pipeline", "training", "--config",
                         str(TEST_CONFIGS / "training-weak.yaml"))
    assert "champion is v2" in output, output  # the gate kept the champion
    cluster.run("deploy-shadow", "pipeline", "deployment", "--strategy", "shadow",
                "--model-version", "3")
    record = DeploymentRecord(cluster.deployment_url)
    assert (record.live().strategy, record.live().candidate.version) == ("shadow", "3")

    traffic.run_day(4)
    output = cluster.run("ct-3", "pipeline", "continuous_training", "--config", CT_CONFIG)
    live = record.live()
    assert live.candidate is None and live.primary.version == "2", output
    assert "candidate v3 rolled back" in output, output
    assert live.rollback is not None and live.rollback.version == "3"
    assert "worse on" in live.rollback.reason
    assert process.poll() is None and _predict_until(url, "2")["model_version"] == "2"
    record.close()


def _predict_until(url: str, version: str, bound_s: float = 30.0) -> dict:
    """The service's answer once it serves ``version`` (it polls the record every second)."""
    from serving.api_models import EXAMPLE_FEATURES

    body = {"customer_id": "pod-test", "features": EXAMPLE_FEATURES}
    deadline = time.monotonic() + bound_s
    while True:
        answer = httpx.post(f"{url}/predict", json=body, timeout=30).json()
        if answer.get("model_version") == version or time.monotonic() > deadline:
            return answer
        time.sleep(1)


def test_compiled_against_the_server_the_step_pods_report_to_it(cluster: Cluster) -> None:
    """`compile-kfp` from a client of the ZenML server: every step pod names that server,
    not a SQLite file, and the recurring run comes with the pipeline."""
    from tests.integration.test_kubeflow_stack import ENV, _load_ir

    cluster.run("register-kubeflow", module="stacks.kubeflow.register", env=ENV)
    out = cluster.workdir("compile") / "kfp"
    output = cluster.run("compile", "compile-kfp", "continuous_training", str(out))
    assert "warning:" not in output, output
    assert (out / "churn_continuous_training.schedule.yaml").is_file()
    tasks = _load_ir(out / "churn_continuous_training.yaml")
    assert {"start_run", "act_on_verdict", "retrain_challenger", "finish_run"} <= set(tasks)
    for name, task in tasks.items():
        assert task["env"]["ZENML_STORE_URL"] == cluster.zenml_url, name
