"""Monitoring: drift and live-performance figures, and the decision they lead to.

The statistics are chosen on purpose (``MonitoringSettings``; the reasons are in
docs/monitoring.md). A window of production traffic is compared with the deployed version's
reference data using p-value tests, whose false-alarm rate is fixed by the threshold and
does not depend on the sample sizes: Evidently's defaults would switch from KS/chi-square to
Wasserstein/Jensen-Shannon distances once the reference passes 1,000 rows.

This module holds no ZenML code; ``steps/monitoring`` runs it through the stack.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.metrics import recall_score, roc_auc_score

from churnops import schema
from churnops.config import BusinessSettings
from churnops.modeling.evaluation import BusinessConfig, business_value_per_customer

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
"""The column holding p(churn) in reference and production frames."""
LABEL = "churned"
"""The column holding the observed outcome (0/1) in labelled frames."""

Action = Literal["none", "retrain", "investigate"]


class MonitoringSettings(BaseModel):
    """What counts as drift and as degraded performance."""

    num_stattest: str = Field("ks", description="Evidently test for numeric features.")
    cat_stattest: str = Field("chisquare", description="Evidently test for categorical ones.")
    stattest_threshold: float = Field(
        0.01, gt=0, lt=1, description="p-value below which one feature has drifted.")
    drift_share: float = Field(
        0.25, gt=0, le=1, description="Share of drifted features that makes dataset drift.")
    prediction_stattest: str = Field("ks", description="Test for the p(churn) distribution.")
    prediction_threshold: float = Field(
        0.001, gt=0, lt=1, description="p-value below which predictions have drifted.")
    min_rows: int = Field(100, ge=1, description="Fewer production rows: no drift verdict.")
    min_labels: int = Field(
        300, ge=10, description="Fewer labelled rows: no performance verdict.")
    max_roc_auc_drop: float = Field(
        0.05, ge=0, description="Live ROC-AUC this far below the training-time figure "
        "means degraded performance.")
    business: BusinessSettings = BusinessSettings()
    alert_webhook: str | None = Field(
        None, description="URL that receives a JSON POST on a positive decision (Slack "
        "incoming webhooks work); CHURNOPS_ALERT_WEBHOOK overrides it.")


class MonitoringWindow(BaseModel):
    """Which production traffic a monitoring run looks at.

    Predictions made in ``[start, end)`` are compared with the reference; outcomes received
    in ``[labels_start, end)`` measure live performance. Unset bounds count back from now
    by ``hours`` and ``label_hours``.
    """

    start: datetime | None = None
    end: datetime | None = None
    labels_start: datetime | None = None
    hours: float = Field(24.0, gt=0)
    label_hours: float = Field(72.0, gt=0)

    def resolve(self, now: datetime | None = None) -> tuple[datetime, datetime, datetime]:
        end = self.end or now or datetime.now(UTC)
        start = self.start or end - timedelta(hours=self.hours)
        labels_start = self.labels_start or end - timedelta(hours=self.label_hours)
        return start, end, labels_start


class RetrainingPolicy(BaseModel):
    """Which labelled data a retraining run learns from, besides the reference.

    ``window``: the outcomes received in the last ``window_days``, topped up with reference
    rows (sampled with ``seed``) to ``min_rows``, so that recent behaviour dominates after
    a concept drift. ``cumulative``: every labelled production row plus the whole reference.
    """

    mode: Literal["window", "cumulative"] = "window"
    window_days: float = Field(7.0, gt=0)
    min_rows: int = Field(2000, ge=100)
    seed: int = 42


class DriftFigures(BaseModel):
    rows: int
    drift_share: float = Field(description="Share of features that drifted.")
    drifted_features: list[str]
    dataset_drift: bool
    prediction_drift_score: float = Field(description="p-value of the prediction test.")
    prediction_drift: bool
    feature_scores: dict[str, float] = Field(default_factory=dict)


class PerformanceFigures(BaseModel):
    labelled_rows: int
    roc_auc: float | None
    recall: float | None
    value_per_customer: float | None
    baseline_roc_auc: float
    baseline_recall: float | None = None
    baseline_value_per_customer: float | None = None


class MonitoringDecision(BaseModel):
    drift_detected: bool
    performance_degraded: bool
    reasons: list[str]
    figures: dict[str, Any]
    recommended_action: Action

    @property
    def positive(self) -> bool:
        return self.drift_detected or self.performance_degraded


def drift_metrics(settings: MonitoringSettings) -> list[Any]:
    """The Evidently (legacy API) metrics of one drift report: features and prediction."""
    from zenml.integrations.evidently.metrics import EvidentlyMetricConfig

    tests = {"num_stattest": settings.num_stattest, "cat_stattest": settings.cat_stattest,
             "stattest_threshold": settings.stattest_threshold}
    return [
        EvidentlyMetricConfig.metric("DatasetDriftMetric", columns=list(schema.FEATURE_NAMES),
                                     drift_share=settings.drift_share, **tests),
        EvidentlyMetricConfig.metric("DataDriftTable", columns=list(schema.FEATURE_NAMES),
                                     **tests),
        EvidentlyMetricConfig.metric("ColumnDriftMetric", column_name=PREDICTION,
                                     stattest=settings.prediction_stattest,
                                     stattest_threshold=settings.prediction_threshold),
    ]


def column_mapping() -> Any:
    from evidently.legacy.pipeline.column_mapping import ColumnMapping

    return ColumnMapping(
        target=None, prediction=None,
        numerical_features=[*schema.NUMERIC_FEATURES, PREDICTION],
        categorical_features=list(schema.CATEGORICAL_FEATURES),
    )


def drift_figures(report: Mapping[str, Any], rows: int) -> DriftFigures:
    """The figures the decision needs, from a drift report's ``as_dict()``."""
    results = {m["metric"]: m["result"] for m in report["metrics"]}
    dataset = results["DatasetDriftMetric"]
    columns = results["DataDriftTable"]["drift_by_columns"]
    prediction = results["ColumnDriftMetric"]
    return DriftFigures(
        rows=rows,
        drift_share=float(dataset["share_of_drifted_columns"]),
        drifted_features=sorted(c for c, r in columns.items() if r["drift_detected"]),
        dataset_drift=bool(dataset["dataset_drift"]),
        prediction_drift_score=float(prediction["drift_score"]),
        prediction_drift=bool(prediction["drift_detected"]),
        feature_scores={c: float(r["drift_score"]) for c, r in columns.items()},
    )


