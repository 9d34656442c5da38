"""The customer feature store: offline source, Feast apply and materialize, retrieval.

Timestamps. The Telco extract carries no timestamps, so every customer row is treated as a
snapshot observed at one fixed time, ``SNAPSHOT_TIME``: the offline source gets
``event_timestamp = SNAPSHOT_TIME`` for every row. No ``created_timestamp`` (write time) is
recorded, which keeps the source, and so every retrieval, a pure function of the data.

Labels are not features. ``Churn`` is observed after the features it is explained by, so
the training entity frame carries it with ``event_timestamp = SNAPSHOT_TIME + LABEL_DELAY``
and Feast's point-in-time join picks the snapshot that was current when the label was seen.

The Feast definitions themselves live in ``feature_repo/features.py``; this module applies
them programmatically, so the feast CLI and the pipelines share one source.

Environments. ``CHURNOPS_FEAST_ENV`` picks the store configuration the same definitions are
applied to: unset (or ``local``) is ``feature_repo/feature_store.yaml``, a file registry and
an SQLite online store in the state folder; ``production`` is
``feature_repo/feature_store.production.yaml``, a PostgreSQL registry and a Redis online
store. ``CHURNOPS_FEAST_OFFLINE_SOURCE`` moves the offline parquet source to shared storage
(for example ``s3://...``); production requires it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import fsspec
import pandas as pd
from feast import Entity, FeatureService, FeatureStore, FeatureView, Project
from feast.data_source import DataSource
from feast.feature_view import DUMMY_ENTITY
from feast.repo_contents import RepoContents
from feast.repo_operations import extract_objects_for_apply_delete
from fsspec.implementations.local import LocalFileSystem

from churnops import paths, schema

logger = logging.getLogger(__name__)

SNAPSHOT_TIME = datetime(2024, 1, 31, tzinfo=UTC)
"""When the customer snapshot in the raw data is taken to have been observed."""

LABEL_DELAY = timedelta(days=1)
"""How long after a snapshot its churn label is observed."""

FEATURE_SERVICE = "churn_model"
"""The Feast feature service that serves every model feature."""

EVENT_TIMESTAMP = "event_timestamp"
"""Timestamp column of the offline source and of entity frames."""

DEFINITIONS_FILE = "features.py"
"""The file of the feature repository that holds the Feast definitions."""

FEAST_ENV = "CHURNOPS_FEAST_ENV"
"""Names the store configuration: ``local`` (the default) or ``production``."""

OFFLINE_SOURCE_ENV = "CHURNOPS_FEAST_OFFLINE_SOURCE"
"""Path or URI of the offline parquet source; defaults to the local state folder."""

LOCAL_ENV = "local"

_T = TypeVar("_T")


def feast_env() -> str:
    """The selected store configuration: ``CHURNOPS_FEAST_ENV``, ``local`` when unset."""
    return os.environ.get(FEAST_ENV, "").strip() or LOCAL_ENV


def feature_store_yaml(repo_path: str | Path = paths.FEATURE_REPO) -> Path:
    """The ``feature_store*.yaml`` of ``repo_path`` that ``CHURNOPS_FEAST_ENV`` selects.

    ``local`` is ``feature_store.yaml``; any other name ``NAME`` is
    ``feature_store.NAME.yaml``. The one place that decides which configuration is used.
    """
    env = feast_env()
    name = "feature_store.yaml" if env == LOCAL_ENV else f"feature_store.{env}.yaml"
    path = Path(repo_path) / name
    if not path.is_file():
        available = sorted(p.name for p in Path(repo_path).glob("feature_store*.yaml"))
        raise FileNotFoundError(
            f"{FEAST_ENV}={env!r} selects {path}, which does not exist. "
            f"Configurations in {repo_path}: {', '.join(available) or 'none'}."
        )
    return path


def offline_source_path() -> str:
    """Where the Feast ``FileSource`` reads the snapshot parquet: a local path or a URI.

    ``CHURNOPS_FEAST_OFFLINE_SOURCE`` when set (``s3://bucket/feast/customer_snapshot.parquet``
    in production, where every pod must read the same object), else a file in the local
    state folder. Only the local configuration may fall back to the state folder.
    """
    if configured := os.environ.get(OFFLINE_SOURCE_ENV, "").strip():
        return configured
    if feast_env() != LOCAL_ENV:
        raise RuntimeError(
            f"{OFFLINE_SOURCE_ENV} is not set. With {FEAST_ENV}={feast_env()} the offline "
            "source must live on storage every pod reads (for example "
            "s3://<bucket>/feast/customer_snapshot.parquet); see feature_repo/README.md."
        )
    return str(paths.feast_dir() / "customer_snapshot.parquet")


def _offline_filesystem(location: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem (the one Feast's file store reads with) and path of a location."""
    return fsspec.core.url_to_fs(location)


