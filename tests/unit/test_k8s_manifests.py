"""The production stack's Kubernetes manifests (deploy/k8s) and Dockerfiles (docker/), offline.

Every manifest document is validated against the Kubernetes schemas of
``deploy.validate.KUBERNETES_VERSION`` in strict mode. The service's Deployment is checked
against the service itself: its probes against the app's routes, its environment against
what ``churnops.settings.ServiceSettings`` reads. No cluster and no Docker engine are involved.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from churnops import paths
from churnops.settings import ServiceSettings
from deploy import validate
from deploy.validate import Document

ROOT = paths.PROJECT_ROOT
K8S = validate.K8S_DIR
DOCKER = ROOT / "docker"
NAMESPACE = "churnops"
SERVICE = "churn-service"
# Objects the manifests refer to that are created by hand at deploy time (deploy/k8s/README.md).
CREATED_AT_DEPLOY: set[tuple[str, str]] = set()

DOCUMENTS = [doc for path in validate.manifest_files() for doc in validate.load_documents(path)]
APPLIED = [doc for doc in DOCUMENTS if doc.path.name != validate.SECRET_TEMPLATES]
TEMPLATES = [doc for doc in DOCUMENTS if doc.path.name == validate.SECRET_TEMPLATES]


def _id(doc: Document) -> str:
    return f"{doc.path.name}#{doc.index}-{doc.kind}-{doc.body['metadata']['name']}"


def _find(kind: str, name: str) -> dict[str, Any]:
    for doc in DOCUMENTS:
        if doc.kind == kind and doc.body["metadata"]["name"] == name:
            return doc.body
    raise LookupError(f"no {kind} {name} in {K8S}")


def _workloads() -> Iterator[tuple[Document, dict[str, Any]]]:
    """(document, pod template) of every Deployment and StatefulSet."""
    for doc in APPLIED:
        if doc.kind in ("Deployment", "StatefulSet"):
            yield doc, doc.body["spec"]["template"]


def _service_container() -> dict[str, Any]:
    [container] = _find("Deployment", SERVICE)["spec"]["template"]["spec"]["containers"]
    return container


def _port_number(container: dict[str, Any], port: int | str) -> int:
    """A probe's port, resolved through the container's named ports."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p.get("name") == port)


def _env_sources(container: dict[str, Any]) -> dict[str, str]:
    """Every variable the container gets, with its value from the repository's manifests
    (ConfigMaps, and the Secret templates' placeholders)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if ref := source.get("configMapRef"):
            env.update(_find("ConfigMap", ref["name"])["data"])
        if ref := source.get("secretRef"):
            env.update(_find("Secret", ref["name"])["stringData"])
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif ref := variable["valueFrom"].get("configMapKeyRef"):
            env[variable["name"]] = _find("ConfigMap", ref["name"])["data"][ref["key"]]
        elif ref := variable["valueFrom"].get("secretKeyRef"):
            env[variable["name"]] = _find("Secret", ref["name"])["stringData"][ref["key"]]
    return env


def _mount_path(pod: dict[str, Any], container: dict[str, Any], source: str) -> Path:
    """Where the container mounts the pod's volume of the ConfigMap or Secret ``source``."""
    volume = next(v["name"] for v in pod["spec"]["volumes"]
                  if source in (v.get("configMap", {}).get("name"),
                                v.get("secret", {}).get("secretName")))
    return Path(next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume))


# --- schema validation -------------------------------------------------------------------

@pytest.mark.parametrize("document", DOCUMENTS, ids=_id)
def test_manifest_is_valid(document: Document) -> None:
    validate.validate_document(document)


