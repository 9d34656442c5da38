"""A small interpreter of GX expectation suites, for validating request rows in microseconds.

Every model version stores the GX suite its inputs must pass (``churnops.validation``'s
``churn_features``, as JSON). Running the GX engine on each request would cost about 0.25 s,
so the service compiles the stored suite once into plain Python checks and applies them to
each row. It understands exactly the expectation types the feature suite uses, with GX's
semantics for a one-row pandas frame (nulls are skipped by every check but not-null), and
refuses any other type or parameter when the suite is loaded, rather than skipping it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    """One expectation a row breaks."""

    column: str | None
    expectation_type: str
    rule: str
    value: Any = None

    @property
    def message(self) -> str:
        subject = f"column '{self.column}'" if self.column else "row"
        return f"{subject}: expected {self.rule} ({self.expectation_type})"


Check = Callable[[Row], list[Violation]]


class UnsupportedExpectationError(ValueError):
    """The suite holds an expectation type or parameter this interpreter does not implement."""


@dataclass(frozen=True)
class CompiledSuite:
    """A suite compiled to checks; ``violations(row)`` is empty when the row passes."""

    name: str
    checks: tuple[Check, ...]

    def violations(self, row: Row) -> list[Violation]:
        return [violation for check in self.checks for violation in check(row)]


def compile_suite(suite: Mapping[str, Any]) -> CompiledSuite:
    """Compile a suite as written by ``churnops.validation.suite_to_json``."""
    expectations = suite.get("expectations")
    if not isinstance(expectations, list):
        raise UnsupportedExpectationError("the suite has no list of expectations")
    return CompiledSuite(
        name=str(suite.get("name", "")),
        checks=tuple(_compile(e["type"], e.get("kwargs", {})) for e in expectations),
    )


# Value types, as GX checks them on a one-row pandas frame built from JSON values.
_TYPES: dict[str, Callable[[Any], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int64": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float64": lambda value: isinstance(value, float),
}

# The parameters each expectation type accepts; anything else is refused.
_KWARGS: dict[str, set[str]] = {
    "expect_table_columns_to_match_set": {"column_set", "exact_match"},
    "expect_column_values_to_not_be_null": {"column"},
    "expect_column_values_to_be_of_type": {"column", "type_"},
    "expect_column_values_to_be_in_type_list": {"column", "type_list"},
    "expect_column_values_to_be_in_set": {"column", "value_set"},
    "expect_column_values_to_be_between": {
        "column", "min_value", "max_value", "strict_min", "strict_max",
    },
}


def _compile(kind: str, kwargs: Mapping[str, Any]) -> Check:
    if kind not in _KWARGS:
        raise UnsupportedExpectationError(f"expectation type {kind!r} is not supported")
    if unknown := sorted(set(kwargs) - _KWARGS[kind] - {"batch_id"}):
        raise UnsupportedExpectationError(f"{kind}: unsupported parameters {unknown}")
    match kind:
        case "expect_table_columns_to_match_set":
            return _columns_check(kwargs["column_set"], kwargs.get("exact_match", True))
        case "expect_column_values_to_not_be_null":
            return _value_check(kind, kwargs["column"], "a value (not null)", _present,
                                skip_nulls=False)
        case "expect_column_values_to_be_of_type":
            return _type_check(kind, kwargs["column"], [kwargs["type_"]])
        case "expect_column_values_to_be_in_type_list":
            return _type_check(kind, kwargs["column"], kwargs["type_list"])
        case "expect_column_values_to_be_in_set":
            allowed = list(kwargs["value_set"])
            rule = "one of {" + ", ".join(map(str, allowed)) + "}"
            return _value_check(kind, kwargs["column"], rule, lambda value: value in allowed)
        case _:  # expect_column_values_to_be_between
            return _between_check(kind, kwargs)


def _columns_check(columns: Iterable[str], exact: bool) -> Check:
    expected = list(columns)
    kind = "expect_table_columns_to_match_set"

    def check(row: Row) -> list[Violation]:
        found = [Violation(c, kind, "the column to be present") for c in expected if c not in row]
        if exact:
            found += [Violation(c, kind, "no such column") for c in row if c not in expected]
        return found

    return check


def _value_check(
    kind: str, column: str, rule: str, accept: Callable[[Any], bool], skip_nulls: bool = True
) -> Check:
    """A per-value check; missing columns are left to the column-set expectation."""

    def check(row: Row) -> list[Violation]:
        if column not in row:
            return []
        value = row[column]
        if (skip_nulls and not _present(value)) or accept(value):
            return []
        return [Violation(column, kind, rule, value)]

    return check


def _type_check(kind: str, column: str, type_names: Iterable[str]) -> Check:
    names = list(type_names)
    if unknown := [name for name in names if name not in _TYPES]:
        raise UnsupportedExpectationError(f"{kind}: unsupported types {unknown}")
    tests = [_TYPES[name] for name in names]
    rule = "type " + " or ".join(names)
    return _value_check(kind, column, rule, lambda value: any(test(value) for test in tests))


def _between_check(kind: str, kwargs: Mapping[str, Any]) -> Check:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    strict_low, strict_high = kwargs.get("strict_min", False), kwargs.get("strict_max", False)
    rule = (
        f"a number in {'(' if strict_low else '['}{_bound(low, '-inf')}, "
        f"{_bound(high, 'inf')}{')' if strict_high else ']'}"
    )

    def accept(value: Any) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        above = low is None or (value > low if strict_low else value >= low)
        below = high is None or (value < high if strict_high else value <= high)
        return above and below

    return _value_check(kind, kwargs["column"], rule, accept)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _bound(value: float | None, unbounded: str) -> str:
    if value is None:
        return unbounded
    return str(int(value)) if float(value).is_integer() else str(value)
