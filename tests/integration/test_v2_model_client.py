"""The model-server protocols (``churnops.protocols``) against a real MLServer.

MLServer serves the model the way Seldon Core's ``MLFLOW_SERVER`` does with
``protocol: v2``: MLServer's MLflow runtime loading the model's MLflow artifact folder. It
cannot share the project's virtualenv (its FastAPI pin clashes with ZenML's and Feast's),
so it gets its own, created once and reused: ``$CHURNOPS_MLSERVER_VENV``, else
``${XDG_CACHE_HOME:-~/.cache}/churnops/mlserver-venv``. The libraries that load the model
(MLflow, scikit-learn, skops, pandas, numpy, scipy) are pinned to the project's lock, as a
serving image for the cluster must be.

Without a package index the venv cannot be created and the server tests skip, or fail
with ``CHURNOPS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from churnops import REGISTERED_MODEL_NAME, paths, schema
from churnops.protocols import MLflowProtocol, ProtocolError, V2Protocol
from tests.serving_fixtures import free_port, server_process

MLSERVER_REQUIREMENTS = ("mlserver==1.7.1", "mlserver-mlflow==1.7.1")
MODEL_LIBRARIES = ("mlflow", "scikit-learn", "skops", "pandas", "numpy", "scipy")
"""Pinned to the versions in requirements.txt: the server must load what training wrote."""
MARKER = "churnops-requirements.txt"
INSTALL_TIMEOUT_S = 900
STARTUP_BOUND_S = 120.0
TOLERANCE = 1e-9


class MLServerUnavailable(RuntimeError):
    """MLServer's virtualenv could not be created (usually: no package index)."""


# MLServer's virtualenv ----------------------------------------------------------------------


def mlserver_venv_path() -> Path:
    configured = os.environ.get("CHURNOPS_MLSERVER_VENV")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "churnops" / "mlserver-venv"


def mlserver_requirements(lock: Path = paths.PROJECT_ROOT / "requirements.txt") -> list[str]:
    """MLServer's pins plus the lock's versions of the libraries that load the model."""
    pins = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if match and match[1].lower() in MODEL_LIBRARIES:
            pins[match[1].lower()] = f"{match[1]}=={match[2]}"
    missing = sorted(set(MODEL_LIBRARIES) - pins.keys())
    if missing:
        raise RuntimeError(f"{lock} pins none of {missing}")
    return [*MLSERVER_REQUIREMENTS, *(pins[name] for name in MODEL_LIBRARIES)]


def ensure_mlserver_venv(path: Path, requirements: list[str]) -> Path:
    """A virtualenv at ``path`` with ``requirements``; reused when it already has them.

    Returns its ``mlserver`` executable. A file lock keeps two test sessions from building
    the same venv at once; the marker is written last, so a broken build is never reused.
    """
    wanted = "\n".join([f"python {sys.version_info.major}.{sys.version_info.minor}",
                        *requirements]) + "\n"
    executable = path / "bin" / "mlserver"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = path / MARKER
        if executable.exists() and marker.exists() and marker.read_text() == wanted:
            return executable
        shutil.rmtree(path, ignore_errors=True)
        try:
            for command in _install_commands(path, requirements):
                _run(command)
        except MLServerUnavailable:
            shutil.rmtree(path, ignore_errors=True)
            raise
        marker.write_text(wanted)
    return executable


def _install_commands(path: Path, requirements: list[str]) -> list[list[str]]:
    """uv when it is there (seconds), else venv and pip (minutes)."""
    base_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}." \
                                                  f"{sys.version_info.minor}"
    python = str(base_python if base_python.exists() else sys.executable)
    search_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    uv = shutil.which("uv", path=search_path)
    target = str(path / "bin" / "python")
    if uv:
        return [[uv, "venv", "--quiet", "--python", python, str(path)],
                [uv, "pip", "install", "--quiet", "--python", target, *requirements]]
    return [[python, "-m", "venv", str(path)],
            [target, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             *requirements]]