def test_kustomization_applies_every_manifest_but_the_secret_templates() -> None:
    on_disk = {p.relative_to(K8S) for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml")}
    listed = {p.relative_to(K8S) for p in validate.kustomization_resources()}
    assert listed == on_disk - {Path(validate.KUSTOMIZATION), Path(validate.SECRET_TEMPLATES)}
    assert {d.path for d in DOCUMENTS} == {K8S / p for p in on_disk} - {K8S / "kustomization.yaml"}


def test_kustomization_only_lists_resources() -> None:
    # With no transformers, what is validated is exactly what `kubectl apply -k` applies.
    [kustomization] = validate.load_documents(K8S / validate.KUSTOMIZATION)
    assert set(kustomization.body) <= {"apiVersion", "kind", "resources"}


_REMOVE = object()
_CONTAINER = "spec.template.spec.containers.0"


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("spec.replicas", "two", "spec.replicas: 'two' is not of type 'integer'"),
    (f"{_CONTAINER}.imagePulPolicy", "Always",
     "spec.template.spec.containers[0]: Additional properties are not allowed "
     "('imagePulPolicy' was unexpected)"),
    (f"{_CONTAINER}.env.0.value", 1,
     "spec.template.spec.containers[0].env[0].value: 1 is not of type 'string'"),
    (f"{_CONTAINER}.resources.limits.memory", "1 GB",
     "resources.limits.memory: '1 GB' is not a quantity"),
    ("apiVersion", "apps/v1beta1", "Couldn't find schema for kind Deployment"),
    ("spec.selector", _REMOVE, "spec: 'selector' is a required property"),
], ids=["replicas-not-int", "unknown-field", "env-value-not-string", "bad-quantity",
        "removed-api", "missing-selector"])
def test_broken_manifest_is_rejected(tmp_path: Path, field: str, value: Any, expected: str
                                     ) -> None:
    deployment = copy.deepcopy(_find("Deployment", SERVICE))
    *parents, last = field.split(".")
    node: Any = deployment
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _REMOVE:
        del node[last]
    else:
        node[last] = value
    file = tmp_path / "broken.yaml"
    file.write_text(yaml.safe_dump(deployment))
    [error] = validate.validate_files([file])
    assert f"{file}, document 1 (Deployment {NAMESPACE}/{SERVICE})" in error
    assert expected in error


def test_duplicate_keys_and_unsupported_versions_are_rejected(tmp_path: Path) -> None:
    file = tmp_path / "duplicate.yaml"
    file.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {K: x, K: y}\n")
    [error] = validate.validate_files([file])
    assert "duplicate key 'K'" in error
    with pytest.raises(validate.ManifestError, match="no schemas for Kubernetes 1.24"):
        validate.validate_document(APPLIED[0], version="1.24")


def test_command_line_validates_the_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.main([]) == 0
    assert f"valid for Kubernetes {validate.KUBERNETES_VERSION} (strict)" in capsys.readouterr().out


# --- consistency between the manifests -----------------------------------------------------

