"""The ``gx_evidently`` data validator flavor: its settings and where its implementation lives.

A ZenML stack holds one data validator. This one gives the stack both engines the project
uses: Great Expectations 1.x for expectation suites (ZenML's own GE integration needs GE
0.x) and Evidently, through ZenML's Evidently validator, for profiling and drift reports.

This module imports only ZenML, so registering the flavor stays cheap; GX and Evidently are
imported when they are first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zenml.data_validators.base_data_validator import (
    BaseDataValidatorConfig,
    BaseDataValidatorFlavor,
)

if TYPE_CHECKING:
    from stacks.plugins.data_validator.validator import GXEvidentlyDataValidator

FLAVOR_NAME = "gx_evidently"


class GXEvidentlyDataValidatorConfig(BaseDataValidatorConfig):
    """Settings of a ``gx_evidently`` data validator component.

    Attributes:
        max_unexpected_values: How many example bad values each failed expectation keeps
            in the report.
        raise_on_failure: Raise ``DataValidationError`` from ``data_validation`` when a suite
            fails, instead of returning the failed report for a later step to act on.
    """

    max_unexpected_values: int = 5
    raise_on_failure: bool = False


class GXEvidentlyDataValidatorFlavor(BaseDataValidatorFlavor):
    """GX 1.x suites (written as code in ``churnops.validation``) plus Evidently reports."""

    @property
    def name(self) -> str:
        return FLAVOR_NAME

    @property
    def display_name(self) -> str:
        return "Great Expectations 1.x + Evidently"

    @property
    def docs_url(self) -> str:
        return "https://docs.greatexpectations.io/docs/core/introduction/"

    @property
    def logo_url(self) -> str:
        return (
            "https://public-flavor-logos.s3.eu-central-1.amazonaws.com/"
            "data_validator/greatexpectations.jpeg"
        )

    @property
    def config_class(self) -> type[GXEvidentlyDataValidatorConfig]:
        return GXEvidentlyDataValidatorConfig

    @property
    def implementation_class(self) -> type[GXEvidentlyDataValidator]:
        from stacks.plugins.data_validator.validator import GXEvidentlyDataValidator

        return GXEvidentlyDataValidator
