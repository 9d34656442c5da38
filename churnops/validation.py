"""Data validation: the expectation suites, generated from the schema, and their reports.

Two Great Expectations (GX 1.x) suites guard the data:

* ``churn_raw`` checks the table exactly as ``data.load_raw`` reads it, before the cleaning
  rule runs: column set, pandas types, category domains, plausible ranges, no nulls, unique
  ids, and "``TotalCharges`` is blank only for customers with tenure 0".
* ``churn_features`` checks typed feature frames: the output of ``data.clean`` for training,
  or a request payload at serving time. It serializes to JSON so serving can load it without
  importing the pipeline code.

``validate`` runs a suite on a pandas frame and returns a ``ValidationReport``, a pydantic
model that serializes to JSON and renders as text (logs, exceptions) and HTML (dashboard).
"""

from __future__ import annotations

import functools
import html
import logging
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
from pydantic import BaseModel

# GX logs at INFO while importing (every public function it registers) and while building a
# context; keep it to warnings. Its data-context config module sets its own level to INFO.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations import ExpectationSuite  # noqa: E402
from great_expectations.core.batch_definition import BatchDefinition  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.expectations.row_conditions import Column as RowColumn  # noqa: E402
from great_expectations.util import convert_to_json_serializable  # noqa: E402

from churnops import schema  # noqa: E402
from churnops.schema import Column  # noqa: E402

logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

RAW_SUITE_NAME = "churn_raw"
FEATURE_SUITE_NAME = "churn_features"

TOTAL_CHARGES = "TotalCharges"
TENURE = "tenure"
NUMBER_OR_BLANK = r"^(?:\s*|\d+(?:\.\d+)?)$"
BLANK = r"^\s*$"

# pandas dtypes per schema kind, as ``load_raw`` infers them and as ``clean`` produces them.
DTYPES: dict[str, tuple[str, ...]] = {
    "id": ("str",),
    "categorical": ("str",),
    "target": ("str",),
    "integer": ("int64",),
    "binary": ("int64",),
    "numeric": ("float64",),
}
# The raw CSV has blank TotalCharges, so pandas reads the column as text; a file without
# blanks would be read as float, which is just as valid.
RAW_TOTAL_CHARGES_DTYPES = ("str", "float64")

NEXT_STEPS = (
    "What to do next: fix the data at its source and rerun. If the data is right and a rule "
    "is out of date, change the column's declaration in churnops/schema.py; both suites are "
    "generated from it."
)


# Suites --------------------------------------------------------------------------------------


def build_raw_suite() -> ExpectationSuite:
    """The ``churn_raw`` suite: the raw table as delivered, before cleaning."""
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(schema.RAW_COLUMNS), exact_match=True)
    ]
    for column in schema.COLUMNS:
        if column.name == TOTAL_CHARGES:
            expectations += _raw_total_charges_expectations()
        else:
            expectations += _column_expectations(column)
    expectations.append(gxe.ExpectColumnValuesToBeUnique(column=schema.ID_COLUMN))
    return ExpectationSuite(name=RAW_SUITE_NAME, expectations=expectations)


def build_feature_suite() -> ExpectationSuite:
    """The ``churn_features`` suite: typed feature frames (cleaned data or serving requests).

    Extra columns, such as the id or the target, are allowed; every feature is required.
    """
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(schema.FEATURE_NAMES), exact_match=False)
    ]
    for column in schema.FEATURES:
        expectations += _column_expectations(column)
    return ExpectationSuite(name=FEATURE_SUITE_NAME, expectations=expectations)


def _column_expectations(column: Column) -> list[gxe.Expectation]:
    """Not-null, type and domain (categories or range) expectations for one typed column."""
    expectations = [
        gxe.ExpectColumnValuesToNotBeNull(column=column.name),
        _type_expectation(column.name, DTYPES[column.kind]),
    ]
    if column.categories is not None:
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(column=column.name, value_set=list(column.categories))
        )
    if column.minimum is not None or column.maximum is not None:
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column.name, min_value=column.minimum, max_value=column.maximum
            )
        )
    return expectations


