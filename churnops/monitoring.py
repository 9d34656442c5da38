"""Monitoring: live-performance figures, and the findings and decision the figures lead to.

A window of production traffic is compared with the fixed drift reference by two-sample
tests (``churnops.drift``), and its outcomes with the deployed version's training-time
figures. ``decide`` turns them into findings of three severities (act, warn, info) whose
false-alarm rate per run is a configured ``alpha`` (``MonitoringSettings``; the rule and the
measurement behind it are in docs/monitoring.md).

This module holds no ZenML or Evidently code.
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
from scipy.stats import norm
from sklearn.metrics import recall_score, roc_auc_score

from churnops.drift import DriftFigures, OutcomeShift, Shift, auc_standard_error, outcome_shift
from churnops.estimation import EstimatedPerformance
from churnops.inference_log import LABEL, PREDICTION
from churnops.modeling.evaluation import Evaluation, business_value_per_customer
from churnops.settings import BusinessSettings, MonitoringSettings

logger = logging.getLogger(__name__)


Action = Literal["none", "retrain", "investigate"]


class DeployedModel(BaseModel):
    """The version monitoring judges: its threshold and its training-time (holdout) figures."""

    version: str
    threshold: float
    zenml_model_version: str = Field(description="The ZenML model version mirroring it.")
    baseline: dict[str, float | None] = Field(
        description="Holdout figures (``holdout_baseline``).")


class PerformanceFigures(BaseModel):
    labelled_rows: int
    positives: int = 0
    roc_auc: float | None
    recall: float | None
    value_per_customer: float | None
    baseline_roc_auc: float
    baseline_recall: float | None = None
    baseline_value_per_customer: float | None = None
    baseline_rows: int | None = None
    baseline_positives: int | None = None
    outcomes: OutcomeShift | None = Field(
        None, description="Do the outcomes follow the scores as on the holdout?")


class RefusedRequests(BaseModel):
    """Requests of the window the service refused as invalid (422), by the field named."""

    requests: int = Field(description="Answered and refused requests.")
    refused: int = 0
    fields: dict[str, int] = Field(default_factory=dict,
                                   description="Refused requests naming each field.")

    @classmethod
    def of(cls, answered: int, errors: Sequence[str]) -> RefusedRequests:
        """From the answered count and the refused rows' errors (``field: problem; ...``)."""
        fields: dict[str, int] = {}
        for error in errors:
            for name in dict.fromkeys(part.split(":")[0].strip() for part in error.split(";")):
                fields[name] = fields.get(name, 0) + 1
        return cls(requests=answered + len(errors), refused=len(errors), fields=fields)


Severity = Literal["act", "warn", "info"]
SEVERITIES: tuple[Severity, ...] = ("info", "warn", "act")


class Finding(BaseModel):
    """One thing a monitoring run found, and how much it matters.

    ``act``: grounds to retrain, roll back or investigate (its false-alarm rate per run is
    ``MonitoringSettings.alpha``). ``warn``: a named change worth a look that does not meet
    the act rule. ``info``: context, such as a window too small for a verdict.
    """

    severity: Severity
    kind: Literal["input_drift", "prediction_drift", "feature_drift", "performance",
                  "estimated_performance", "data_quality", "window"]
    message: str
    subjects: list[str] = Field(default_factory=list,
                                description="The features (or figures) it names.")


class MonitoringDecision(BaseModel):
    """What one monitoring run concluded, with the findings and figures behind it."""

    model_version: str | None = Field(None, description="The version that was judged.")
    drift_detected: bool = Field(description="An act finding on the inputs or predictions.")
    performance_degraded: bool = Field(description="An act finding on live performance.")
    findings: list[Finding]
    recommended_action: Action
    drift: DriftFigures
    performance: PerformanceFigures | None = None
    estimated: EstimatedPerformance | None = None
    failed_expectations: list[str] = Field(default_factory=list)

    @property
    def severity(self) -> Severity:
        return max((f.severity for f in self.findings), key=SEVERITIES.index, default="info")

    @property
    def reasons(self) -> list[str]:
        """Every finding as one line, the most severe first."""
        ordered = sorted(self.findings, key=lambda f: -SEVERITIES.index(f.severity))
        return [f"{f.severity}: {f.message}" for f in ordered]

    @property
    def grounds(self) -> list[str]:
        """The act findings: what an action rests on."""
        return [f.message for f in self.findings if f.severity == "act"]

    @property
    def moved_features(self) -> list[str]:
        """The features named by act or warn findings."""
        return sorted({name for f in self.findings if f.kind in ("input_drift", "feature_drift")
                       for name in f.subjects})


