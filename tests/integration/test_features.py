"""The feature store end to end: offline source, apply, materialize, offline and online reads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore

from churnops import features, schema

KNOWN_CUSTOMER = "7590-VHVEG"
UNKNOWN_CUSTOMER = "0000-NOSUCH"
FLOATS = [c.name for c in schema.FEATURES if c.kind == "numeric"]
NON_FLOATS = [schema.ENTITY_KEY, *(n for n in schema.FEATURE_NAMES if n not in FLOATS)]
EXPECTED_DTYPES = {
    "categorical": "object",
    "integer": "int64",
    "binary": "int64",
    "numeric": "float64",
}


@pytest.fixture(scope="module")
def clean_df(clean_customers: pd.DataFrame) -> pd.DataFrame:
    return clean_customers


@pytest.fixture(scope="module")
def store(feature_store: FeatureStore) -> FeatureStore:
    """The session's applied and materialized repo (see conftest)."""
    return feature_store


@pytest.fixture(scope="module")
def isolated_store(
    tmp_path_factory: pytest.TempPathFactory, clean_df: pd.DataFrame
) -> Iterator[FeatureStore]:
    """A second state folder for tests that rewrite the offline source."""
    previous = os.environ["CHURNOPS_HOME"]
    os.environ["CHURNOPS_HOME"] = str(tmp_path_factory.mktemp("churnops_home"))
    try:
        feature_store = features.open_store()
        features.publish(feature_store, clean_df)
        yield feature_store
    finally:
        os.environ["CHURNOPS_HOME"] = previous


@pytest.fixture(scope="module")
def offline(store: FeatureStore, clean_df: pd.DataFrame) -> pd.DataFrame:
    return features.historical_features(store, features.training_entities(clean_df))


def test_historical_retrieval_returns_every_customer(
    offline: pd.DataFrame, clean_df: pd.DataFrame
) -> None:
    assert list(offline.columns) == [
        schema.ENTITY_KEY,
        features.EVENT_TIMESTAMP,
        schema.TARGET,
        *schema.FEATURE_NAMES,
    ]
    assert len(offline) == len(clean_df) == 7043
    assert offline[schema.ENTITY_KEY].tolist() == clean_df[schema.ID_COLUMN].tolist()
    assert offline[schema.TARGET].tolist() == clean_df[schema.TARGET].tolist()
    assert not offline[list(schema.FEATURE_NAMES)].isna().any().any()
    for column in schema.FEATURES:
        assert str(offline[column.name].dtype) == EXPECTED_DTYPES[column.kind], column.name
    expected = clean_df[list(schema.FEATURE_NAMES)].reset_index(drop=True)
    pd.testing.assert_frame_equal(offline[list(schema.FEATURE_NAMES)], expected)


def test_online_store_serves_the_offline_values(
    store: FeatureStore, offline: pd.DataFrame, clean_df: pd.DataFrame
) -> None:
    ids = clean_df[schema.ID_COLUMN]
    sample = ids.sample(50, random_state=np.random.RandomState(7)).tolist()
    tenure_zero = ids[clean_df["tenure"] == 0].tolist()
    requested = list(dict.fromkeys([KNOWN_CUSTOMER, *tenure_zero, *sample]))

    online = features.online_features(store, requested)

    expected = (
        offline.set_index(schema.ENTITY_KEY)
        .loc[requested, list(schema.FEATURE_NAMES)]
        .reset_index()
    )
    assert list(online.columns) == [schema.ENTITY_KEY, *schema.FEATURE_NAMES]
    pd.testing.assert_frame_equal(online[NON_FLOATS], expected[NON_FLOATS])
    pd.testing.assert_frame_equal(online[FLOATS], expected[FLOATS], check_exact=False, rtol=1e-9)
    assert (online.loc[online["tenure"] == 0, "TotalCharges"] == 0.0).all()


def test_unknown_customer_comes_back_as_nulls(store: FeatureStore) -> None:
    online = features.online_features(store, [KNOWN_CUSTOMER, UNKNOWN_CUSTOMER])

    assert online[schema.ENTITY_KEY].tolist() == [KNOWN_CUSTOMER, UNKNOWN_CUSTOMER]
    missing = online[list(schema.FEATURE_NAMES)].isna()
    assert missing.all(axis=1).tolist() == [False, True]
    assert not missing.iloc[0].any()


def test_apply_is_idempotent(store: FeatureStore) -> None:
    names = features.apply(store)

    assert set(names) >= {"customer", features.FEATURE_SERVICE}
    assert sorted(v.name for v in store.list_feature_views()) == sorted(
        f"customer_{group}" for group in schema.FEATURE_GROUPS
    )


@pytest.fixture
def later_snapshot(isolated_store: FeatureStore, clean_df: pd.DataFrame) -> Iterator[pd.Timestamp]:
    """Append a later snapshot with new MonthlyCharges for one customer, then restore."""
    observed_at = features.SNAPSHOT_TIME + timedelta(days=30)
    changed = clean_df[clean_df[schema.ID_COLUMN] == KNOWN_CUSTOMER].assign(MonthlyCharges=99.5)
    original = features.to_offline_frame(clean_df)
    features.write_offline_source(
        pd.concat([original, features.to_offline_frame(changed, observed_at)], ignore_index=True)
    )
    try:
        yield pd.Timestamp(observed_at)
    finally:
        features.write_offline_source(original)
        features.materialize(isolated_store)


def test_point_in_time_join_picks_the_snapshot_current_at_each_timestamp(
    isolated_store: FeatureStore, later_snapshot: pd.Timestamp
) -> None:
    day = pd.Timedelta(days=1)
    entities = pd.DataFrame(
        {
            schema.ENTITY_KEY: [KNOWN_CUSTOMER] * 3,
            features.EVENT_TIMESTAMP: [
                pd.Timestamp(features.SNAPSHOT_TIME) - day,
                later_snapshot - day,
                later_snapshot + day,
            ],
        }
    )

    result = features.historical_features(isolated_store, entities)

    assert len(result) == 3
    # Before the first snapshot nothing is known yet; afterwards each row sees the latest.
    assert result[list(schema.FEATURE_NAMES)].isna().all(axis=1).tolist() == [True, False, False]
    assert result["MonthlyCharges"].tolist()[1:] == [29.85, 99.5]
    assert result["tenure"].tolist()[1:] == [1, 1]


def test_materialize_serves_the_latest_snapshot(
    isolated_store: FeatureStore, later_snapshot: pd.Timestamp
) -> None:
    features.materialize(isolated_store)

    online = features.online_features(isolated_store, [KNOWN_CUSTOMER])

    assert online["MonthlyCharges"].tolist() == [99.5]


def test_serving_rows_equal_the_online_frame(store: FeatureStore) -> None:
    ids = [KNOWN_CUSTOMER, UNKNOWN_CUSTOMER, "3668-QPYBK"]
    frame = features.online_features(store, ids)

    rows = features.online_feature_rows(store, ids)

    assert rows[1] is None
    for row, record in zip((rows[0], rows[2]), frame.iloc[[0, 2]].to_dict("records"),
                           strict=True):
        assert row == {name: record[name] for name in schema.FEATURE_NAMES}
        assert {name: type(value) for name, value in row.items()} == {
            c.name: {"categorical": str, "numeric": float}.get(c.kind, int)
            for c in schema.FEATURES}