def _raw_total_charges_expectations() -> list[gxe.Expectation]:
    """Raw TotalCharges is a number or blank, and blank only for customers with tenure 0."""
    return [
        gxe.ExpectColumnValuesToNotBeNull(column=TOTAL_CHARGES),
        _type_expectation(TOTAL_CHARGES, RAW_TOTAL_CHARGES_DTYPES),
        gxe.ExpectColumnValuesToMatchRegex(
            column=TOTAL_CHARGES,
            regex=NUMBER_OR_BLANK,
            description=f"{TOTAL_CHARGES} is a non-negative number or blank",
        ),
        gxe.ExpectColumnValuesToNotMatchRegex(
            column=TOTAL_CHARGES,
            regex=BLANK,
            row_condition=RowColumn(TENURE) != 0,
            description=f"{TOTAL_CHARGES} is blank only where {TENURE} is 0",
        ),
    ]


def _type_expectation(column: str, dtypes: tuple[str, ...]) -> gxe.Expectation:
    if len(dtypes) == 1:
        return gxe.ExpectColumnValuesToBeOfType(column=column, type_=dtypes[0])
    return gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=list(dtypes))


def suite_to_json(suite: ExpectationSuite) -> dict[str, Any]:
    """A JSON-serializable dict of the suite (for files, artifacts and the serving image)."""
    return suite.to_json_dict()


def suite_from_json(data: dict[str, Any]) -> ExpectationSuite:
    """Rebuild a suite written by ``suite_to_json``."""
    return ExpectationSuite(**data)


# Running a suite -----------------------------------------------------------------------------


@functools.cache
def _batch_definition() -> BatchDefinition:
    """An in-memory GX context with one pandas asset that takes a frame per batch."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("churnops").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def validate(
    df: pd.DataFrame, suite: ExpectationSuite, max_unexpected_values: int = 5
) -> ValidationReport:
    """Run ``suite`` on ``df``; each failure keeps up to ``max_unexpected_values`` examples."""
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": df})
    # BASIC gives counts and a sample of bad values; ask for more samples than are kept
    # because they are deduplicated first.
    result_format = {
        "result_format": "BASIC",
        "partial_unexpected_count": max(20, max_unexpected_values),
    }
    result = batch.validate(suite, result_format=result_format)
    dtypes = {str(name): str(dtype) for name, dtype in df.dtypes.items()}
    outcomes = [_outcome(r, dtypes, max_unexpected_values) for r in result.results]
    stats = result.statistics
    return ValidationReport(
        suite_name=suite.name,
        success=result.success,
        statistics=ValidationStatistics(
            evaluated=stats["evaluated_expectations"],
            successful=stats["successful_expectations"],
            unsuccessful=stats["unsuccessful_expectations"],
        ),
        rows=len(df),
        outcomes=sorted(outcomes, key=_suite_order(suite)),
    )


def _suite_order(suite: ExpectationSuite) -> Callable[[ExpectationOutcome], int]:
    """Sort key putting outcomes back in the suite's order (GX returns them grouped by metric)."""
    position: dict[tuple[str, str | None], int] = {}
    for index, expectation in enumerate(suite.expectations):
        key = (expectation.expectation_type, getattr(expectation, "column", None))
        position.setdefault(key, index)
    return lambda outcome: position.get((outcome.expectation_type, outcome.column), len(position))


# Reports -------------------------------------------------------------------------------------


class ValidationStatistics(BaseModel):
    evaluated: int
    successful: int
    unsuccessful: int


class ExpectationOutcome(BaseModel):
    """One expectation's result, reduced to what a person needs to act on it."""

    expectation_type: str
    column: str | None
    kwargs: dict[str, Any]
    success: bool
    rule: str
    """What the expectation requires, e.g. "values within [0, 120]"."""
    message: str
    """One line naming the column and the problem, with example values."""
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_values: list[Any] = []
    error: str | None = None
    """Why the expectation could not be evaluated (for example, a missing column)."""