def _run(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MLServerUnavailable(f"{command[0]} failed: {error}") from error
    if done.returncode != 0:
        raise MLServerUnavailable(f"`{' '.join(command[:4])} ...` exited with "
                                  f"{done.returncode}: {done.stderr.strip()[-1500:]}")


def _unavailable(reason: str) -> None:
    if os.environ.get("CHURNOPS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CHURNOPS_REQUIRE_SERVICES=1 requires MLServer")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def mlserver_executable() -> Path:
    path = mlserver_venv_path()
    started = time.monotonic()
    try:
        executable = ensure_mlserver_venv(path, mlserver_requirements())
    except MLServerUnavailable as error:
        _unavailable(f"could not create MLServer's virtualenv at {path}: {error}")
    print(f"MLServer venv ready in {time.monotonic() - started:.1f} s: {path}")
    return executable


# A real model, logged as the training pipeline logs it ---------------------------------------


@dataclass
class LoggedModel:
    model: Any
    folder: Path
    """The downloaded artifact folder: what Seldon's storage initializer hands MLServer."""
    holdout: pd.DataFrame


@pytest.fixture(scope="module")
def logged_model(clean_customers: pd.DataFrame, tmp_path_factory) -> LoggedModel:
    """A small real pipeline on the real feature schema, logged like ``log_model`` does."""
    import mlflow
    from mlflow.models import infer_signature

    from churnops.modeling.candidates import SKOPS_TRUSTED_TYPES, build_pipeline
    from steps.training.log_model import MODEL_ARTIFACT_PATH

    features = list(schema.FEATURE_NAMES)
    train, holdout = clean_customers.iloc[:2000], clean_customers.iloc[-40:]
    model = build_pipeline("logistic_regression", seed=7).fit(train[features],
                                                              train[schema.TARGET])
    folder = tmp_path_factory.mktemp("v2-model")
    tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
    experiment = mlflow.MlflowClient(tracking_uri).create_experiment(
        "v2-protocol", artifact_location=(folder / "artifacts").as_uri())
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(experiment_id=experiment), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            example = train[features].head(5)
            info = mlflow.sklearn.log_model(
                model, name=MODEL_ARTIFACT_PATH, input_example=example,
                signature=infer_signature(example, model.predict_proba(example)),
                skops_trusted_types=list(SKOPS_TRUSTED_TYPES), pyfunc_predict_fn="predict_proba")
        local = mlflow.artifacts.download_artifacts(info.model_uri,
                                                    dst_path=str(folder / "model"))
    finally:
        mlflow.set_tracking_uri(previous_uri)
    return LoggedModel(model=model, folder=Path(local), holdout=holdout)


@pytest.fixture(scope="module")
def mlserver(mlserver_executable: Path, logged_model: LoggedModel,
             tmp_path_factory) -> Iterator[str]:
    """``mlserver start`` on loopback ports, serving the model; yields the base URL."""
    root = tmp_path_factory.mktemp("mlserver")
    http_port, grpc_port = free_port(), free_port()
    settings = {"host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port,
                "metrics_endpoint": None, "parallel_workers": 0, "debug": False}
    (root / "settings.json").write_text(json.dumps(settings))
    model_dir = root / REGISTERED_MODEL_NAME
    model_dir.mkdir()
    (model_dir / "model-settings.json").write_text(json.dumps({
        "name": REGISTERED_MODEL_NAME, "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": str(logged_model.folder)}}))
    base = f"http://127.0.0.1:{http_port}"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    with server_process([str(mlserver_executable), "start", str(root)],
                        base + V2Protocol().health_path, root / "mlserver.log",
                        STARTUP_BOUND_S, cwd=root, env=env) as (_, startup):
        print(f"MLServer ready in {startup:.1f} s on {base}")
        yield base


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame[list(schema.FEATURE_NAMES)].to_dict("records")


def expected(logged: LoggedModel, frame: pd.DataFrame) -> list[float]:
    return list(logged.model.predict_proba(frame[list(schema.FEATURE_NAMES)])[:, 1])


def call(base: str, protocol: MLflowProtocol | V2Protocol,
         rows: list[dict[str, Any]]) -> httpx.Response:
    path, payload = protocol.encode(rows)
    return httpx.post(base + path, json=payload, timeout=30)


