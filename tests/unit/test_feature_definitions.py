"""The Feast definitions in feature_repo/ follow churnops.schema (no store is opened)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType

import pytest
from feast import FeatureView
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