class ValidationReport(BaseModel):
    """The result of one suite on one frame; JSON-serializable."""

    suite_name: str
    success: bool
    statistics: ValidationStatistics
    rows: int
    outcomes: list[ExpectationOutcome]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.success]

    @property
    def summary(self) -> str:
        status = "passed" if self.success else "FAILED"
        stats = self.statistics
        return (
            f"Suite '{self.suite_name}' {status} on {self.rows} rows: "
            f"{stats.successful}/{stats.evaluated} expectations met, {stats.unsuccessful} failed."
        )

    def to_text(self) -> str:
        """The summary line, then one line per failed expectation."""
        lines = [self.summary]
        lines += [f"  - {f.message}  [{f.expectation_type}]" for f in self.failures]
        return "\n".join(lines)

    def to_html(self) -> str:
        """A self-contained HTML page: the summary and a table of expectations, failures first."""
        outcomes = sorted(self.outcomes, key=lambda outcome: outcome.success)
        return HTML_PAGE.format(
            title=html.escape(f"Data validation: {self.suite_name}"),
            colour=PASS_COLOUR if self.success else FAIL_COLOUR,
            pass_colour=PASS_COLOUR,
            fail_colour=FAIL_COLOUR,
            summary=html.escape(self.summary),
            rows="\n".join(_html_row(outcome) for outcome in outcomes),
        )


class DataValidationError(Exception):
    """A suite failed; ``report`` holds the details."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(f"{report.to_text()}\n\n{NEXT_STEPS}")

    def __reduce__(self) -> tuple[type[DataValidationError], tuple[ValidationReport]]:
        # Rebuild from the report, so the error survives pickling (e.g. across processes).
        return type(self), (self.report,)


# From GX results to outcomes -----------------------------------------------------------------

TYPE_EXPECTATIONS = (
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_be_in_type_list",
)


def _outcome(
    result: ExpectationValidationResult, dtypes: dict[str, str], max_values: int
) -> ExpectationOutcome:
    config = result.expectation_config
    column = config.kwargs.get("column")
    kwargs = _summarize_kwargs(config.kwargs)
    rule, violation = _describe(config.type, kwargs, config.description)
    details = result.result or {}
    observed = details.get("observed_value")
    if observed is None and config.type in TYPE_EXPECTATIONS:
        observed = dtypes.get(column)
    samples = [v for v in details.get("partial_unexpected_list") or [] if not _is_missing(v)]
    values = _json_safe(_distinct(samples)[:max_values])
    count = details.get("unexpected_count")
    if column is not None and column not in dtypes:
        error = "the column is missing"
    else:
        error = _exception_message(result.exception_info)

    subject = f"column '{column}'" if column else "table"
    if result.success:
        problem = rule
    elif error:
        problem = f"could not be checked: {error}"
    elif config.type == "expect_table_columns_to_match_set":
        problem = _column_set_problem(details.get("details", {}).get("mismatched", {}))
    elif count is None:  # an aggregate check, such as the column's dtype
        problem = f"expected {rule}, observed {observed}"
    else:
        problem = _values_problem(count, violation, values, dtype=observed)
    return ExpectationOutcome(
        expectation_type=config.type,
        column=column,
        kwargs=kwargs,
        success=result.success,
        rule=rule,
        message=f"{subject}: {problem}",
        observed_value=_json_safe(observed),
        unexpected_count=count,
        unexpected_values=values,
        error=error,
    )


def _describe(kind: str, kwargs: dict[str, Any], description: str | None) -> tuple[str, str]:
    """(rule, violation): what the expectation requires, and how a bad value breaks it."""
    if description:
        return description, f"violating '{description}'"
    match kind:
        case "expect_table_columns_to_match_set":
            exact = "exactly" if kwargs.get("exact_match", True) else "at least"
            return f"has {exact} the {len(kwargs['column_set'])} schema columns", "mismatch"
        case "expect_column_values_to_not_be_null":
            return "no nulls", "missing (null)"
        case "expect_column_values_to_be_of_type":
            return f"type {kwargs['type_']}", f"not of type {kwargs['type_']}"
        case "expect_column_values_to_be_in_type_list":
            types = " or ".join(kwargs["type_list"])
            return f"type {types}", f"not of type {types}"
        case "expect_column_values_to_be_in_set":
            values = "{" + ", ".join(map(str, kwargs["value_set"])) + "}"
            return f"values in {values}", f"not in {values}"
        case "expect_column_values_to_be_between":
            low = _bound(kwargs.get("min_value"), "-inf")
            bounds = f"[{low}, {_bound(kwargs.get('max_value'), 'inf')}]"
            return f"values within {bounds}", f"outside {bounds}"
        case "expect_column_values_to_be_unique":
            return "values unique", "duplicated"
        case "expect_column_values_to_match_regex":
            return f"values match /{kwargs['regex']}/", f"not matching /{kwargs['regex']}/"
        case "expect_column_values_to_not_match_regex":
            return f"values do not match /{kwargs['regex']}/", f"matching /{kwargs['regex']}/"
    return kind.removeprefix("expect_").replace("_", " "), "unexpected"


def _values_problem(count: int, violation: str, values: list[Any], dtype: Any) -> str:
    """E.g. "3 values outside [0, 120], e.g. [-5, 500]"."""
    noun = "value" if count == 1 else "values"
    dtype_note = f" (column dtype {dtype})" if dtype is not None else ""
    examples = f", e.g. {values}" if values else ""
    return f"{count} {noun} {violation}{dtype_note}{examples}"


def _column_set_problem(mismatched: dict[str, list[str]]) -> str:
    parts = []
    if missing := mismatched.get("missing"):
        parts.append(f"missing columns {missing}")
    if unexpected := mismatched.get("unexpected"):
        parts.append(f"unexpected columns {unexpected}")
    return "; ".join(parts) or "columns do not match"


def _summarize_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The expectation's parameters, without GX bookkeeping, as JSON-safe values."""
    summary = {k: v for k, v in kwargs.items() if k not in ("batch_id", "column")}
    if summary.get("row_condition") is not None:
        summary["row_condition"] = repr(summary["row_condition"])
    return _json_safe(summary)


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """GX nests exception details by metric when a metric failed; find the first message."""
    if not info:
        return None
    candidates = [info, *(v for v in info.values() if isinstance(v, dict))]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            return candidate.get("exception_message") or "unknown error"
    return None


