"""The GX suites against the real data and against corrupted copies of it."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from churnops import data, paths, schema
from churnops.validation import (
    DataValidationError,
    ExpectationSuite,
    ValidationReport,
    build_feature_suite,
    build_raw_suite,
    suite_from_json,
    suite_to_json,
    validate,
)

Corruption = Callable[[pd.DataFrame], pd.DataFrame]


@pytest.fixture(scope="module")
def raw_df() -> pd.DataFrame:
    return data.load_raw(paths.RAW_DATA)


@pytest.fixture(scope="module")
def clean_df(raw_df: pd.DataFrame) -> pd.DataFrame:
    return data.clean(raw_df)[0]


@pytest.fixture(scope="module")
def raw_suite() -> ExpectationSuite:
    return build_raw_suite()


@pytest.fixture(scope="module")
def feature_suite() -> ExpectationSuite:
    return build_feature_suite()


@pytest.fixture(scope="module")
def raw_report(raw_df: pd.DataFrame, raw_suite: ExpectationSuite) -> ValidationReport:
    return validate(raw_df, raw_suite)


def as_delivered(df: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    """Write ``df`` as a CSV and read it back the way the pipeline does."""
    path = tmp_path / "customers.csv"
    df.to_csv(path, index=False)
    return data.load_raw(path)


def set_value(column: str, value: object, row: int = 0) -> Corruption:
    def corrupt(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({column: object})
        df.loc[row, column] = value
        return df

    return corrupt


def blank_total_charges_for_billed_customer(df: pd.DataFrame) -> pd.DataFrame:
    row = int(df.index[df["tenure"] > 0][0])
    return set_value("TotalCharges", " ", row)(df)


def duplicate_first_id(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.loc[1, schema.ID_COLUMN] = df.loc[0, schema.ID_COLUMN]
    return df


# Raw suite ------------------------------------------------------------------------------------


def test_real_csv_passes_the_raw_suite(raw_report: ValidationReport) -> None:
    assert raw_report.success, raw_report.to_text()
    assert raw_report.rows == 7043
    assert raw_report.statistics.unsuccessful == 0
    assert raw_report.statistics.evaluated == len(raw_report.outcomes) > len(schema.COLUMNS)


def test_raw_suite_covers_every_column(raw_suite: ExpectationSuite) -> None:
    checked = {getattr(e, "column", None) for e in raw_suite.expectations}
    assert checked >= set(schema.RAW_COLUMNS)


@pytest.mark.parametrize(
    ("corrupt", "expectation", "column", "shown"),
    [
        pytest.param(
            lambda df: df.drop(columns=["Contract"]),
            "expect_table_columns_to_match_set", None, "Contract",
            id="missing-column",
        ),
        pytest.param(
            lambda df: df.assign(Surprise=1),
            "expect_table_columns_to_match_set", None, "Surprise",
            id="extra-column",
        ),
        pytest.param(
            set_value("tenure", "abc"),
            "expect_column_values_to_be_of_type", "tenure", "abc",
            id="wrong-type",
        ),
        pytest.param(
            set_value("MonthlyCharges", 10000.0),
            "expect_column_values_to_be_between", "MonthlyCharges", "10000",
            id="monthly-charges-out-of-range",
        ),
        pytest.param(
            set_value("tenure", -3),
            "expect_column_values_to_be_between", "tenure", "-3",
            id="negative-tenure",
        ),
        pytest.param(
            set_value("Contract", "Three year"),
            "expect_column_values_to_be_in_set", "Contract", "Three year",
            id="unknown-category",
        ),
        pytest.param(
            duplicate_first_id,
            "expect_column_values_to_be_unique", schema.ID_COLUMN, "7590-VHVEG",
            id="duplicate-id",
        ),
        pytest.param(
            set_value(schema.TARGET, "Maybe"),
            "expect_column_values_to_be_in_set", schema.TARGET, "Maybe",
            id="bad-target",
        ),
        pytest.param(
            blank_total_charges_for_billed_customer,
            "expect_column_values_to_not_match_regex", "TotalCharges", "tenure",
            id="blank-total-charges-with-tenure",
        ),
        pytest.param(
            set_value("TotalCharges", "n/a"),
            "expect_column_values_to_match_regex", "TotalCharges", "number or blank",
            id="total-charges-not-a-number",
        ),
        pytest.param(
            set_value("gender", ""),
            "expect_column_values_to_not_be_null", "gender", "1 value missing",
            id="empty-cell",
        ),
    ],
)
def test_corrupted_copy_fails_with_the_right_expectation(
    raw_df: pd.DataFrame,
    raw_suite: ExpectationSuite,
    tmp_path: Path,
    corrupt: Corruption,
    expectation: str,
    column: str | None,
    shown: str,
) -> None:
    report = validate(as_delivered(corrupt(raw_df), tmp_path), raw_suite)

    assert not report.success
    failed = {(f.expectation_type, f.column): f for f in report.failures}
    assert (expectation, column) in failed, report.to_text()
    assert shown in failed[expectation, column].message
    text = report.to_text()
    assert expectation in text
    assert (column or shown) in text


def test_failure_message_names_column_range_and_values(
    raw_df: pd.DataFrame, raw_suite: ExpectationSuite
) -> None:
    df = raw_df.copy()
    df.loc[[3, 5], "tenure"] = [-5, 500]

    (failure,) = validate(df, raw_suite).failures

    assert failure.message == "column 'tenure': 2 values outside [0, 120], e.g. [-5, 500]"
    assert failure.unexpected_count == 2
    assert failure.unexpected_values == [-5, 500]


def test_missing_column_is_reported_once_per_expectation_without_crashing(
    raw_df: pd.DataFrame, raw_suite: ExpectationSuite
) -> None:
    report = validate(raw_df.drop(columns=["gender"]), raw_suite)

    gender = [f for f in report.failures if f.column == "gender"]
    assert gender and all(f.error == "the column is missing" for f in gender)


# Feature suite --------------------------------------------------------------------------------


def test_cleaned_frame_passes_the_feature_suite(
    clean_df: pd.DataFrame, feature_suite: ExpectationSuite
) -> None:
    report = validate(clean_df, feature_suite)
    assert report.success, report.to_text()


def test_feature_suite_accepts_a_request_with_features_only(
    clean_df: pd.DataFrame, feature_suite: ExpectationSuite
) -> None:
    request = clean_df[list(schema.FEATURE_NAMES)].head(3).reset_index(drop=True)
    assert validate(request, feature_suite).success


def test_feature_suite_rejects_a_bad_request(
    clean_df: pd.DataFrame, feature_suite: ExpectationSuite
) -> None:
    request = clean_df[list(schema.FEATURE_NAMES)].head(3).reset_index(drop=True)
    request.loc[0, "MonthlyCharges"] = -1.0
    request.loc[1, "InternetService"] = "Satellite"
    request = request.drop(columns=["tenure"])

    report = validate(request, feature_suite)

    failed = {(f.expectation_type, f.column) for f in report.failures}
    assert ("expect_column_values_to_be_between", "MonthlyCharges") in failed
    assert ("expect_column_values_to_be_in_set", "InternetService") in failed
    assert ("expect_table_columns_to_match_set", None) in failed
    assert "missing columns ['tenure']" in report.to_text()


def test_feature_suite_rejects_raw_text_where_a_number_is_expected(
    raw_df: pd.DataFrame, feature_suite: ExpectationSuite
) -> None:
    report = validate(raw_df, feature_suite)

    assert {f.column for f in report.failures} == {"TotalCharges"}
    type_check = next(f for f in report.failures if "type" in f.expectation_type)
    assert type_check.message.startswith("column 'TotalCharges': 7043 values not of type float64")


@pytest.mark.parametrize("build", [build_raw_suite, build_feature_suite])
def test_suite_json_round_trip(
    build: Callable[[], ExpectationSuite], raw_df: pd.DataFrame
) -> None:
    suite = build()
    restored = suite_from_json(json.loads(json.dumps(suite_to_json(suite))))

    assert restored.name == suite.name
    assert suite_to_json(restored) == suite_to_json(suite)
    bad = raw_df.copy()
    bad.loc[0, "tenure"] = -3
    assert validate(bad, restored).to_text() == validate(bad, suite).to_text()


# Report ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failed_report(raw_df: pd.DataFrame, raw_suite: ExpectationSuite) -> ValidationReport:
    df = raw_df.copy()
    df.loc[0, "MonthlyCharges"] = 10000.0
    df.loc[1, "Contract"] = "Three year"
    return validate(df, raw_suite)


def test_report_survives_json(failed_report: ValidationReport) -> None:
    restored = ValidationReport.model_validate_json(failed_report.model_dump_json())
    assert restored == failed_report
    assert [f.column for f in restored.failures] == ["Contract", "MonthlyCharges"]


def test_text_report_names_each_failed_column(failed_report: ValidationReport) -> None:
    text = failed_report.to_text()
    assert text.startswith("Suite 'churn_raw' FAILED on 7043 rows")
    assert "column 'MonthlyCharges': 1 value outside [0, 500], e.g. [10000.0]" in text
    assert "column 'Contract': 1 value not in" in text


def test_html_report_lists_every_expectation(failed_report: ValidationReport) -> None:
    page = failed_report.to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<tr>") == len(failed_report.outcomes) + 1
    assert page.count('class="fail"') == 2
    assert "Three year" in page


def test_error_carries_the_report_and_a_next_step(failed_report: ValidationReport) -> None:
    error = DataValidationError(failed_report)
    assert error.report is failed_report
    assert failed_report.to_text() in str(error)
    assert "What to do next" in str(error)


def test_error_survives_pickling(failed_report: ValidationReport) -> None:
    restored = pickle.loads(pickle.dumps(DataValidationError(failed_report)))
    assert restored.report == failed_report
    assert str(restored) == str(DataValidationError(failed_report))
