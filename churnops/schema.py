"""The customer schema: the single source of truth for columns, types and domains.

Validation (the GX suite), the Feast feature definitions, the model's preprocessing and the
serving API are all derived from the declarations below. Change a column here and every
consumer follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["id", "categorical", "numeric", "integer", "binary", "target"]

YES_NO = ("No", "Yes")
INTERNET_ADDON = ("No", "No internet service", "Yes")


@dataclass(frozen=True)
class Column:
    """One column of the customer table.

    ``group`` names the Feast feature view that serves the column (``None`` for the key and
    the target). ``minimum``/``maximum`` are the domain bounds the validation enforces: they
    are plausibility limits, wider than what the sample data set happens to contain.
    """

    name: str
    kind: Kind
    description: str
    group: str | None = None
    categories: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def is_feature(self) -> bool:
        return self.group is not None

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("numeric", "integer", "binary")


ENTITY_KEY = "customer_id"
"""The Feast entity join key. The raw CSV calls this column ``customerID``."""

ID_COLUMN = "customerID"
TARGET = "Churn"
TARGET_POSITIVE = "Yes"

COLUMNS: tuple[Column, ...] = (
    Column(ID_COLUMN, "id", "Customer identifier, unique per row (for example 7590-VHVEG)."),
    # Demographics
    Column("gender", "categorical", "Customer gender.", "demographics", ("Female", "Male")),
    Column("SeniorCitizen", "binary", "1 if the customer is 65 or older.", "demographics",
           minimum=0, maximum=1),
    Column("Partner", "categorical", "Has a partner.", "demographics", YES_NO),
    Column("Dependents", "categorical", "Has dependents.", "demographics", YES_NO),
    # Account
    Column("tenure", "integer", "Months the customer has been with the company.", "account",
           minimum=0, maximum=120),
    Column("Contract", "categorical", "Contract term.", "account",
           ("Month-to-month", "One year", "Two year")),
    Column("PaperlessBilling", "categorical", "Receives paperless bills.", "account", YES_NO),
    Column("PaymentMethod", "categorical", "How the customer pays.", "account",
           ("Bank transfer (automatic)", "Credit card (automatic)", "Electronic check",
            "Mailed check")),
    Column("MonthlyCharges", "numeric", "Current monthly charge (USD).", "account",
           minimum=0.0, maximum=500.0),
    Column("TotalCharges", "numeric",
           "Total charged to date (USD). Blank in the raw data for customers with tenure 0.",
           "account", minimum=0.0, maximum=60_000.0),
    # Services
    Column("PhoneService", "categorical", "Has phone service.", "services", YES_NO),
    Column("MultipleLines", "categorical", "Has multiple phone lines.", "services",
           ("No", "No phone service", "Yes")),
    Column("InternetService", "categorical", "Internet service type.", "services",
           ("DSL", "Fiber optic", "No")),
    Column("OnlineSecurity", "categorical", "Online security add-on.", "services",
           INTERNET_ADDON),
    Column("OnlineBackup", "categorical", "Online backup add-on.", "services", INTERNET_ADDON),
    Column("DeviceProtection", "categorical", "Device protection add-on.", "services",
           INTERNET_ADDON),
    Column("TechSupport", "categorical", "Tech support add-on.", "services", INTERNET_ADDON),
    Column("StreamingTV", "categorical", "Streams TV.", "services", INTERNET_ADDON),
    Column("StreamingMovies", "categorical", "Streams movies.", "services", INTERNET_ADDON),
    # Label
    Column(TARGET, "target", "Churned within the last month.", categories=YES_NO),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
RAW_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS)
FEATURES: tuple[Column, ...] = tuple(c for c in COLUMNS if c.is_feature)
FEATURE_NAMES: tuple[str, ...] = tuple(c.name for c in FEATURES)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(c.name for c in FEATURES if c.kind == "categorical")
NUMERIC_FEATURES: tuple[str, ...] = tuple(c.name for c in FEATURES if c.is_numeric)
FEATURE_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(c.group for c in FEATURES if c.group))

SENSITIVE_FEATURES: tuple[str, ...] = ("gender", "SeniorCitizen")
"""Attributes the fairness checks slice by. They are kept as model inputs because the
business wants them audited, not because the model needs them."""


def features_in_group(group: str) -> tuple[Column, ...]:
    """The feature columns served by one Feast feature view."""
    return tuple(c for c in FEATURES if c.group == group)


def cast_features(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose feature columns have the dtypes training saw.

    Integers are ``int64`` (``Int64`` if some are missing), floats ``float64`` and
    categories Python strings (``None`` if missing), whichever path the frame came from:
    the raw file, the feature store, or the inference log's JSON.
    """
    import pandas as pd

    frame = frame.copy()
    for column in FEATURES:
        values = frame[column.name]
        if column.kind in ("integer", "binary"):
            frame[column.name] = values.astype("Int64" if values.isna().any() else "int64")
        elif column.kind == "numeric":
            frame[column.name] = values.astype("float64")
        else:
            frame[column.name] = values.map(lambda value: None if pd.isna(value) else str(value))
    return frame