def _distinct(values: list[Any]) -> list[Any]:
    distinct: list[Any] = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
    return distinct


def _bound(value: float | None, unbounded: str) -> str:
    """A range bound as people write it: 0 rather than 0.0."""
    if value is None:
        return unbounded
    return str(int(value)) if float(value).is_integer() else str(value)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _json_safe(value: Any) -> Any:
    """numpy scalars become plain Python values and NaN becomes None."""
    value = convert_to_json_serializable(value)
    return None if _is_missing(value) else value


# HTML ----------------------------------------------------------------------------------------

PASS_COLOUR = "#1a7f37"
FAIL_COLOUR = "#cf222e"

HTML_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em; }}
.summary {{ color: {colour}; font-weight: 600; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.35em 0.6em; text-align: left; }}
th {{ background: #f6f8fa; }}
td.pass {{ color: {pass_colour}; font-weight: 600; }}
td.fail {{ color: #ffffff; background: {fail_colour}; font-weight: 600; }}
</style></head>
<body>
<h2>{title}</h2>
<p class="summary">{summary}</p>
<table>
<tr><th>Status</th><th>Column</th><th>Expectation</th><th>Rule</th><th>Problem</th></tr>
{rows}
</table>
</body></html>
"""


def _html_row(outcome: ExpectationOutcome) -> str:
    status, css = ("PASS", "pass") if outcome.success else ("FAIL", "fail")
    problem = "" if outcome.success else outcome.message.split(": ", 1)[-1]
    cells = (
        f'<td class="{css}">{status}</td>',
        f"<td>{html.escape(outcome.column or '(table)')}</td>",
        f"<td><code>{html.escape(outcome.expectation_type)}</code></td>",
        f"<td>{html.escape(outcome.rule)}</td>",
        f"<td>{html.escape(problem)}</td>",
    )
    return "<tr>" + "".join(cells) + "</tr>"
