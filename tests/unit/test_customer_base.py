"""The generated customer base: deterministic, new, valid, and not drifted from its pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnops import data, schema
from churnops.drift import shift_figures
from churnops.settings import MonitoringSettings
from churnops.validation import build_feature_suite, validate
from simulation.customers import customer_base


@pytest.fixture(scope="module")
def base(clean_customers: pd.DataFrame) -> pd.DataFrame:
    return customer_base(clean_customers, 20_000, seed=3)


def test_the_same_size_and_seed_give_the_same_base(clean_customers: pd.DataFrame,
                                                   base: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(customer_base(clean_customers, 20_000, seed=3), base)
    other = customer_base(clean_customers, 20_000, seed=4)
    assert not other["MonthlyCharges"].equals(base["MonthlyCharges"])


def test_customers_are_new_and_copies_differ(clean_customers: pd.DataFrame,
                                             base: pd.DataFrame) -> None:
    assert base[schema.ID_COLUMN].is_unique
    assert not set(base[schema.ID_COLUMN]) & set(clean_customers[schema.ID_COLUMN])
    # 20,000 draws of about 1,400 templates: copies exist, but their numbers are jittered.
    assert base["MonthlyCharges"].nunique() > 5 * data.in_pools(clean_customers, "future").sum()
    new = base["tenure"] == 0
    assert (base.loc[new, "TotalCharges"] == 0).all() and (base.loc[~new, "tenure"] >= 1).all()


def test_the_base_passes_the_feature_suite(base: pd.DataFrame) -> None:
    report = validate(base[list(schema.FEATURE_NAMES)].astype(
        {name: object for name in schema.CATEGORICAL_FEATURES}), build_feature_suite())
    assert report.success, [o.message for o in report.failures]


def test_the_base_does_not_look_drifted_against_its_pool(clean_customers: pd.DataFrame,
                                                         base: pd.DataFrame) -> None:
    pool = clean_customers[data.in_pools(clean_customers, "future")]
    settings = MonitoringSettings()
    # At the monitoring's window sizes: no feature moves even at the warning level.
    for sample in np.array_split(base.sample(frac=1.0, random_state=0).head(3000), 10):
        figures = shift_figures(pool, sample)
        assert figures.flagged(settings.warn_alpha) == [], figures.flagged(settings.warn_alpha)
    churn_rate = (base[schema.TARGET] == schema.TARGET_POSITIVE).mean()
    assert churn_rate == pytest.approx(data.label(pool).mean(), abs=0.02)