def test_every_object_lives_in_the_declared_namespace() -> None:
    assert _find("Namespace", NAMESPACE)["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in DOCUMENTS:
        if doc.kind != "Namespace":
            assert doc.body["metadata"].get("namespace") == NAMESPACE, doc


def test_references_resolve() -> None:
    """ConfigMaps, Secrets (and their keys), service accounts, scale and selector targets."""
    def check_items(kind: str, name: str, items: list[dict[str, str]]) -> None:
        if (kind, name) in CREATED_AT_DEPLOY:
            return
        body = _find(kind, name)
        keys = {*body.get("data", {}), *body.get("stringData", {})}
        assert {item["key"] for item in items} <= keys, (kind, name)

    for doc, pod in _workloads():
        spec = pod["spec"]
        if account := spec.get("serviceAccountName"):
            _find("ServiceAccount", account)
        for volume in spec.get("volumes", []):
            if ref := volume.get("configMap"):
                check_items("ConfigMap", ref["name"], ref.get("items", []))
            if ref := volume.get("secret"):
                check_items("Secret", ref["secretName"], ref.get("items", []))
        for container in spec["containers"]:
            _env_sources(container)  # every envFrom / valueFrom target and key exists
        labels = pod["metadata"]["labels"]
        assert doc.body["spec"]["selector"]["matchLabels"].items() <= labels.items(), doc
    templates = [pod["metadata"]["labels"] for _, pod in _workloads()]
    for doc in APPLIED:
        if doc.kind == "Service":
            selector = doc.body["spec"]["selector"].items()
            assert any(selector <= labels.items() for labels in templates), doc
        if doc.kind == "PodDisruptionBudget":
            selector = doc.body["spec"]["selector"]["matchLabels"].items()
            assert any(selector <= labels.items() for labels in templates), doc
        if doc.kind == "HorizontalPodAutoscaler":
            target = doc.body["spec"]["scaleTargetRef"]
            _find(target["kind"], target["name"])


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    for doc, pod in _workloads():
        spec = pod["spec"]
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True and context.get("runAsUser", 1) != 0, doc
        assert context["seccompProfile"]["type"] == "RuntimeDefault", doc
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), doc
        assert not any("hostPath" in volume for volume in spec.get("volumes", [])), doc
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, doc
            assert security["capabilities"]["drop"] == ["ALL"], doc


def test_containers_have_resources_and_pinned_images() -> None:
    for doc, pod in _workloads():
        for container in pod["spec"]["containers"]:
            image = container["image"]
            assert re.fullmatch(r"[\w.\-/]+:[\w.\-]+", image), f"{doc}: {image} has no tag"
            assert not image.endswith(":latest"), doc
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), doc


# --- the prediction service ---------------------------------------------------------------

def test_service_runs_the_documented_command_on_port_8080() -> None:
    container = _service_container()
    assert container["command"] == ["python", "-m", "serving.server", "--host", "0.0.0.0",
                                    "--port", "8080"]
    assert [p["containerPort"] for p in container["ports"]] == [8080]
    service = _find("Service", SERVICE)
    [port] = service["spec"]["ports"]
    assert _port_number(container, port["targetPort"]) == 8080


def test_service_probes_point_at_ready_and_health_on_the_container_port() -> None:
    container = _service_container()
    port = container["ports"][0]["containerPort"]
    probes = {name: container[name]["httpGet"]
              for name in ("readinessProbe", "livenessProbe", "startupProbe") if name in container}
    assert probes["readinessProbe"]["path"] == "/ready"
    assert probes["livenessProbe"]["path"] == "/health"
    assert probes.get("startupProbe", {"path": "/health"})["path"] == "/health"
    for probe in probes.values():
        assert _port_number(container, probe["port"]) == port


def test_probe_and_metrics_paths_are_routes_of_the_service(tmp_path: Path) -> None:
    from serving.app import create_app

    app = create_app(ServiceSettings(deployment_url="sqlite://",
                                     feature_repo=tmp_path, inference_log_url="sqlite://"))
    routes = set(app.openapi()["paths"])
    template = _find("Deployment", SERVICE)["spec"]["template"]
    container = _service_container()
    assert container["readinessProbe"]["httpGet"]["path"] in routes
    assert container["livenessProbe"]["httpGet"]["path"] in routes
    assert template["metadata"]["annotations"]["prometheus.io/path"] in routes


