"""The ``gx_evidently`` data validator: GX 1.x suites, with Evidently for the rest.

``data_validation`` with an ``ExpectationSuite`` runs Great Expectations 1.x and returns a
``ValidationReport``. Everything else (``data_profiling`` reports such as data drift, and
``data_validation`` with Evidently test configs) is ZenML's Evidently validator, inherited
unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

import pandas as pd
from zenml.integrations.evidently.data_validators import EvidentlyDataValidator

from churnops.validation import (
    DataValidationError,
    ExpectationSuite,
    ValidationReport,
    validate,
)
from stacks.plugins.data_validator.flavor import (
    GXEvidentlyDataValidatorConfig,
    GXEvidentlyDataValidatorFlavor,
)


class GXEvidentlyDataValidator(EvidentlyDataValidator):
    """Validates frames against suites from ``churnops.validation``; profiles with Evidently."""

    NAME: ClassVar[str] = "Great Expectations 1.x + Evidently"
    FLAVOR: ClassVar[type[GXEvidentlyDataValidatorFlavor]] = GXEvidentlyDataValidatorFlavor

    @property
    def config(self) -> GXEvidentlyDataValidatorConfig:
        return cast(GXEvidentlyDataValidatorConfig, self._config)

    def data_validation(
        self,
        dataset: Any,
        comparison_dataset: Any | None = None,
        check_list: Sequence[Any] | ExpectationSuite | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run an expectation suite on ``dataset`` and return its ``ValidationReport``.

        Pass the suite as ``check_list=`` or ``suite=``. Without a suite, the call goes to
        Evidently's test suites (``check_list`` of Evidently test configs).

        Raises:
            TypeError: if a suite is given and the dataset is not a frame.
            ValueError: if a suite is given with a comparison dataset.
            DataValidationError: if the suite fails and ``raise_on_failure`` (a keyword
                argument, else the config's) is set.
        """
        suite = kwargs.pop("suite", check_list)
        if not isinstance(suite, ExpectationSuite):
            return super().data_validation(dataset, comparison_dataset, check_list, **kwargs)
        if comparison_dataset is not None:
            raise ValueError("An expectation suite checks one dataset; drop comparison_dataset.")
        if not isinstance(dataset, pd.DataFrame):
            raise TypeError(f"Expected a pandas DataFrame, got {type(dataset).__name__}.")
        max_values = kwargs.get("max_unexpected_values", self.config.max_unexpected_values)
        report: ValidationReport = validate(dataset, suite, max_unexpected_values=max_values)
        raise_on_failure = kwargs.get("raise_on_failure", self.config.raise_on_failure)
        if raise_on_failure and not report.success:
            raise DataValidationError(report)
        return report