def holdout_baseline(evaluation: Evaluation) -> dict[str, float | None]:
    """A version's training-time figures, from its holdout evaluation, with the holdout's
    size so that a comparison can count the holdout's own sampling error."""
    (_, _), (fn, tp) = evaluation.confusion_matrix
    return {"roc_auc": evaluation.roc_auc, "recall": evaluation.recall,
            "business_value_per_customer": evaluation.business_value_per_customer,
            "rows": evaluation.n_customers, "positives": fn + tp}


def live_performance(labelled: pd.DataFrame, threshold: float,
                     baseline: Mapping[str, float | None], business: BusinessSettings,
                     holdout: pd.DataFrame | None = None) -> PerformanceFigures:
    """ROC-AUC, recall and value per customer of answered predictions with known outcomes.

    ``baseline`` holds the model's training-time figures (``holdout_baseline``); ``holdout``,
    the version's holdout scores and outcomes (``PREDICTION``, ``LABEL``), which the live
    outcomes are tested against (``outcome_shift``).
    """
    figures: dict[str, Any] = {"roc_auc": None, "recall": None, "value_per_customer": None}
    y = labelled[LABEL].to_numpy(dtype=int)
    if len(labelled) and 0 < y.sum() < len(y):
        proba = labelled[PREDICTION].to_numpy(dtype=float)
        figures = {
            "outcomes": None if holdout is None else outcome_shift(
                holdout[PREDICTION].to_numpy(dtype=float), holdout[LABEL].to_numpy(dtype=int),
                proba, y),
            "roc_auc": float(roc_auc_score(y, proba)),
            "recall": float(recall_score(y, proba >= threshold, zero_division=0)),
            "value_per_customer": business_value_per_customer(
                y, proba, labelled["MonthlyCharges"].to_numpy(dtype=float), threshold, business),
        }
    return PerformanceFigures(
        labelled_rows=len(labelled), positives=int(y.sum()), **figures,
        baseline_roc_auc=float(baseline["roc_auc"]),
        baseline_recall=baseline.get("recall"),
        baseline_value_per_customer=baseline.get("business_value_per_customer"),
        baseline_rows=_count(baseline.get("rows")),
        baseline_positives=_count(baseline.get("positives")),
    )


def _count(value: float | None) -> int | None:
    return None if value is None else int(value)


def decide(drift: DriftFigures, performance: PerformanceFigures | None,
           failed_expectations: Sequence[str], settings: MonitoringSettings,
           model_version: str | None = None,
           estimated: EstimatedPerformance | None = None,
           refused: RefusedRequests | None = None) -> MonitoringDecision:
    """Turn the window's figures into findings, and the findings into an action.

    Shifted inputs (several features, or the model's predictions) and a significant drop of
    live performance recommend retraining. Inputs that fail the model's expectation suite
    recommend an investigation first: retraining on broken data would only hide it.
    """
    findings = drift_findings(drift, settings)
    findings += performance_findings(performance, settings)
    findings += estimate_findings(estimated, performance, settings)
    if failed_expectations:
        findings.append(Finding(
            severity="act", kind="data_quality", subjects=list(failed_expectations),
            message="production inputs fail the model's suite: "
                    + "; ".join(failed_expectations)))
    findings += refused_findings(refused, settings)
    broken = any(f.severity == "act" and f.kind == "data_quality" for f in findings)
    drift_detected = any(f.severity == "act" and f.kind in ("input_drift", "prediction_drift")
                         for f in findings)
    degraded = any(f.severity == "act" and f.kind == "performance" for f in findings)
    action: Action = ("investigate" if broken
                      else "retrain" if drift_detected or degraded else "none")
    return MonitoringDecision(
        model_version=model_version, drift_detected=drift_detected,
        performance_degraded=degraded, findings=findings, recommended_action=action,
        drift=drift, performance=performance, estimated=estimated,
        failed_expectations=list(failed_expectations))


