"""Monitoring: drift and live-performance figures, and the decision they lead to.

The statistics are chosen on purpose (``MonitoringSettings``; the reasons are in
docs/monitoring.md). A window of production traffic is compared with the deployed version's
reference data using p-value tests, whose false-alarm rate is fixed by the threshold and
does not depend on the sample sizes: Evidently's defaults would switch from KS/chi-square to
Wasserstein/Jensen-Shannon distances once the reference passes 1,000 rows.

This module holds no ZenML or Evidently code: ``steps/monitoring`` runs the drift report
through the stack's data validator and hands its ``as_dict()`` to ``drift_figures``.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.metrics import recall_score, roc_auc_score

from churnops.inference_log import LABEL, PREDICTION
from churnops.modeling.evaluation import business_value_per_customer
from churnops.settings import BusinessSettings, MonitoringSettings

logger = logging.getLogger(__name__)


Action = Literal["none", "retrain", "investigate"]


class DeployedModel(BaseModel):
    """The version monitoring judges: its threshold and its training-time (holdout) figures."""

    version: str
    threshold: float
    zenml_model_version: str = Field(description="The ZenML model version mirroring it.")
    baseline: dict[str, float | None] = Field(
        description="Holdout roc_auc, recall and business_value_per_customer.")


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
    """What one monitoring run concluded, with the figures behind it."""

    model_version: str | None = Field(None, description="The version that was judged.")
    drift_detected: bool
    performance_degraded: bool
    reasons: list[str]
    recommended_action: Action
    drift: DriftFigures
    performance: PerformanceFigures | None = None
    failed_expectations: list[str] = Field(default_factory=list)

    @property
    def positive(self) -> bool:
        return self.drift_detected or self.performance_degraded


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


def live_performance(labelled: pd.DataFrame, threshold: float,
                     baseline: Mapping[str, float | None],
                     business: BusinessSettings) -> PerformanceFigures:
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
           failed_expectations: Sequence[str], settings: MonitoringSettings,
           model_version: str | None = None) -> MonitoringDecision:
    """Turn the window's figures into a decision.

    Drift alone recommends retraining: the inputs moved away from what the model learned.
    Degraded performance recommends retraining too. Production inputs that fail the
    model's expectation suite recommend an investigation first: retraining on broken data
    would only hide the problem.
    """
    reasons: list[str] = []
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
        reasons.append("production inputs fail the model's suite: "
                       + "; ".join(failed_expectations))
    if failed_expectations:
        action: Action = "investigate"
    elif drift_detected or degraded:
        action = "retrain"
    else:
        action = "none"
        reasons.append("no drift and no performance drop")
    return MonitoringDecision(
        model_version=model_version, drift_detected=drift_detected,
        performance_degraded=degraded, reasons=reasons, recommended_action=action, drift=drift,
        performance=performance, failed_expectations=list(failed_expectations))


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
    drift = decision.drift
    flat = {"drift_share": drift.drift_share, "rows": drift.rows,
            "prediction_drift_p": drift.prediction_drift_score,
            "drift_detected": float(decision.drift_detected),
            "performance_degraded": float(decision.performance_degraded)}
    performance = decision.performance.model_dump() if decision.performance else {}
    for key in ("roc_auc", "recall", "value_per_customer", "labelled_rows"):
        if performance.get(key) is not None:
            flat[f"live_{key}"] = float(performance[key])
    return {k: float(v) for k, v in flat.items() if np.isfinite(v)}
