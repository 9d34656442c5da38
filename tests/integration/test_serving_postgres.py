"""The inference log on a real PostgreSQL (127.0.0.1:5432, database ``test``)."""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from churnops.deployment import LiveDeployment
from churnops.inference_log import PredictionRecord
from serving.inference_log import Feedback, InferenceLog
from tests.serving_fixtures import (
    Champion,
    ModelServer,
    model_deployment,
    require_service,
    service_settings,
    write_deployment,
)

HOST, PORT, DATABASE = "127.0.0.1", 5432, "test"


def _connectable_url() -> str:
    """The first of the ``postgres`` and the current user that can log in."""
    errors = []
    for user in dict.fromkeys(["postgres", getpass.getuser()]):
        url = f"postgresql+psycopg://{user}@{HOST}:{PORT}/{DATABASE}"
        engine = create_engine(url)
        try:
            with engine.connect():
                return url
        except Exception as error:
            errors.append(f"{user}: {error}")
        finally:
            engine.dispose()
    pytest.fail("PostgreSQL is up but refuses every user: " + "; ".join(errors))


@pytest.fixture
def postgres_log_url() -> Iterator[str]:
    """A URL whose tables live in a schema of their own, dropped afterwards."""
    require_service("PostgreSQL", HOST, PORT)
    url = _connectable_url()
    schema = f"churnops_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _record(request_id: str) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id, customer_id="7590-VHVEG", features={"tenure": 1},
        model_version="1", variant="primary", probability=0.5, decision=True,
        latency_ms=1.0, status="ok",
    )


def test_concurrent_writes_leave_every_row_on_postgres(postgres_log_url: str) -> None:
    log = InferenceLog(postgres_log_url)
    ids = [uuid.uuid4().hex for _ in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(lambda i: log.record_predictions([_record(i)]), ids))
    [recorded] = log.record_feedback([Feedback("7590-VHVEG", True, ids[0])])
    with log.engine.connect() as connection:
        logged = {row[0] for row in connection.execute(text("SELECT request_id FROM predictions"))}
        schema = connection.execute(text("SELECT current_schema()")).scalar()
    joined = log.labelled_predictions()
    log.close()
    assert logged == set(ids)
    assert schema.startswith("churnops_test_")
    assert [(j["feedback_id"], j["request_id"]) for j in joined] == [(recorded.id, ids[0])]


@pytest.mark.slow
def test_concurrent_predictions_each_leave_one_row_on_postgres(
    postgres_log_url: str, tmp_path, champion: Champion, champion_server: ModelServer,
    start_service, clean_customers
) -> None:
    settings = service_settings(tmp_path, inference_log_url=postgres_log_url)
    write_deployment(settings.deployment_url, LiveDeployment(
        primary=model_deployment(champion, champion_server.endpoint)))
    service = start_service(settings)
    ids = clean_customers["customerID"].head(50).tolist()
    with service.client() as client, ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda i: client.post("/predict", json={"customer_id": i}),
                                  ids))
    assert [r.status_code for r in responses] == [200] * 50
    log = InferenceLog(postgres_log_url)
    with log.engine.connect() as connection:
        logged = {row[0] for row in connection.execute(text("SELECT request_id FROM predictions"))}
    log.close()
    assert logged == {r.json()["request_id"] for r in responses}