def drift_findings(drift: DriftFigures, settings: MonitoringSettings) -> list[Finding]:
    """Act on a shift of the predictions or of several features at once; warn on any
    feature that moved.

    Half of ``alpha`` goes to the prediction test and half to the features (Bonferroni
    over them), so a run on unchanged traffic raises an act finding with probability at
    most ``alpha``, however the features are correlated. Warnings use ``warn_alpha`` the
    same way.
    """
    if drift.rows < settings.min_rows:
        return [Finding(severity="info", kind="window",
                        message=f"only {drift.rows} production rows (< {settings.min_rows}): "
                                "no drift verdict")]
    findings: list[Finding] = []
    half = settings.alpha / 2
    broad = drift.flagged(half)
    if len(broad) >= settings.act_min_features:
        findings.append(Finding(
            severity="act", kind="input_drift", subjects=[s.column for s in broad],
            message=f"input drift: {len(broad)} of {len(drift.features)} features moved: "
                    + "; ".join(_described(s) for s in broad)))
    prediction = drift.prediction
    if prediction is not None and prediction.p_value <= settings.warn_alpha:
        findings.append(Finding(
            severity="act" if prediction.p_value <= half else "warn",
            kind="prediction_drift", subjects=[prediction.column],
            message=f"prediction drift: {_described(prediction)}"))
    named = {name for f in findings for name in f.subjects}
    findings += [Finding(severity="warn", kind="feature_drift", subjects=[s.column],
                         message=f"feature drift: {_described(s)}")
                 for s in drift.flagged(settings.warn_alpha) if s.column not in named]
    if not findings and drift.features:
        largest = min(drift.features, key=lambda s: s.p_value)
        findings.append(Finding(severity="info", kind="window",
                                message=f"no significant shift in {drift.rows} rows; "
                                        f"largest: {_described(largest)}"))
    return findings


def performance_findings(performance: PerformanceFigures | None,
                         settings: MonitoringSettings) -> list[Finding]:
    """The outcomes' two tests, each at half of ``alpha``: a drop of ROC-AUC, and a change
    in who churns at a given score (``outcome_findings``)."""
    if performance is None:
        return []
    live = performance.roc_auc
    if performance.labelled_rows < settings.min_labels or live is None:
        return [Finding(severity="info", kind="window",
                        message=f"{performance.labelled_rows} labelled rows "
                                f"(< {settings.min_labels}): no performance verdict")]
    return drop_findings(performance, live, settings) + outcome_findings(
        performance.outcomes, settings)


def drop_findings(performance: PerformanceFigures, live: float, settings: MonitoringSettings
                  ) -> list[Finding]:
    """Act when ``live`` ROC-AUC is more than ``max_roc_auc_drop`` below the training-time
    figure and that drop is significant at half of ``alpha`` (one-sided; Hanley-McNeil
    standard errors of both figures, the holdout being a sample too)."""
    baseline = performance.baseline_roc_auc
    drop = baseline - live
    error = auc_standard_error(live, performance.positives,
                               performance.labelled_rows - performance.positives)
    if performance.baseline_rows and performance.baseline_positives:
        error = float(np.hypot(error, auc_standard_error(
            baseline, performance.baseline_positives,
            performance.baseline_rows - performance.baseline_positives)))
    p_value = float(norm.sf(drop / error)) if error > 0 else float(drop <= 0)
    figures = (f"live ROC-AUC {live:.3f} on {performance.labelled_rows} outcomes, "
               f"{drop:+.3f} below the training-time {baseline:.3f} (p = {p_value:.2g})")
    if drop > settings.max_roc_auc_drop:
        return [Finding(severity="act" if p_value <= settings.alpha / 2 else "warn",
                        kind="performance", subjects=["roc_auc"],
                        message=f"performance degraded: {figures}")]
    return [Finding(severity="info", kind="performance", subjects=["roc_auc"],
                    message=figures)]


def outcome_findings(outcomes: OutcomeShift | None, settings: MonitoringSettings
                     ) -> list[Finding]:
    """Act when the outcomes no longer follow the scores as on the holdout (a concept
    drift: the same customers churn differently), at half of ``alpha``; warn at half of
    ``warn_alpha``. This sees a change in who churns before it lowers ROC-AUC enough to
    measure."""
    if outcomes is None:
        return []
    figures = (f"{outcomes.churn_rate:.1%} of {outcomes.rows} churned where the holdout's "
               f"scores expect {outcomes.expected_churn_rate:.1%} (p = {outcomes.p_value:.2g})")
    if outcomes.p_value > settings.warn_alpha / 2:
        return [Finding(severity="info", kind="performance", subjects=["churn_rate"],
                        message=f"outcomes follow the scores: {figures}")]
    return [Finding(severity="act" if outcomes.p_value <= settings.alpha / 2 else "warn",
                    kind="performance", subjects=["churn_rate"],
                    message=f"outcomes no longer follow the scores (concept drift): {figures}")]


