"""Loading the raw customer table, the documented cleaning rule, and the customer pools."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from churnops import schema

logger = logging.getLogger(__name__)


def load_raw(path: str | Path) -> pd.DataFrame:
    """Read the CSV exactly as a producer delivered it.

    Types are inferred by pandas, as for any raw file, and no value is changed: a blank
    ``TotalCharges`` stays a blank string so that validation can see it.
    """
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def content_hash(path: str | Path) -> str:
    """sha256 of the file's bytes: the data version logged with every model."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CleaningReport:
    rows: int
    blank_total_charges_filled: int


def clean(raw: pd.DataFrame) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the cleaning rule to validated raw data and return typed columns.

    Rule (see data/README.md): ``TotalCharges`` is blank exactly for customers with
    ``tenure == 0``, who have not been billed yet, so their total charge is 0.0. The raw
    suite has already rejected a blank for any customer with ``tenure > 0``, so the rule
    never has to guess.
    """
    df = raw.copy()
    total = df["TotalCharges"].astype("string").str.strip()
    blank = total.isna() | (total == "")
    if (df.loc[blank, "tenure"] != 0).any():
        raise ValueError("TotalCharges is blank for a customer with tenure > 0; validate first.")
    df["TotalCharges"] = pd.to_numeric(total.mask(blank, "0"), errors="raise").astype(float)
    df = schema.cast_features(df)
    df[schema.ID_COLUMN] = df[schema.ID_COLUMN].astype(str)
    report = CleaningReport(rows=len(df), blank_total_charges_filled=int(blank.sum()))
    logger.info(
        "Cleaning rule: %d blank TotalCharges (all with tenure 0) set to 0.0.",
        report.blank_total_charges_filled,
    )
    return df, report


def label(df: pd.DataFrame) -> pd.Series:
    """The binary target: 1 for churned."""
    return (df[schema.TARGET] == schema.TARGET_POSITIVE).astype("int64")


Pool = Literal["training", "reference", "future"]
POOLS: tuple[tuple[Pool, float], ...] = (("training", 0.6), ("reference", 0.2), ("future", 0.2))
"""Every customer belongs to one pool, for good (data/README.md, "Customer pools").

``training``: the only customers the first model version fits. ``reference``: its holdout,
never trained on by any version, and the fixed drift reference of every version.
``future``: customers no model has seen; simulated production draws only from them.
"""


def pool_of(customer_ids: pd.Series) -> pd.Series:
    """Each customer's pool, from a hash of its id alone: the same whatever else the table
    holds, in any order."""
    position = customer_ids.astype(str).map(
        lambda key: int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64)
    bounds = np.cumsum([share for _, share in POOLS])
    index = np.searchsorted(bounds, position.to_numpy(), side="right")
    names = np.array([name for name, _ in POOLS])
    return pd.Series(names[np.minimum(index, len(POOLS) - 1)], index=customer_ids.index)


def in_pools(frame: pd.DataFrame, *pools: Pool, column: str = schema.ID_COLUMN) -> pd.Series:
    """Whether each row's customer belongs to one of ``pools``."""
    return pool_of(frame[column]).isin(pools)