class _RecordingEnv(dict[str, str]):
    """An environment that records every name it is asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def test_every_service_variable_is_one_the_settings_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURNOPS_HOME", str(tmp_path))
    env = _RecordingEnv({})
    ServiceSettings.from_env(env)  # with nothing set, every variable is asked for
    # from_env takes the state folder from churnops.paths, which reads CHURNOPS_HOME.
    assert "CHURNOPS_HOME" in inspect.getsource(paths.state_dir)
    read = env.asked | {"CHURNOPS_HOME"}
    given = set(_env_sources(_service_container()))
    assert given - read == set(), f"set but never read by ServiceSettings: {given - read}"
    assert {"CHURNOPS_DEPLOYMENT_URL", "CHURNOPS_INFERENCE_LOG_URL"} <= given


def test_settings_accept_the_service_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURNOPS_HOME", str(tmp_path))
    container = _service_container()
    pod = _find("Deployment", SERVICE)["spec"]["template"]
    env = _env_sources(container)
    settings = ServiceSettings.from_env(env)
    assert settings.inference_log_url.startswith("postgresql+psycopg://")
    assert settings.deployment_url.startswith("postgresql+psycopg://")
    assert settings.api_key is not None
    assert settings.feature_repo == _mount_path(pod, container, "churn-service-feast")
    state_mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["state"]
    assert env["CHURNOPS_HOME"] == state_mount


def test_the_service_pins_no_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What is served comes from the deployment record, never from the manifest."""
    monkeypatch.setenv("CHURNOPS_HOME", str(tmp_path))
    settings = ServiceSettings.from_env(_env_sources(_service_container()))
    assert settings.model_override is None
    manifests = "".join(path.read_text() for path in validate.manifest_files())
    for pinned in ("CHURNOPS_MODEL_ENDPOINT", "CHURNOPS_MODEL_VERSION",
                   "CHURNOPS_MODEL_THRESHOLD", "CHURNOPS_VALIDATION_SUITE"):
        assert pinned not in manifests


def _feast_template() -> str:
    return _find("Secret", "churn-service-feast")["stringData"]["feature_store.yaml"]


def test_feast_configuration_is_accepted_by_feast(tmp_path: Path) -> None:
    from feast.repo_config import load_repo_config

    (tmp_path / "feature_store.yaml").write_text(_feast_template())
    config = load_repo_config(tmp_path, tmp_path / "feature_store.yaml")
    assert (config.project, config.registry.registry_type) == ("churnops", "sql")
    assert config.online_store.type == "redis"
    redis = _find("Service", "redis")
    host = config.online_store.connection_string.split(",")[0]
    assert host == f"redis.{NAMESPACE}.svc.cluster.local:{redis['spec']['ports'][0]['port']}"


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    return {k: v for key, value in node.items()
            for k, v in _flatten(value, f"{prefix}.{key}" if prefix else str(key)).items()}


def test_feast_configuration_matches_the_pipelines_production_configuration() -> None:
    production = paths.FEATURE_REPO / "feature_store.production.yaml"
    if not production.is_file():
        pytest.skip(f"{production.name} is not in this checkout")
    theirs = _flatten(yaml.safe_load(production.read_text()))
    ours = _flatten(yaml.safe_load(_feast_template()))
    assert set(ours) == set(theirs)
    # Values the pipelines' file fixes (not ${VARIABLE}s) must be the same here.
    fixed = {k: v for k, v in theirs.items() if not re.fullmatch(r"\$\{\w+\}", str(v))}
    assert {k: ours[k] for k in fixed} == fixed


def test_autoscaler_scales_the_service_on_cpu() -> None:
    deployment = _find("Deployment", SERVICE)
    assert "replicas" not in deployment["spec"]  # owned by the autoscaler
    hpa = _find("HorizontalPodAutoscaler", SERVICE)["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": SERVICE}
    [metric] = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["minReplicas"] >= 2
    assert _find("PodDisruptionBudget", SERVICE)["spec"]["minAvailable"] < hpa["minReplicas"]


