"""A customer base of any size, made from the future pool: for measuring cost at scale.

Each generated customer copies a future-pool customer (``churnops.data.POOLS``, which no
model version trains on), drawn with replacement, with its numbers jittered so that copies
differ: tenure by up to a month either way, the monthly charge by about 1 % (kept within the
pool's range), and the total charges moved with both. A customer of tenure 0 stays at 0 with
no total charges, as the cleaning rule has it. Categories are copied. Whether a customer
churns is drawn from the simulated world's P(churn | features) of its template
(``simulation/world.py``): the jitter is too small to move it, and the world model is not
run on millions of rows. Ids are new (``G<seed>-<n>``) and hash to pools like any id.

The same ``(size, seed)`` gives the same base; a base must not look drifted against the pool
(tests/unit/test_customer_base.py runs the monitoring's own two-sample tests on it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnops import data, schema
from simulation.world import churn_probability

TENURE_JITTER_MONTHS = 1
CHARGE_JITTER = 0.01


def customer_base(customers: pd.DataFrame, size: int, seed: int = 0) -> pd.DataFrame:
    """``size`` new customers in the cleaned table's columns (``churnops.data.clean``), the
    categories as pandas categoricals.

    ``customers`` is the cleaned table; only its future pool is used as templates.
    """
    pool = customers[data.in_pools(customers, "future")].reset_index(drop=True)
    rng = np.random.default_rng([seed, size])
    rows = rng.integers(0, len(pool), size)
    base = pd.DataFrame({schema.ID_COLUMN: [f"G{seed}-{n}" for n in range(size)]})
    for column in schema.FEATURE_NAMES:
        categories = schema.BY_NAME[column].categories
        if categories:  # kept as codes: a 10-million-row base fits in memory
            codes = pd.Categorical(pool[column], categories=categories).codes
            base[column] = pd.Categorical.from_codes(codes[rows], categories)
        else:
            base[column] = pool[column].to_numpy()[rows]
    _jitter(base, pool, rows, rng)
    churned = rng.random(size) < churn_probability(customers, pool)[rows]
    base[schema.TARGET] = np.where(churned, schema.TARGET_POSITIVE, "No")
    return base


def _jitter(base: pd.DataFrame, pool: pd.DataFrame, rows: np.ndarray,
            rng: np.random.Generator) -> None:
    tenure = pool["tenure"].to_numpy()[rows]
    new = tenure == 0
    moved = np.clip(tenure + rng.integers(-TENURE_JITTER_MONTHS, TENURE_JITTER_MONTHS + 1,
                                          len(rows)), 1, pool["tenure"].max())
    base["tenure"] = np.where(new, 0, moved).astype(pool["tenure"].dtype)
    monthly = pool["MonthlyCharges"].to_numpy()[rows]
    charged = np.clip(monthly * (1 + CHARGE_JITTER * rng.standard_normal(len(rows))),
                      pool["MonthlyCharges"].min(), pool["MonthlyCharges"].max()).round(2)
    base["MonthlyCharges"] = charged
    total = pool["TotalCharges"].to_numpy()[rows]
    scale = np.divide(base["tenure"].to_numpy(), tenure, out=np.zeros(len(rows)),
                      where=~new) * charged / monthly
    base["TotalCharges"] = (total * scale).round(2)