def live_performance(labelled: pd.DataFrame, threshold: float, baseline: Mapping[str, Any],
                     business: BusinessConfig) -> PerformanceFigures:
    """ROC-AUC, recall and value per customer of answered predictions with known outcomes.

    ``baseline`` holds the model's training-time (holdout) figures: ``roc_auc``, ``recall``
    and ``business_value_per_customer``.
    """
    figures: dict[str, Any] = {"roc_auc": None, "recall": None, "value_per_customer": None}
    y = labelled[LABEL].to_numpy(dtype=int)
    if len(labelled) and 0 < y.sum() < len(y):
        proba = labelled[PREDICTION].to_numpy(dtype=float)
        figures = {
            "roc_auc": float(roc_auc_score(y, proba)),
            "recall": float(recall_score(y, proba >= threshold, zero_division=0)),
            "value_per_customer": business_value_per_customer(
                y, proba, labelled["MonthlyCharges"].to_numpy(dtype=float), threshold, business),
        }
    return PerformanceFigures(
        labelled_rows=len(labelled), **figures,
        baseline_roc_auc=float(baseline["roc_auc"]),
        baseline_recall=baseline.get("recall"),
        baseline_value_per_customer=baseline.get("business_value_per_customer"),
    )


def decide(drift: DriftFigures, performance: PerformanceFigures | None,
           failed_expectations: Sequence[str], settings: MonitoringSettings
           ) -> MonitoringDecision:
    """Turn the window's figures into a decision.

    Drift alone recommends retraining: the inputs moved away from what the model learned.
    Degraded performance recommends retraining too. Production inputs that fail the
    model's expectation suite recommend an investigation first: retraining on broken data
    would only hide the problem.
    """
    reasons: list[str] = []
    figures: dict[str, Any] = {"drift": drift.model_dump()}
    drift_detected = False
    if drift.rows < settings.min_rows:
        reasons.append(f"only {drift.rows} production rows (< {settings.min_rows}): "
                       "no drift verdict")
    else:
        if drift.dataset_drift:
            drift_detected = True
            reasons.append(
                f"data drift: {drift.drift_share:.0%} of features drifted "
                f"(>= {settings.drift_share:.0%}): {', '.join(drift.drifted_features)}")
        if drift.prediction_drift:
            drift_detected = True
            reasons.append(f"prediction drift: p = {drift.prediction_drift_score:.2g} "
                           f"< {settings.prediction_threshold:g}")
    degraded = False
    if performance is not None:
        figures["performance"] = performance.model_dump()
        if performance.labelled_rows < settings.min_labels or performance.roc_auc is None:
            reasons.append(f"{performance.labelled_rows} labelled rows "
                           f"(< {settings.min_labels}): no performance verdict")
        else:
            drop = performance.baseline_roc_auc - performance.roc_auc
            if drop > settings.max_roc_auc_drop:
                degraded = True
                reasons.append(
                    f"performance degraded: live ROC-AUC {performance.roc_auc:.3f} is "
                    f"{drop:.3f} below the training-time {performance.baseline_roc_auc:.3f} "
                    f"(> {settings.max_roc_auc_drop})")
    if failed_expectations:
        figures["failed_expectations"] = list(failed_expectations)
        reasons.append("production inputs fail the model's suite: "
                       + "; ".join(failed_expectations))
    if failed_expectations:
        action: Action = "investigate"
    elif drift_detected or degraded:
        action = "retrain"
    else:
        action = "none"
        reasons.append("no drift and no performance drop")
    return MonitoringDecision(drift_detected=drift_detected, performance_degraded=degraded,
                              reasons=reasons, figures=figures, recommended_action=action)