def test_prometheus_job_scrapes_the_service_pods_by_their_annotations() -> None:
    config = yaml.safe_load(_find("ConfigMap", "prometheus-scrape-churnops")["data"][
        "scrape-configs.yaml"])
    [job] = config["scrape_configs"]
    [discovery] = job["kubernetes_sd_configs"]
    assert discovery == {"role": "pod", "namespaces": {"names": [NAMESPACE]}}
    rules = {(tuple(r.get("source_labels", [])), r.get("action", "replace")): r
             for r in job["relabel_configs"]}
    keep = rules[(("__meta_kubernetes_pod_annotation_prometheus_io_scrape",), "keep")]
    assert keep["regex"] == "true"
    assert rules[(("__meta_kubernetes_pod_container_port_number",), "keepequal")][
        "target_label"] == "__meta_kubernetes_pod_annotation_prometheus_io_port"
    assert rules[(("__meta_kubernetes_pod_annotation_prometheus_io_path",), "replace")][
        "target_label"] == "__metrics_path__"
    annotations = _find("Deployment", SERVICE)["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true",
                           "prometheus.io/port": str(_service_container()["ports"][0][
                               "containerPort"]),
                           "prometheus.io/path": "/metrics"}
    binding = _find("RoleBinding", "prometheus-discovery")
    assert binding["roleRef"]["name"] == "prometheus-discovery"
    assert _find("Role", "prometheus-discovery")["rules"][0]["resources"] == ["pods"]


def test_mlflow_server_uses_postgres_and_proxied_object_storage() -> None:
    [container] = _find("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["mlflow", "server"]
    assert "--serve-artifacts" in container["args"]
    assert any(re.fullmatch(r"--artifacts-destination=s3://[\w.-]+/\S*", arg)
               for arg in container["args"])
    env = {v["name"]: v for v in container["env"]}
    assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-secrets"
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"].startswith("http")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": 5000}
    [port] = _find("Service", "mlflow")["spec"]["ports"]
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"]["value"].split(",")
    assert f"mlflow.{NAMESPACE}.svc.cluster.local:{port['port']}" in allowed


# --- secrets -----------------------------------------------------------------------------

def test_secret_templates_are_string_data_placeholders() -> None:
    assert TEMPLATES and {doc.kind for doc in TEMPLATES} == {"Secret"}
    for doc in TEMPLATES:
        assert "data" not in doc.body, doc
        for key, value in doc.body["stringData"].items():
            assert validate.PLACEHOLDER in value, f"{doc}: {key}"


def _repository_yaml() -> Iterator[Path]:
    for directory, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = [d for d in subdirectories
                             if not d.startswith(".") and d not in ("__pycache__", "node_modules")]
        for file in files:
            if file.endswith((".yaml", ".yml")):
                yield Path(directory) / file


def test_no_secret_in_the_repository_holds_a_real_credential() -> None:
    secrets = []
    for path in _repository_yaml():
        try:
            documents = validate.load_documents(path)
        except validate.ManifestError:
            continue  # not plain YAML (a template of another tool): not a Secret manifest
        for doc in documents:
            if doc.kind == "Secret":
                secrets.append(doc)
                assert validate.credential_problems(doc) == [], doc
    assert len(secrets) >= len(TEMPLATES)


@pytest.mark.parametrize(("data", "flagged"), [
    ({"stringData": {"REDIS_PASSWORD": "CHANGE_ME"}}, False),
    ({"stringData": {"REDIS_PASSWORD": "s3cr3t-Pa55"}}, True),
    ({"stringData": {"URL": "postgresql://mlflow:CHANGE_ME@db:5432/mlflow"}}, False),
    ({"stringData": {"URL": "postgresql://mlflow:hunter2@db:5432/mlflow"}}, True),
    ({"stringData": {"feature_store.yaml": "connection_string: redis:6379,password=abc123"}},
     True),
    ({"stringData": {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}}, True),
    ({"data": {"TOKEN": "c2VjcmV0LXZhbHVl"}}, True),  # base64 of a real-looking value
    ({"data": {"TOKEN": "Q0hBTkdFX01F"}}, False),  # base64 of CHANGE_ME
    ({"data": {"TOKEN": "not base64!"}}, True),
], ids=["placeholder", "password", "url-placeholder", "url-password", "embedded-password",
        "aws-key", "base64-token", "base64-placeholder", "not-base64"])
