"""Request and response bodies of the API, generated from ``churnops.schema``.

The feature model has one field per schema feature: categories become ``Literal`` types,
numbers get the schema's bounds, and unknown fields are refused. Types are strict (``"5"``
is not an integer, ``5.0`` is not a tenure) so a malformed client fails loudly.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from churnops import schema
from churnops.schema import Column

EXAMPLE_CUSTOMER_ID = "7590-VHVEG"
EXAMPLE_FEATURES: dict[str, Any] = {
    "gender": "Female", "SeniorCitizen": 0, "Partner": "Yes", "Dependents": "No",
    "tenure": 1, "Contract": "Month-to-month", "PaperlessBilling": "Yes",
    "PaymentMethod": "Electronic check", "MonthlyCharges": 29.85, "TotalCharges": 29.85,
    "PhoneService": "No", "MultipleLines": "No phone service", "InternetService": "DSL",
    "OnlineSecurity": "No", "OnlineBackup": "Yes", "DeviceProtection": "No",
    "TechSupport": "No", "StreamingTV": "No", "StreamingMovies": "No",
}
"""The features of customer 7590-VHVEG, the first row of the Telco data set."""

CustomerId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
          description="Customer identifier, the Feast entity key.",
          examples=[EXAMPLE_CUSTOMER_ID]),
]
RequestId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{32}$", description="Id of a prediction, as answered.")
]

_STRICT = ConfigDict(extra="forbid", strict=True)


def _feature_field(column: Column) -> tuple[Any, Any]:
    """A (type, Field) pair for ``create_model`` from a schema column."""
    bounds = {"ge": column.minimum, "le": column.maximum}
    if column.kind == "categorical":
        assert column.categories is not None
        return Literal[column.categories], Field(description=column.description)
    if column.kind in ("integer", "binary"):
        limits = {k: int(v) for k, v in bounds.items() if v is not None}
        return int, Field(description=column.description, **limits)
    return float, Field(description=column.description, allow_inf_nan=False, **bounds)


CustomerFeatures: type[BaseModel] = create_model(
    "CustomerFeatures",
    __config__=ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [EXAMPLE_FEATURES]}
    ),
    __doc__="Every model feature of one customer, as the feature store serves them.",
    **{column.name: _feature_field(column) for column in schema.FEATURES},
)


class PredictRequest(BaseModel):
    """A customer to score: by id (features from the online store), or by its features."""

    model_config = ConfigDict(
        **_STRICT,
        json_schema_extra={
            "examples": [{"customer_id": EXAMPLE_CUSTOMER_ID}, {"features": EXAMPLE_FEATURES}],
            "anyOf": [  # what the validator below requires, stated in the schema
                {"required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
                {"required": ["features"], "properties": {"features": {"type": "object"}}},
            ],
        },
    )

    customer_id: CustomerId | None = None
    features: CustomerFeatures | None = Field(  # type: ignore[valid-type]
        None, description="All model features; when given, the feature store is not read."
    )

    @model_validator(mode="after")
    def _id_or_features(self) -> PredictRequest:
        if self.customer_id is None and self.features is None:
            raise ValueError("give customer_id, features, or both")
        return self


class PredictionResponse(BaseModel):
    request_id: str = Field(description="Quote it in /feedback to label this prediction.")
    customer_id: str | None
    churn_probability: float = Field(ge=0.0, le=1.0)
    decision: bool = Field(description="churn_probability >= the model version's threshold.")
    threshold: float
    model_version: str
    variant: Literal["primary", "canary"] = Field(
        description="The slot that answered: the primary, or a canary candidate.")


def batch_request_model(limit: int) -> type[BaseModel]:
    """The /predict/batch body, holding at most ``limit`` requests."""
    return create_model(
        "BatchPredictRequest",
        __config__=ConfigDict(
            **_STRICT,
            json_schema_extra={"examples": [{"requests": [
                {"customer_id": EXAMPLE_CUSTOMER_ID}, {"features": EXAMPLE_FEATURES},
            ]}]},
        ),
        __doc__=f"Up to {limit} prediction requests, answered together (all or none).",
        requests=(list[PredictRequest], Field(min_length=1, max_length=limit)),
    )


class FeedbackRequest(BaseModel):
    """The observed outcome for a customer, optionally tied to the prediction it judges."""

    model_config = ConfigDict(
        **_STRICT,
        json_schema_extra={"examples": [{"customer_id": EXAMPLE_CUSTOMER_ID, "churned": True}]},
    )

    customer_id: CustomerId
    churned: bool
    request_id: RequestId | None = None


class FeedbackResponse(BaseModel):
    id: int
    customer_id: str
    request_id: str = Field(description="The prediction the outcome was recorded for.")
    churned: bool
    created: bool = Field(description="False when the same outcome was recorded before.")


def feedback_batch_model(limit: int) -> type[BaseModel]:
    """The /feedback/batch body, holding at most ``limit`` outcomes."""
    return create_model(
        "BatchFeedbackRequest",
        __config__=ConfigDict(**_STRICT, json_schema_extra={"examples": [{"outcomes": [
            {"customer_id": EXAMPLE_CUSTOMER_ID, "churned": True}]}]}),
        __doc__=f"Up to {limit} outcomes, recorded together (all or none).",
        outcomes=(list[FeedbackRequest], Field(min_length=1, max_length=limit)),
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(description="Each dependency: 'ok' or what is wrong.")
