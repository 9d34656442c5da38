"""The monitoring trend: one row per continuous-training run, drawn as one HTML page.

Each run's summary (``steps/continuous/state.py`` saves it in the deployment record) holds
its monitoring figures, findings, actions and live versions; ``render`` turns a controller's
runs into the page the ZenML dashboard shows as the ``monitoring_trend`` artifact.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from churnops.monitoring import MonitoringDecision, scalar_figures


class TrendRow(BaseModel):
    run: int
    at: datetime
    severity: str
    findings: list[str]
    actions: list[str]
    primary: str | None
    candidate: str | None
    live_roc_auc: float | None = None
    estimated_roc_auc: float | None = None
    estimated_low: float | None = None
    estimated_high: float | None = None
    features_moved: int = 0
    prediction_drift_p: float | None = None


def run_summary(decision: MonitoringDecision, actions: Sequence[str], primary: str | None,
                candidate: str | None) -> dict[str, Any]:
    """What a run keeps for the trend, JSON-ready."""
    return {"severity": decision.severity, "findings": decision.reasons,
            "figures": scalar_figures(decision), "actions": list(actions),
            "primary": primary, "candidate": candidate}


def trend_rows(runs: Sequence[Mapping[str, Any]]) -> list[TrendRow]:
    """Rows from ``DeploymentRecord.loop_runs``; runs saved before the trend are left out."""
    rows = []
    for run in runs:
        if "severity" not in run:
            continue
        figures = run.get("figures", {})
        rows.append(TrendRow(
            run=run["run"], at=run["ts"], severity=run["severity"],
            findings=run.get("findings", []), actions=run.get("actions", []),
            primary=run.get("primary"), candidate=run.get("candidate"),
            live_roc_auc=figures.get("live_roc_auc"),
            estimated_roc_auc=figures.get("estimated_roc_auc"),
            estimated_low=figures.get("estimated_roc_auc_low"),
            estimated_high=figures.get("estimated_roc_auc_high"),
            features_moved=int(figures.get("features_moved", 0)),
            prediction_drift_p=figures.get("prediction_drift_p")))
    return rows


SEVERITY_COLOURS = {"act": "#c0392b", "warn": "#d68910", "info": "#7f8c8d"}


def render(rows: Sequence[TrendRow], controller: str) -> str:
    """The trend page: a chart of performance and drift per run, and a table of findings,
    actions and live versions, the latest run first."""
    if not rows:
        return (f"<p>No continuous-training runs of controller '{html.escape(controller)}' "
                "recorded yet.</p>")
    latest = rows[-1]
    head = (f"<h2>churnops monitoring trend: controller '{html.escape(controller)}'</h2>"
            f"<p id='latest'>Latest run: {latest.run} at {latest.at:%Y-%m-%d %H:%M} UTC, "
            f"severity <b>{latest.severity}</b>, live v{html.escape(str(latest.primary))}"
            + (f", candidate v{html.escape(latest.candidate)}" if latest.candidate else "")
            + "</p>")
    lines = ["<tr><th>run</th><th>at (UTC)</th><th>severity</th><th>live ROC-AUC</th>"
             "<th>estimated ROC-AUC</th><th>features moved</th><th>findings</th>"
             "<th>actions</th><th>live versions</th></tr>"]
    for row in reversed(rows):
        estimate = (f"{row.estimated_roc_auc:.3f} [{row.estimated_low:.3f}, "
                    f"{row.estimated_high:.3f}]" if row.estimated_roc_auc is not None else "-")
        versions = f"v{row.primary}" + (f" + v{row.candidate}" if row.candidate else "")
        findings = "<br>".join(html.escape(f) for f in row.findings if not f.startswith("info"))
        lines.append(
            f"<tr class='run' data-run='{row.run}'><td>{row.run}</td>"
            f"<td>{row.at:%m-%d %H:%M}</td>"
            f"<td style='color:{SEVERITY_COLOURS.get(row.severity, '#000')}'>"
            f"<b>{row.severity}</b></td>"
            f"<td>{_number(row.live_roc_auc)}</td><td>{estimate}</td>"
            f"<td>{row.features_moved}</td><td>{findings or '-'}</td>"
            f"<td>{html.escape('; '.join(row.actions) or 'none')}</td>"
            f"<td>{html.escape(versions)}</td></tr>")
    style = ("<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ddd;padding:4px 6px;vertical-align:top}</style>")
    return (f"<html><head><meta charset='utf-8'>{style}</head><body>{head}{_chart(rows)}"
            f"<table>{''.join(lines)}</table></body></html>")


def _number(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def _chart(rows: Sequence[TrendRow]) -> str:
    """Performance (live and estimated, with the interval) and drift per run, as inline SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r.run for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    live = [(r.run, r.live_roc_auc) for r in rows if r.live_roc_auc is not None]
    if live:
        top.plot(*zip(*live, strict=True), "o-", color="tab:green", label="live ROC-AUC")
    estimated = [r for r in rows if r.estimated_roc_auc is not None]
    if estimated:
        top.plot([r.run for r in estimated], [r.estimated_roc_auc for r in estimated], "x--",
                 color="tab:blue", label="estimated, before outcomes")
        top.fill_between([r.run for r in estimated], [r.estimated_low for r in estimated],
                         [r.estimated_high for r in estimated], color="tab:blue", alpha=0.15)
    top.set_ylabel("ROC-AUC")
    top.legend(loc="lower left", fontsize=8)
    bottom.bar(runs, [r.features_moved for r in rows],
               color=[SEVERITY_COLOURS.get(r.severity, "#000") for r in rows])
    bottom.set_ylabel("features moved")
    bottom.set_xlabel("continuous-training run (colour: severity)")
    for row in rows:
        if row.actions and any(not a.startswith(("retraining due", "recovering"))
                               for a in row.actions):
            top.axvline(row.run, color="grey", linestyle=":", linewidth=0.8)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    # Fit the width of the page (the dashboard shows it in a narrow panel).
    tag = svg[:svg.index(">")]
    fitted = re.sub(r'\s(width|height)="[^"]*"', "", tag) + ' width="100%"'
    return fitted + svg[len(tag):]