def refused_findings(refused: RefusedRequests | None,
                     settings: MonitoringSettings) -> list[Finding]:
    """Warn on any request refused as invalid, naming the fields; act (investigate) when
    they are more than ``max_refused_share`` of the window's requests."""
    if refused is None or not refused.refused:
        return []
    share = refused.refused / refused.requests
    named = ", ".join(f"{name} in {count}" for name, count in
                      sorted(refused.fields.items(), key=lambda item: -item[1]))
    return [Finding(
        severity="act" if share > settings.max_refused_share else "warn",
        kind="data_quality", subjects=sorted(refused.fields),
        message=f"requests refused as invalid: {refused.refused} of {refused.requests} "
                f"({share:.1%}); {named}")]


def estimate_findings(estimated: EstimatedPerformance | None,
                      performance: PerformanceFigures | None,
                      settings: MonitoringSettings) -> list[Finding]:
    """Warn when today's predictions expect a ROC-AUC more than ``max_roc_auc_drop`` below
    the training-time figure, the whole interval below it: outcomes will tell."""
    if estimated is None or estimated.roc_auc is None or performance is None:
        return []
    baseline = performance.baseline_roc_auc
    figures = (f"estimated ROC-AUC {estimated.roc_auc:.3f} [{estimated.roc_auc_low:.3f}, "
               f"{estimated.roc_auc_high:.3f}] on today's {estimated.rows} predictions")
    if estimated.roc_auc_on_outcomes is not None and performance.roc_auc is not None:
        figures += (f"; on the {performance.labelled_rows} outcomes in: estimated "
                    f"{estimated.roc_auc_on_outcomes:.3f}, realised {performance.roc_auc:.3f}")
    if estimated.roc_auc_high < baseline - settings.max_roc_auc_drop:
        return [Finding(severity="warn", kind="estimated_performance", subjects=["roc_auc"],
                        message=f"expected performance drop, before outcomes: {figures}, "
                                f"below the training-time {baseline:.3f} by more than "
                                f"{settings.max_roc_auc_drop}")]
    return [Finding(severity="info", kind="estimated_performance", subjects=["roc_auc"],
                    message=figures)]


def _described(shift: Shift) -> str:
    return f"{shift.change} (p = {shift.p_value:.2g})"


def alert(decision: MonitoringDecision, webhook_url: str | None = None) -> None:
    """Announce act and warn findings: a log line, and a JSON POST to the webhook if set.

    Slack's incoming webhooks accept the ``text`` field as it is. A failing webhook is
    logged, never raised: the decision stands without its notification.
    """
    if decision.severity == "info":
        return
    named = [reason for reason in decision.reasons if not reason.startswith("info")]
    text = (f"churnops monitoring: {decision.severity}, {decision.recommended_action} "
            f"({'; '.join(named)})")
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
    flat = {"rows": drift.rows,
            "features_moved": len(decision.moved_features),
            "min_feature_p": min((s.p_value for s in drift.features), default=1.0),
            "prediction_drift_p": drift.prediction.p_value if drift.prediction else 1.0,
            "severity": SEVERITIES.index(decision.severity),
            "drift_detected": float(decision.drift_detected),
            "performance_degraded": float(decision.performance_degraded)}
    performance = decision.performance.model_dump() if decision.performance else {}
    for key in ("roc_auc", "recall", "value_per_customer", "labelled_rows"):
        if performance.get(key) is not None:
            flat[f"live_{key}"] = float(performance[key])
    if performance.get("outcomes"):
        flat["outcome_shift_p"] = performance["outcomes"]["p_value"]
    estimated = decision.estimated.model_dump() if decision.estimated else {}
    for key in ("roc_auc", "roc_auc_low", "roc_auc_high", "value_per_customer",
                "roc_auc_on_outcomes"):
        if estimated.get(key) is not None:
            flat[f"estimated_{key}"] = float(estimated[key])
    return {k: float(v) for k, v in flat.items() if np.isfinite(v)}
