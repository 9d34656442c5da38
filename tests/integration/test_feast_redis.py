"""The production feature store for real: Redis online store, PostgreSQL registry.

``CHURNOPS_FEAST_ENV=production`` selects ``feature_repo/feature_store.production.yaml``;
the definitions are the same ones the local tests apply. The module publishes the customer
snapshot into a project of its own (Redis keys end with the project name) registered in a
database of its own, checks that Redis serves exactly what the offline store holds, and
removes both afterwards. Redis is 127.0.0.1:6379, database 15.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import redis
from feast import FeatureStore
from feast.infra.passthrough_provider import PassthroughProvider

from churnops import features, paths, schema
from serving.feature_source import OnlineFeatureSource
from tests.postgres import fresh_database
from tests.serving_fixtures import require_service

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 15
KNOWN_CUSTOMER = "7590-VHVEG"
UNKNOWN_CUSTOMER = "0000-NOSUCH"
FLOATS = [c.name for c in schema.FEATURES if c.kind == "numeric"]
NON_FLOATS = [schema.ENTITY_KEY, *(n for n in schema.FEATURE_NAMES if n not in FLOATS)]


@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis.Redis]:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    yield client
    client.close()


@pytest.fixture(scope="module")
def project() -> str:
    """A project name no other run uses: it namespaces the registry rows and Redis keys."""
    return f"churnops_test_{uuid.uuid4().hex[:12]}"


def project_keys(client: redis.Redis, project: str) -> list[bytes]:
    """Every Redis key of ``project``: Feast ends each entity key with the project name."""
    return list(client.scan_iter(match=f"*{project}".encode(), count=1000))


@pytest.fixture(scope="module")
def production_store(
    redis_client: redis.Redis, project: str, clean_customers: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FeatureStore]:
    """The production configuration, published once; its keys and database removed after."""
    with fresh_database("churnops_feast") as registry_url, pytest.MonkeyPatch.context() as env:
        env.setenv("CHURNOPS_HOME", str(tmp_path_factory.mktemp("production_home")))
        env.setenv(features.FEAST_ENV, "production")
        env.setenv("CHURNOPS_FEAST_PROJECT", project)
        env.setenv("CHURNOPS_FEAST_REGISTRY_URL", registry_url)
        env.setenv("CHURNOPS_FEAST_REDIS", f"{REDIS_HOST}:{REDIS_PORT},db={REDIS_DB}")
        # Object storage in production; a folder standing in for the bucket here.
        offline = tmp_path_factory.mktemp("bucket") / "feast" / "customer_snapshot.parquet"
        env.setenv(features.OFFLINE_SOURCE_ENV, str(offline))
        store = features.open_store()
        try:
            features.publish(store, clean_customers)
            yield store
        finally:
            try:
                store.teardown()  # this project's Redis keys, this database's registry rows
            finally:
                leftover = project_keys(redis_client, project)
                if leftover:
                    redis_client.delete(*leftover)


@pytest.fixture(scope="module")
def requested(clean_customers: pd.DataFrame) -> list[str]:
    """A known customer, every tenure-zero customer (blank TotalCharges) and a sample."""
    ids = clean_customers[schema.ID_COLUMN]
    sample = ids.sample(50, random_state=np.random.RandomState(11)).tolist()
    tenure_zero = ids[clean_customers["tenure"] == 0].tolist()
    return list(dict.fromkeys([KNOWN_CUSTOMER, *tenure_zero, *sample]))


def test_production_configuration_is_the_one_opened(
    production_store: FeatureStore, project: str
) -> None:
    config = production_store.config

    assert features.feature_store_yaml().name == "feature_store.production.yaml"
    assert production_store.project == project
    assert config.online_store.type == "redis"
    assert config.registry.registry_type == "sql"
    assert config.registry.path.startswith("postgresql+psycopg://")
    source = production_store.get_data_source("customer_snapshot")
    assert source.path == os.environ[features.OFFLINE_SOURCE_ENV] == features.offline_source_path()
    assert sorted(v.name for v in production_store.list_feature_views()) == sorted(
        f"customer_{group}" for group in schema.FEATURE_GROUPS
    )


def test_redis_serves_the_offline_values(
    production_store: FeatureStore, requested: list[str], clean_customers: pd.DataFrame
) -> None:
    online = features.online_features(production_store, requested)
    offline = features.historical_features(
        production_store, features.scoring_entities(requested)
    )[[schema.ENTITY_KEY, *schema.FEATURE_NAMES]]

    cleaned = (
        clean_customers.set_index(schema.ID_COLUMN).loc[requested, list(schema.FEATURE_NAMES)]
        .rename_axis(schema.ENTITY_KEY).reset_index()
    )
    assert not online[list(schema.FEATURE_NAMES)].isna().any().any()
    for frame in (offline, cleaned):
        pd.testing.assert_frame_equal(online[NON_FLOATS], frame[NON_FLOATS])
        pd.testing.assert_frame_equal(online[FLOATS], frame[FLOATS], check_exact=False,
                                      rtol=1e-9, atol=1e-9)


def test_the_service_reads_the_production_store(
    production_store: FeatureStore, requested: list[str]
) -> None:
    ids = [*requested[:5], UNKNOWN_CUSTOMER]
    frame = features.online_features(production_store, ids)

    rows = OnlineFeatureSource(paths.FEATURE_REPO).lookup(ids)  # opens Feast as the service does

    assert features.open_store(paths.FEATURE_REPO) is production_store
    assert rows[-1] is None
    assert frame.iloc[-1][list(schema.FEATURE_NAMES)].isna().all()
    for row, record in zip(rows[:-1], frame.iloc[:-1].to_dict("records"), strict=True):
        assert row == {name: record[name] for name in schema.FEATURE_NAMES}


def test_every_customer_is_one_hash_of_the_project(
    production_store: FeatureStore, redis_client: redis.Redis, project: str,
    clean_customers: pd.DataFrame,
) -> None:
    keys = project_keys(redis_client, project)

    assert len(keys) == len(clean_customers)
    assert {redis_client.type(key) for key in keys[:20]} == {b"hash"}


def test_lookups_go_on_while_the_store_is_materializing(
    production_store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second store reads the shared registry and Redis, as a running service does.
    service_store = FeatureStore(repo_path=str(paths.FEATURE_REPO),
                                 fs_yaml_file=features.feature_store_yaml())
    seen: list[list[float]] = []
    load_view = PassthroughProvider.materialize_single_feature_view

    def load_view_while_serving(self: PassthroughProvider, *args: Any, **kwargs: Any) -> None:
        service_store.refresh_registry()
        seen.append(features.online_features(service_store, [KNOWN_CUSTOMER])["MonthlyCharges"]
                    .tolist())
        load_view(self, *args, **kwargs)

    monkeypatch.setattr(PassthroughProvider, "materialize_single_feature_view",
                        load_view_while_serving)
    features.materialize(production_store)

    assert seen == [[29.85]] * len(schema.FEATURE_GROUPS)


def test_publishing_the_same_snapshot_again_writes_nothing(
    production_store: FeatureStore, clean_customers: pd.DataFrame
) -> None:
    source = features.offline_source_path()
    written_at = os.stat(source).st_mtime_ns

    state = features.publish(production_store, clean_customers)

    assert state["offline_source"] == source
    assert os.stat(source).st_mtime_ns == written_at