# Against the real server --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("size", [1, 40])
def test_v2_answers_are_the_models_own_probabilities(
    mlserver: str, logged_model: LoggedModel, size: int
) -> None:
    frame = logged_model.holdout.iloc[:size]
    response = call(mlserver, V2Protocol(), records(frame))
    assert response.status_code == 200, response.text
    probabilities = V2Protocol().decode(response.json(), expected_rows=size)
    assert probabilities == pytest.approx(expected(logged_model, frame), abs=TOLERANCE, rel=0)


@pytest.mark.slow
def test_the_mlflow_protocol_gets_the_same_answers_from_mlservers_invocations(
    mlserver: str, logged_model: LoggedModel
) -> None:
    # MLServer's MLflow runtime also answers MLflow's own /invocations.
    frame = logged_model.holdout
    response = call(mlserver, MLflowProtocol(), records(frame))
    assert response.status_code == 200, response.text
    probabilities = MLflowProtocol().decode(response.json(), expected_rows=len(frame))
    assert probabilities == pytest.approx(expected(logged_model, frame), abs=TOLERANCE, rel=0)


@pytest.mark.slow
def test_the_service_model_client_speaks_v2_to_mlserver(
    mlserver: str, logged_model: LoggedModel
) -> None:
    """The client the service uses, given the V2 endpoint a Seldon deployment publishes."""
    import asyncio

    from serving.model_client import ModelClient, ModelServerError

    frame = logged_model.holdout.iloc[:25]
    endpoint = f"{mlserver}/v2/models/{REGISTERED_MODEL_NAME}/infer"

    async def scenario() -> list[float]:
        client = ModelClient(timeout_s=30)
        try:
            await client.ping(endpoint)
            answer = await client.churn_probabilities(endpoint, records(frame))
            with pytest.raises(ModelServerError, match="answered 404"):
                await client.churn_probabilities(
                    f"{mlserver}/v2/models/no-such-model/infer", records(frame))
            return answer
        finally:
            await client.aclose()

    probabilities = asyncio.run(scenario())
    assert probabilities == pytest.approx(expected(logged_model, frame), abs=TOLERANCE, rel=0)


@pytest.mark.slow
def test_health_paths_answer(mlserver: str) -> None:
    for path in (V2Protocol().health_path, "/v2/health/ready", MLflowProtocol.health_path):
        assert httpx.get(mlserver + path, timeout=10).status_code == 200, path


@pytest.mark.slow
def test_the_server_describes_the_inputs_the_codec_sends(mlserver: str) -> None:
    metadata = httpx.get(f"{mlserver}/v2/models/{REGISTERED_MODEL_NAME}", timeout=10).json()
    described = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    _, payload = V2Protocol().encode(records(pd.DataFrame([_row()])))
    assert {i["name"]: i["datatype"] for i in payload["inputs"]} == described


@pytest.mark.slow
def test_bad_answers_raise_protocol_errors(mlserver: str, logged_model: LoggedModel) -> None:
    protocol = V2Protocol()
    rows = records(logged_model.holdout.iloc[:3])
    good = call(mlserver, protocol, rows).json()
    assert len(protocol.decode(good, 3)) == 3

    def broken(change) -> dict[str, Any]:
        body = json.loads(json.dumps(good))
        change(body, body["outputs"][0])
        return body

    cases = {
        "row count": (good, 4),
        "shape": (broken(lambda b, o: o.update(shape=[3, 3])), 3),
        "short data": (broken(lambda b, o: o.update(data=o["data"][:-1])), 3),
        "above 1": (broken(lambda b, o: o["data"].__setitem__(1, 1.5)), 3),
        "not finite": (broken(lambda b, o: o["data"].__setitem__(3, math.nan)), 3),
        "not a number": (broken(lambda b, o: o["data"].__setitem__(5, "high")), 3),
        "datatype": (broken(lambda b, o: o.update(datatype="BYTES")), 3),
        "other model": (broken(lambda b, o: b.update(model_name="iris")), 3),
        "two outputs": (broken(lambda b, o: b["outputs"].append(dict(o))), 3),
        "no outputs": (broken(lambda b, o: b.pop("outputs")), 3),
    }
    accepted = []
    for case, (body, rows_expected) in cases.items():
        try:
            protocol.decode(body, rows_expected)
        except ProtocolError:
            continue
        accepted.append(case)
    assert accepted == []

    # A real error answer: a model the server does not have.
    missing = httpx.post(f"{mlserver}/v2/models/iris/infer", json=protocol.encode(rows)[1],
                         timeout=10)
    assert missing.status_code == 404
    with pytest.raises(ProtocolError, match="no outputs"):
        protocol.decode(missing.json(), 3)