def test_credential_check_tells_placeholders_from_credentials(
    data: dict[str, dict[str, str]], flagged: bool
) -> None:
    secret = Document(Path("secret.yaml"), 1,
                      {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **data})
    assert bool(validate.credential_problems(secret)) is flagged


# --- Dockerfiles -------------------------------------------------------------------------

def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in dockerfile.read_text().splitlines()
             if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(word.upper(), rest.strip()) for word, _, rest in
            (line.strip().partition(" ") for line in joined.splitlines() if line.strip())]


def _uv_version() -> str:
    match = re.search(r'^UV_VERSION="([\d.]+)"', (ROOT / "scripts/bootstrap.sh").read_text(),
                      re.M)
    assert match
    return match[1]


@pytest.mark.parametrize("name", ["pipeline.Dockerfile", "service.Dockerfile"])
def test_dockerfile_pins_its_base_image_and_installs_the_lock(name: str) -> None:
    instructions = _instructions(DOCKER / name)
    bases = [args.split()[-1] for word, args in instructions if word == "FROM"]
    assert bases, name
    for base in bases:
        # An exact Python patch release of the project's minor version, never `latest`.
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), f"{name}: {base}"
    runs = " ".join(args for word, args in instructions if word == "RUN")
    copies = [args.split() for word, args in instructions if word == "COPY"]
    assert any("requirements.txt" in sources for sources in copies), name
    assert re.search(r"(pip|uv pip) install [^&;]*-r requirements\.txt", runs), name
    assert f"uv=={_uv_version()}" in runs, name


def test_service_image_runs_as_the_deployments_non_root_user() -> None:
    instructions = _instructions(DOCKER / "service.Dockerfile")
    [user] = [args for word, args in instructions if word == "USER"]
    uid = int(user.split(":")[0])
    assert uid != 0
    pod = _find("Deployment", SERVICE)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == uid
    [expose] = [args for word, args in instructions if word == "EXPOSE"]
    assert int(expose) == _service_container()["ports"][0]["containerPort"]
    [cmd] = [args for word, args in instructions if word == "CMD"]
    assert json.loads(cmd) == _service_container()["command"]


def test_pipeline_image_has_the_user_the_mlflow_pods_run_as() -> None:
    text = (DOCKER / "pipeline.Dockerfile").read_text()
    match = re.search(r"useradd [^\n]*--uid (\d+)", text)
    assert match
    pod = _find("Deployment", "mlflow")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(match[1])
    assert pod["containers"][0]["image"].split(":")[0].endswith("/churnops-pipeline")


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".churnops", "**/__pycache__"} <= ignored
    for word, args in _instructions(DOCKER / "service.Dockerfile"):
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                if not source.startswith("--"):
                    assert source.rstrip("/") not in ignored, source


def test_the_grafana_dashboard_draws_only_metrics_the_service_exports() -> None:
    from prometheus_client import generate_latest

    from serving.metrics import Metrics, MonitoringCollector

    config_map = _find("ConfigMap", "grafana-dashboard-churnops")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["churnops-monitoring.json"])
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"churnops_[a-z_]+", target["expr"])}
    metrics = Metrics()
    figures = {key: 0.5 for key in ("live_roc_auc", "features_moved", "prediction_drift_p",
                                    "live_labelled_rows", "estimated_roc_auc",
                                    "estimated_roc_auc_low", "estimated_roc_auc_high")}
    metrics.registry.register(MonitoringCollector(
        lambda: {"run": 1, "severity": "warn", "figures": figures}, "production"))
    exported = set(re.findall(r"^# TYPE (\S+)", generate_latest(metrics.registry).decode(),
                              re.M))
    series = exported | {f"{name}_{suffix}" for name in exported
                         for suffix in ("total", "bucket", "count", "sum")}
    assert used and used <= series, used - series
    assert {p["id"] for p in dashboard["panels"]} == set(range(1, len(dashboard["panels"]) + 1))