def alert(decision: MonitoringDecision, webhook_url: str | None = None) -> None:
    """Announce a positive decision: a log line, and a JSON POST to the webhook if set.

    Slack's incoming webhooks accept the ``text`` field as it is. A failing webhook is
    logged, never raised: the decision stands without its notification.
    """
    if not decision.positive and decision.recommended_action == "none":
        return
    text = (f"churnops monitoring: {decision.recommended_action} "
            f"({'; '.join(decision.reasons)})")
    logger.warning("ALERT %s", text)
    if not webhook_url:
        return
    body = json.dumps({"text": text, "decision": decision.model_dump()}).encode()
    request = urllib.request.Request(webhook_url, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            response.read()
    except OSError as error:
        logger.error("Alert webhook %s failed: %s", webhook_url, error)


def scalar_figures(decision: MonitoringDecision) -> dict[str, float]:
    """The numbers worth a trend line, flat, for run metadata."""
    drift = decision.figures["drift"]
    flat = {"drift_share": drift["drift_share"], "rows": drift["rows"],
            "prediction_drift_p": drift["prediction_drift_score"],
            "drift_detected": float(decision.drift_detected),
            "performance_degraded": float(decision.performance_degraded)}
    performance = decision.figures.get("performance") or {}
    for key in ("roc_auc", "recall", "value_per_customer", "labelled_rows"):
        if performance.get(key) is not None:
            flat[f"live_{key}"] = float(performance[key])
    return {k: float(v) for k, v in flat.items() if np.isfinite(v)}
