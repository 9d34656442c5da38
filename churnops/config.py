"""Typed settings that the pipelines take from the YAML run configs in ``configs/``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessSettings(_Settings):
    """The retention campaign's economics (USD, per month)."""

    offer_cost: float = Field(10.0, ge=0, description="Cost of one retention offer.")
    acceptance_rate: float = Field(
        0.3, ge=0, le=1, description="Share of would-be churners that the offer retains."
    )


class GateSettings(_Settings):
    """When a challenger may take the champion alias."""

    min_improvement: float = Field(
        0.002, description="ROC-AUC margin over the champion on the same holdout."
    )
    min_roc_auc: float = Field(0.80, description="Absolute floor for the holdout ROC-AUC.")
    max_equal_opportunity_diff: float = Field(
        0.20, description="Largest allowed TPR gap between groups of a sensitive attribute."
    )
    max_demographic_parity_diff: float = Field(
        0.35, description="Largest allowed gap in positive-decision rate between groups."
    )


class TrainingSettings(_Settings):
    seed: int = 42
    test_size: float = Field(0.2, gt=0, lt=1)
    cv_folds: int = Field(5, ge=2)
    n_jobs: int = 2
    candidates: dict[str, dict[str, list]] = Field(
        ..., description="Candidate name -> grid search space (keys like model__C)."
    )
    business: BusinessSettings = BusinessSettings()
    gate: GateSettings = GateSettings()
