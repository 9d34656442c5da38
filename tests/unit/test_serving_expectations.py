"""The serving-side suite interpreter, and its agreement with the GX engine."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from churnops import schema, validation
from serving.api_models import EXAMPLE_FEATURES
from serving.expectations import UnsupportedExpectationError, compile_suite


@pytest.fixture(scope="module")
def suite_json() -> dict:
    return validation.suite_to_json(validation.build_feature_suite())


def _with(**changes: object) -> dict:
    return {**EXAMPLE_FEATURES, **changes}


GOOD_ROWS = [
    EXAMPLE_FEATURES,
    _with(tenure=0, TotalCharges=0.0, MonthlyCharges=500.0),
    _with(tenure=120, SeniorCitizen=1, Contract="Two year", InternetService="No",
          OnlineSecurity="No internet service"),
]
BAD_ROWS = [
    _with(tenure=-1),
    _with(tenure=121),
    _with(MonthlyCharges=500.01),
    _with(SeniorCitizen=2),
    _with(Contract="Three year"),
    _with(gender="female"),
    _with(gender=None),
    _with(TotalCharges=math.nan),
    _with(tenure=1.0),
    _with(tenure="1"),
    _with(MonthlyCharges=30),
    _with(PhoneService=1),
    _with(tenure=-5, Contract="Weekly", MonthlyCharges=None),
    {k: v for k, v in EXAMPLE_FEATURES.items() if k != "tenure"},
]


def _gx_failures(row: dict, suite) -> set[tuple[str, str | None]]:
    report = validation.validate(pd.DataFrame([row]), suite)
    return {(o.expectation_type, o.column) for o in report.failures}


@pytest.mark.parametrize(("row", "good"), [(row, True) for row in GOOD_ROWS]
                         + [(row, False) for row in BAD_ROWS])
def test_interpreter_agrees_with_gx(row: dict, good: bool, suite_json: dict) -> None:
    """Same verdict per expectation and column (GX names no column for the column set)."""
    compiled = compile_suite(suite_json)
    ours = {(v.expectation_type, None if v.expectation_type.startswith("expect_table")
             else v.column) for v in compiled.violations(row)}
    # GX cannot evaluate the expectations of a missing column; the column set reports it.
    theirs = {(kind, column) for kind, column
              in _gx_failures(row, validation.suite_from_json(suite_json))
              if column is None or column in row}
    assert ours == theirs
    assert (not ours) == good


def test_violations_name_column_and_rule(suite_json: dict) -> None:
    [violation] = compile_suite(suite_json).violations(_with(tenure=200))
    assert violation.column == "tenure" and violation.value == 200
    assert violation.message == (
        "column 'tenure': expected a number in [0, 120] (expect_column_values_to_be_between)")
    [missing] = compile_suite(suite_json).violations(
        {k: v for k, v in EXAMPLE_FEATURES.items() if k != "gender"})
    assert missing.column == "gender" and "present" in missing.rule


def test_the_feature_suite_is_covered(suite_json: dict) -> None:
    compiled = compile_suite(suite_json)
    assert len(compiled.checks) == len(suite_json["expectations"])
    assert compiled.violations(EXAMPLE_FEATURES) == []
    assert len(schema.FEATURE_NAMES) == len(EXAMPLE_FEATURES)


def test_exact_column_sets_refuse_extra_columns() -> None:
    suite = {"expectations": [{"type": "expect_table_columns_to_match_set",
                               "kwargs": {"column_set": ["a"], "exact_match": True}}]}
    [extra] = compile_suite(suite).violations({"a": 1, "b": 2})
    assert extra.column == "b"


@pytest.mark.parametrize("expectation", [
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "tenure"}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "x", "regex": "a"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x", "mostly": 0.9}},
    {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "x", "type_": "date"}},
])
def test_unknown_expectations_fail_loudly(expectation: dict) -> None:
    with pytest.raises(UnsupportedExpectationError):
        compile_suite({"name": "s", "expectations": [expectation]})
