"""The Feast definitions in feature_repo/ follow churnops.schema (no store is opened)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from feast import FeatureView
from feast.repo_config import load_repo_config
from feast.types import Float64, Int64, String

from churnops import features, paths, schema

EXPECTED_TYPES = {"categorical": String, "integer": Int64, "binary": Int64, "numeric": Float64}


@pytest.fixture(scope="module")
def definitions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    previous = os.environ.get("CHURNOPS_HOME")
    os.environ["CHURNOPS_HOME"] = str(tmp_path_factory.mktemp("churnops_home"))
    try:
        yield features.load_definitions()
    finally:
        if previous is None:
            os.environ.pop("CHURNOPS_HOME", None)
        else:
            os.environ["CHURNOPS_HOME"] = previous


def views(definitions: ModuleType) -> list[FeatureView]:
    return [value for value in vars(definitions).values() if isinstance(value, FeatureView)]


def test_one_view_per_schema_group(definitions: ModuleType) -> None:
    by_name = {view.name: view for view in views(definitions)}

    assert sorted(by_name) == sorted(f"customer_{group}" for group in schema.FEATURE_GROUPS)
    for group in schema.FEATURE_GROUPS:
        view = by_name[f"customer_{group}"]
        assert [f.name for f in view.features] == [c.name for c in schema.features_in_group(group)]
        assert view.entities == ["customer"]
        assert view.online
        assert view.ttl >= timedelta(days=365)


def test_feature_service_covers_exactly_the_schema_features(definitions: ModuleType) -> None:
    service = definitions.churn_model

    served = [f.name for p in service.feature_view_projections for f in p.features]
    assert service.name == features.FEATURE_SERVICE
    assert sorted(served) == sorted(schema.FEATURE_NAMES)
    assert len(served) == len(set(served))


def test_no_feature_is_in_two_views(definitions: ModuleType) -> None:
    counts = Counter(f.name for view in views(definitions) for f in view.features)

    assert [name for name, count in counts.items() if count > 1] == []


def test_field_types_follow_schema_kinds(definitions: ModuleType) -> None:
    for view in views(definitions):
        for field in view.features:
            assert field.dtype == EXPECTED_TYPES[schema.BY_NAME[field.name].kind], field.name


def test_entity_and_source(definitions: ModuleType) -> None:
    assert definitions.customer.join_key == schema.ENTITY_KEY
    source = definitions.customer_snapshot
    assert source.path == str(features.offline_source_path())
    assert source.timestamp_field == features.EVENT_TIMESTAMP
    assert not source.created_timestamp_column
    assert {view.batch_source.name for view in views(definitions)} == {source.name}


def test_repo_contents_collect_every_definition(definitions: ModuleType) -> None:
    contents = features.repo_contents(definitions, "churnops")

    assert [p.name for p in contents.projects] == ["churnops"]
    assert {e.name for e in contents.entities} >= {"customer"}
    assert len(contents.feature_views) == len(schema.FEATURE_GROUPS)
    assert [s.name for s in contents.feature_services] == [features.FEATURE_SERVICE]
    assert [s.name for s in contents.data_sources] == ["customer_snapshot"]


def test_definitions_file_is_the_only_python_file_in_the_repo() -> None:
    # `feast apply` imports every .py file of the repository.
    assert [p.name for p in paths.FEATURE_REPO.rglob("*.py")] == [features.DEFINITIONS_FILE]


PRODUCTION_ENV = {
    "CHURNOPS_FEAST_PROJECT": "churnops",
    "CHURNOPS_FEAST_REGISTRY_URL": "postgresql+psycopg://feast@postgres:5432/feast",
    "CHURNOPS_FEAST_REDIS": "redis:6379,db=0",
    features.OFFLINE_SOURCE_ENV: "s3://churnops/feast/customer_snapshot.parquet",
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("CHURNOPS_HOME", str(tmp_path))
    monkeypatch.setenv(features.FEAST_ENV, "production")
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_the_local_configuration_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(features.FEAST_ENV, raising=False)
    monkeypatch.delenv(features.OFFLINE_SOURCE_ENV, raising=False)

    assert features.feature_store_yaml() == paths.FEATURE_REPO / "feature_store.yaml"
    assert features.offline_source_path() == str(paths.feast_dir() / "customer_snapshot.parquet")


def test_an_unknown_environment_names_the_configurations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(features.FEAST_ENV, "staging")

    with pytest.raises(FileNotFoundError, match="feature_store.production.yaml"):
        features.feature_store_yaml()


def test_production_reads_redis_and_a_sql_registry(production: pytest.MonkeyPatch) -> None:
    yaml_file = features.feature_store_yaml()
    config = load_repo_config(paths.FEATURE_REPO, yaml_file)

    assert yaml_file.name == "feature_store.production.yaml"
    assert config.project == "churnops"
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "redis:6379,db=0"
    assert config.registry.registry_type == "sql"
    assert config.registry.path == PRODUCTION_ENV["CHURNOPS_FEAST_REGISTRY_URL"]
    assert config.registry.serve_features_while_materializing
    assert config.offline_store.type == "file"


def test_production_applies_the_same_definitions_to_the_shared_source(
    production: pytest.MonkeyPatch, definitions: ModuleType
) -> None:
    in_production = features.load_definitions()

    assert in_production.customer_snapshot.path == PRODUCTION_ENV[features.OFFLINE_SOURCE_ENV]
    names = ["customer", "customer_snapshot", "churn_model", *(v.name for v in views(definitions))]
    for name in names:
        local, shared = getattr(definitions, name), getattr(in_production, name)
        assert spec_but_source_path(local) == spec_but_source_path(shared), name


def spec_but_source_path(obj: Any) -> Any:
    """The object's Feast spec without file-source locations and creation times."""
    proto = obj.to_proto()
    spec = proto.spec if "spec" in proto.DESCRIPTOR.fields_by_name else proto
    _blank_file_sources(spec)
    return spec


def _blank_file_sources(message: Any) -> None:
    if "file_options" in message.DESCRIPTOR.fields_by_name:
        message.file_options.uri = ""
        message.ClearField("meta")
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.label == field.LABEL_REPEATED:
            if not field.message_type.GetOptions().map_entry:
                for item in value:
                    _blank_file_sources(item)
        else:
            _blank_file_sources(value)


def test_production_needs_a_shared_offline_source(production: pytest.MonkeyPatch) -> None:
    production.delenv(features.OFFLINE_SOURCE_ENV)

    with pytest.raises(RuntimeError, match=features.OFFLINE_SOURCE_ENV):
        features.offline_source_path()


def test_opening_names_every_missing_variable(production: pytest.MonkeyPatch) -> None:
    production.delenv("CHURNOPS_FEAST_REDIS")
    production.delenv("CHURNOPS_FEAST_REGISTRY_URL")

    with pytest.raises(RuntimeError, match="CHURNOPS_FEAST_REDIS, CHURNOPS_FEAST_REGISTRY_URL"):
        features.open_store()
