"""Feast definitions for the churn model, generated from ``churnops.schema``.

One feature view per schema group, all read from the customer snapshot parquet file, and
the ``churn_model`` feature service that bundles them. Apply with ``feast apply`` from this
folder (export ``CHURNOPS_HOME`` first) or with ``churnops.features.apply``.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

# The feast CLI imports this file as a top-level module: make the project package importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType  # noqa: E402
from feast.types import Float64, Int64, PrimitiveFeastType, String  # noqa: E402

from churnops import schema  # noqa: E402
from churnops.features import (  # noqa: E402
    EVENT_TIMESTAMP,
    FEATURE_SERVICE,
    offline_source_path,
)

if not os.environ.get("CHURNOPS_HOME"):
    raise RuntimeError(
        "CHURNOPS_HOME is not set. feature_store.yaml and this file both place Feast's files "
        "in that folder: export it before running feast (see README.md)."
    )

FEAST_TYPES: dict[str, PrimitiveFeastType] = {
    "categorical": String,
    "integer": Int64,
    "binary": Int64,
    "numeric": Float64,
}
"""Feast value type for each feature kind of the schema."""

TTL = timedelta(days=3650)
"""How far back a point-in-time join looks for a customer's snapshot.

Snapshots are replaced, not expired: a customer's latest snapshot stays valid until a newer
one arrives, so the TTL only has to exceed any gap between snapshots and the entity
timestamps asked about. Ten years does; it also bounds the window ``materialize`` reads.
"""

customer = Entity(
    name="customer",
    join_keys=[schema.ENTITY_KEY],
    value_type=ValueType.STRING,
    description="A Telco customer, keyed by the customer ID of the raw table.",
)

customer_snapshot = FileSource(
    name="customer_snapshot",
    path=str(offline_source_path()),
    timestamp_field=EVENT_TIMESTAMP,
    description="One row per customer and snapshot time (see churnops.features).",
)


def feature_view(group: str) -> FeatureView:
    """The feature view ``customer_<group>`` serving the schema's features of ``group``."""
    return FeatureView(
        name=f"customer_{group}",
        entities=[customer],
        ttl=TTL,
        schema=[Field(name=schema.ENTITY_KEY, dtype=String)]
        + [
            Field(name=column.name, dtype=FEAST_TYPES[column.kind], description=column.description)
            for column in schema.features_in_group(group)
        ],
        online=True,
        source=customer_snapshot,
        tags={"group": group},
    )


customer_demographics = feature_view("demographics")
customer_account = feature_view("account")
customer_services = feature_view("services")

churn_model = FeatureService(
    name=FEATURE_SERVICE,
    features=[customer_demographics, customer_account, customer_services],
    description="Every feature the churn model is trained and served with.",
)
