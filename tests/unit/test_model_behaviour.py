"""Behavioural tests: expectations about how the churn model responds to its inputs.

They run on one logistic-regression pipeline fitted on the whole sample and state properties
any candidate should keep, independently of its ROC-AUC:

- Invariance: the column order and the entity key do not change a score, and swapping a
  customer's gender moves the churn probability by less than ``GENDER_TOLERANCE``. Gender
  stays an input only so that fairness can be audited; it must not drive the score.
- Direction: moving a month-to-month customer to a two-year contract lowers the predicted
  churn risk, for at least ``CONTRACT_SHARE`` of those customers and on average.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from churnops import data, paths, schema
from churnops.modeling.candidates import build_pipeline
from churnops.modeling.evaluation import predict_proba

GENDER_TOLERANCE = 0.05
CONTRACT_SHARE = 0.95


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    df, _ = data.clean(data.load_raw(paths.RAW_DATA))
    return df


@pytest.fixture(scope="module")
def features(customers) -> pd.DataFrame:
    """Model inputs as the pipeline receives them: the features plus the entity key."""
    return customers[list(schema.FEATURE_NAMES)].assign(
        **{schema.ENTITY_KEY: customers[schema.ID_COLUMN]}
    )


@pytest.fixture(scope="module")
def model(customers, features) -> Pipeline:
    pipeline = build_pipeline("logistic_regression", seed=0).set_params(model__C=1.0)
    return pipeline.fit(features, data.label(customers))


def test_column_order_does_not_change_the_score(model, features):
    reordered = features[list(reversed(features.columns))]
    np.testing.assert_array_equal(predict_proba(model, reordered), predict_proba(model, features))


def test_entity_key_is_not_an_input(model, features):
    without_key = features.drop(columns=schema.ENTITY_KEY)
    renamed = features.assign(**{schema.ENTITY_KEY: "0000-XXXXX"})
    expected = predict_proba(model, features)
    np.testing.assert_array_equal(predict_proba(model, without_key), expected)
    np.testing.assert_array_equal(predict_proba(model, renamed), expected)


def test_swapping_gender_barely_moves_the_score(model, features):
    swapped = features.assign(gender=features["gender"].map({"Female": "Male", "Male": "Female"}))
    shift = np.abs(predict_proba(model, swapped) - predict_proba(model, features))
    assert shift.max() < GENDER_TOLERANCE


def test_a_two_year_contract_lowers_the_churn_risk(model, features):
    monthly = features[features["Contract"] == "Month-to-month"]
    before = predict_proba(model, monthly)
    after = predict_proba(model, monthly.assign(Contract="Two year"))
    assert (after < before).mean() >= CONTRACT_SHARE
    assert after.mean() < before.mean()