def to_offline_frame(clean_df: pd.DataFrame, observed_at: datetime = SNAPSHOT_TIME) -> pd.DataFrame:
    """Rows of the offline source: ``customer_id``, the feature columns, ``event_timestamp``.

    ``clean_df`` is the output of ``churnops.data.clean``. Every row is stamped with
    ``observed_at`` (timezone-aware, stored as UTC): ``SNAPSHOT_TIME`` unless a later
    snapshot is being recorded.
    """
    frame = clean_df[[schema.ID_COLUMN, *schema.FEATURE_NAMES]].rename(
        columns={schema.ID_COLUMN: schema.ENTITY_KEY}
    )
    frame[EVENT_TIMESTAMP] = pd.Timestamp(observed_at).tz_convert("UTC")
    return schema.cast_features(frame.reset_index(drop=True))


def write_offline_source(df: pd.DataFrame, path: str | Path | None = None) -> str:
    """Write an offline frame (see ``to_offline_frame``) as parquet; returns where.

    The default location is the one the feature views read (``offline_source_path``). URIs
    such as ``s3://`` go through fsspec, which Feast's file offline store reads them with.
    """
    target = str(path) if path is not None else offline_source_path()
    filesystem, location = _offline_filesystem(target)
    if isinstance(filesystem, LocalFileSystem):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
    with filesystem.open(location, "wb") as file:
        df.to_parquet(file, index=False)
    return target


def _offline_source_exists() -> bool:
    filesystem, location = _offline_filesystem(offline_source_path())
    return filesystem.exists(location)


def open_store(repo_path: str | Path = paths.FEATURE_REPO) -> FeatureStore:
    """The Feast store of ``repo_path`` under the configuration ``feature_store_yaml`` picks.

    Opened once per process and resolved configuration. Exports ``CHURNOPS_HOME`` first,
    since the local configuration refers to it, and names any other variable the
    configuration refers to that is unset (Feast would keep ``${NAME}`` literally).
    """
    paths.export_state_env()
    yaml_file = feature_store_yaml(repo_path)
    text = yaml_file.read_text()
    referenced = re.findall(r"\$\{(\w+)\}", re.sub(r"#.*", "", text))
    if missing := sorted({name for name in referenced if not os.environ.get(name)}):
        raise RuntimeError(
            f"{yaml_file.name} needs {', '.join(missing)}: set them "
            f"(see {Path(repo_path) / 'README.md'})."
        )
    return _open_store(str(Path(repo_path).resolve()), str(yaml_file.resolve()),
                       os.path.expandvars(text))


@functools.cache
def _open_store(repo_path: str, yaml_file: str, resolved: str) -> FeatureStore:
    # ``resolved`` (the configuration as Feast will expand it) only keys the cache.
    return FeatureStore(repo_path=repo_path, fs_yaml_file=Path(yaml_file))