# The codecs alone ---------------------------------------------------------------------------


def _row(**changes: Any) -> dict[str, Any]:
    row = {"gender": "Female", "SeniorCitizen": 0, "Partner": "Yes", "Dependents": "No",
           "tenure": 1, "Contract": "Month-to-month", "PaperlessBilling": "Yes",
           "PaymentMethod": "Electronic check", "MonthlyCharges": 29.85, "TotalCharges": 29.85,
           "PhoneService": "No", "MultipleLines": "No phone service",
           "InternetService": "DSL", "OnlineSecurity": "No", "OnlineBackup": "Yes",
           "DeviceProtection": "No", "TechSupport": "No", "StreamingTV": "No",
           "StreamingMovies": "No"}
    return {**row, **changes}


def test_v2_request_has_one_typed_input_per_feature() -> None:
    path, payload = V2Protocol().encode([_row(), _row(tenure=34, TotalCharges=1889)])
    assert path == f"/v2/models/{REGISTERED_MODEL_NAME}/infer"
    assert payload["parameters"] == {"content_type": "pd"}
    assert [i["name"] for i in payload["inputs"]] == list(schema.FEATURE_NAMES)
    inputs = {i["name"]: i for i in payload["inputs"]}
    assert inputs["gender"] == {"name": "gender", "datatype": "BYTES", "shape": [2, 1],
                                "data": ["Female", "Female"]}
    assert inputs["tenure"]["datatype"] == "INT64" and inputs["tenure"]["data"] == [1, 34]
    assert inputs["SeniorCitizen"]["datatype"] == "INT64"
    assert inputs["TotalCharges"]["datatype"] == "FP64"
    assert inputs["TotalCharges"]["data"] == [29.85, 1889.0]
    assert all(isinstance(v, float) for v in inputs["TotalCharges"]["data"])


@pytest.mark.parametrize(("change", "message"), [
    ({"tenure": 1.5}, "tenure: expected a whole number"),
    ({"gender": 1}, "gender: expected a string"),
    ({"MonthlyCharges": None}, "MonthlyCharges: expected a number"),
    ({"MonthlyCharges": math.inf}, "MonthlyCharges: expected a finite number"),
    ({"SeniorCitizen": True}, "SeniorCitizen: expected a number"),
])
def test_v2_encoding_refuses_values_of_the_wrong_type(change: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        V2Protocol().encode([_row(**change)])


def test_both_encodings_name_a_missing_feature() -> None:
    row = _row()
    del row["Contract"]
    for protocol in (V2Protocol(), MLflowProtocol()):
        with pytest.raises(ProtocolError, match="Contract"):
            protocol.encode([row])


def test_v2_decoding_accepts_nested_row_major_data() -> None:
    body = {"model_name": REGISTERED_MODEL_NAME, "outputs": [
        {"name": "output-1", "shape": [2, 2], "datatype": "FP64",
         "data": [[0.25, 0.75], [0.9, 0.1]]}]}
    assert V2Protocol().decode(body, 2) == [0.75, 0.1]


@pytest.mark.parametrize(("body", "rows"), [
    ({"predictions": [[0.4, 0.6]]}, 2),
    ({"predictions": [[0.4, 1.6]]}, 1),
    ({"predictions": [[0.4, math.nan]]}, 1),
    ({"predictions": [[0.4]]}, 1),
    ({"predictions": "0.6"}, 1),
    ({"outputs": []}, 1),
    ([0.6], 1),
])
def test_mlflow_decoding_checks_like_the_model_client(body: Any, rows: int) -> None:
    with pytest.raises(ProtocolError):
        MLflowProtocol().decode(body, rows)
    assert MLflowProtocol().decode({"predictions": [[0.4, 0.6]]}, 1) == [0.6]