def load_definitions(repo_path: str | Path = paths.FEATURE_REPO) -> ModuleType:
    """Import the repository's definitions file afresh (it reads ``CHURNOPS_HOME``)."""
    paths.export_state_env()
    file = Path(repo_path) / DEFINITIONS_FILE
    spec = importlib.util.spec_from_file_location("churnops_feature_repo", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import Feast definitions from {file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def repo_contents(definitions: ModuleType, project: str) -> RepoContents:
    """The Feast objects a definitions module declares, collected as ``feast apply`` does."""
    objects = list({id(value): value for value in vars(definitions).values()}.values())
    return RepoContents(
        projects=[Project(name=project)],
        data_sources=_of_type(objects, DataSource),
        feature_views=_of_type(objects, FeatureView),
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        # Feast registers a placeholder entity for entityless views; keep it, as the CLI does.
        entities=[*_of_type(objects, Entity), DUMMY_ENTITY],
        feature_services=_of_type(objects, FeatureService),
        permissions=[],
    )


def _of_type(objects: Iterable[object], kind: type[_T]) -> list[_T]:
    return [obj for obj in objects if isinstance(obj, kind)]


def apply(store: FeatureStore) -> list[str]:
    """Register the repository's definitions, like ``feast apply``; returns their names.

    Objects that changed are updated, objects no longer declared are removed, and the
    online store tables follow. Applying unchanged definitions changes nothing.
    """
    contents = repo_contents(load_definitions(store.repo_path), store.project)
    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(
        store.project, store.registry, contents
    )
    store.apply(to_apply, objects_to_delete=to_delete, partial=False)
    declared = [
        *contents.data_sources,
        *contents.entities,
        *contents.feature_views,
        *contents.feature_services,
    ]
    return [obj.name for obj in declared if obj is not DUMMY_ENTITY]


def materialize(store: FeatureStore, end: datetime | None = None) -> None:
    """Load the latest snapshot per customer, up to ``end`` (default now), into the online store.

    Always a full reload of the TTL window rather than an incremental one: snapshots carry
    fixed timestamps, so a rewritten source would be missed by an incremental run that
    already passed them. Re-running with the same source and ``end`` writes the same rows.
    """
    end = end or datetime.now(UTC)
    views = store.list_feature_views()
    if not views:
        raise RuntimeError("No feature views are registered: apply the definitions first.")
    start = end - max(view.ttl for view in views)
    store.materialize(start_date=start, end_date=end)


def publish(store: FeatureStore, clean_df: pd.DataFrame) -> dict[str, str | int | bool]:
    """Write the offline source, apply and materialize: the feature pipeline's whole job.

    Idempotent. When the store already holds this exact snapshot under these exact
    definitions (a marker records both fingerprints), nothing is rewritten.
    """
    frame = to_offline_frame(clean_df)
    definitions = Path(store.repo_path) / DEFINITIONS_FILE
    fingerprint = hashlib.sha256(
        pd.util.hash_pandas_object(frame, index=False).values.tobytes()
        + definitions.read_bytes()
        # Which store and source: a snapshot published to one is not published to another.
        + store.config.model_dump_json().encode()
        + offline_source_path().encode()
    ).hexdigest()
    marker = paths.feast_dir() / "published.json"
    state: dict[str, str | int | bool] = {
        "fingerprint": fingerprint,
        "rows": len(frame),
        "offline_source": offline_source_path(),
        "feature_service": FEATURE_SERVICE,
        "snapshot_time": SNAPSHOT_TIME.isoformat(),
    }
    current = json.loads(marker.read_text()) if marker.exists() else {}
    if (current.get("fingerprint") == fingerprint and _offline_source_exists()
            and _serves_online(store, str(frame[schema.ENTITY_KEY].iloc[0]))):
        logger.info("Feature store already holds this snapshot (%s...).", fingerprint[:12])
        return state
    write_offline_source(frame)
    apply(store)
    materialize(store)
    marker.write_text(json.dumps(state))
    logger.info("Published %d customers to the offline source and the online store.", len(frame))
    return state


def training_entities(clean_df: pd.DataFrame) -> pd.DataFrame:
    """The entity frame for training: ``customer_id``, ``event_timestamp`` and the label.

    The timestamp is ``SNAPSHOT_TIME + LABEL_DELAY``, when the label was observed.
    """
    return pd.DataFrame(
        {
            schema.ENTITY_KEY: clean_df[schema.ID_COLUMN].astype(str).to_numpy(),
            EVENT_TIMESTAMP: pd.Timestamp(SNAPSHOT_TIME + LABEL_DELAY),
            schema.TARGET: clean_df[schema.TARGET].to_numpy(),
        }
    )


def _serves_online(store: FeatureStore, customer_id: str) -> bool:
    """Whether the online store (whatever its backend) answers for a published customer."""
    try:
        return online_feature_rows(store, [customer_id])[0] is not None
    except Exception:  # a missing registry or table: the store needs publishing
        return False


def scoring_entities(customer_ids: Iterable[str], at: datetime | None = None) -> pd.DataFrame:
    """The entity frame for batch scoring: each customer as known at ``at`` (default now)."""
    ids = [str(customer_id) for customer_id in customer_ids]
    when = pd.Timestamp(at or datetime.now(UTC))
    return pd.DataFrame({schema.ENTITY_KEY: ids, EVENT_TIMESTAMP: [when] * len(ids)})


def historical_features(store: FeatureStore, entity_df: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time correct features of the ``churn_model`` service for ``entity_df``.

    Returns the entity frame's columns (as given) followed by the features, named as in the
    schema: one row per entity row, in the same order. Features are null where the customer
    has no snapshot within the TTL before the row's timestamp; Feast's file offline store
    drops such rows, so they are put back here.
    """
    row = "__entity_row__"
    entities = entity_df.reset_index(drop=True)
    job = store.get_historical_features(
        entity_df=entities.assign(**{row: entities.index}),
        features=store.get_feature_service(FEATURE_SERVICE),
        full_feature_names=False,
    )
    retrieved = job.to_df().set_index(row)[list(schema.FEATURE_NAMES)]
    return schema.cast_features(entities.join(retrieved))


def online_features(store: FeatureStore, customer_ids: Iterable[str]) -> pd.DataFrame:
    """Current features of the ``churn_model`` service, one row per id, in request order.

    An id the online store does not know comes back as a row whose features are all null
    (``None``/``NaN``; integer columns then use pandas' nullable ``Int64``), so callers can
    detect unknown customers with ``frame[schema.FEATURE_NAMES].isna().all(axis=1)``.
    """
    rows = [{schema.ENTITY_KEY: str(customer_id)} for customer_id in customer_ids]
    response = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=rows,
        full_feature_names=False,
    )
    frame = response.to_df()
    return schema.cast_features(frame[[schema.ENTITY_KEY, *schema.FEATURE_NAMES]])


def online_feature_rows(
    store: FeatureStore, customer_ids: Sequence[str]
) -> list[dict[str, Any] | None]:
    """The serving path: each customer's features as plain Python values, or ``None``.

    Same values as ``online_features`` without building a DataFrame, which costs more
    than the lookup itself. ``None`` marks a customer the online store does not know.
    """
    response = store.get_online_features(
        features=_feature_service(store),
        entity_rows=[{schema.ENTITY_KEY: str(customer_id)} for customer_id in customer_ids],
        full_feature_names=False,
    ).to_dict()
    columns = [response[name] for name in schema.FEATURE_NAMES]
    rows: list[dict[str, Any] | None] = []
    for values in zip(*columns, strict=True):
        known = any(value is not None for value in values)
        rows.append(dict(zip(schema.FEATURE_NAMES, values, strict=True)) if known else None)
    return rows


@functools.cache
def _feature_service(store: FeatureStore) -> FeatureService:
    # Looked up once per store: a registry read costs more than an online lookup.
    return store.get_feature_service(FEATURE_SERVICE)
