"""The closed loop's timeline: one row per simulated day, as text, CSV and a PNG plot."""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class TimelineRow:
    day: int
    drifting: bool
    requests: int
    outcomes: int
    features_moved: int
    prediction_drift_p: float
    severity: str
    drift_detected: bool
    performance_degraded: bool
    live_roc_auc: float | None
    labelled_rows: int
    estimated_roc_auc: float | None
    action: str
    live_model_version: str

    def line(self) -> str:
        auc = f"{self.live_roc_auc:.3f}" if self.live_roc_auc is not None else "  -  "
        estimate = (f"{self.estimated_roc_auc:.3f}" if self.estimated_roc_auc is not None
                    else "  -  ")
        flags = ("D" if self.drift_detected else "-") + ("P" if self.performance_degraded
                                                         else "-")
        return (f"day {self.day:>3} {'*' if self.drifting else ' '} {self.severity:<4} "
                f"features moved {self.features_moved:>2}  pred p {self.prediction_drift_p:7.1e}"
                f"  AUC est. {estimate} live {auc} "
                f"(n={self.labelled_rows:>4})  {flags}  v{self.live_model_version:<3} "
                f"{self.action}")


def write_timeline(rows: list[TimelineRow], csv_path: Path, title: str) -> Path:
    """The timeline as CSV, and as a PNG plot beside it; returns the PNG's path."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    png = csv_path.with_suffix(".png")
    _plot(rows, png, title)
    return png


def _plot(rows: list[TimelineRow], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [r.day for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    top.plot(days, [r.features_moved for r in rows], "o-", label="features moved (warn level)")
    top.plot(days, [min(20.0, -_log10(r.prediction_drift_p)) for r in rows], "s--",
             label="prediction drift, -log10(p)")
    top.set_ylim(0, 21)
    top.legend(loc="upper left")
    auc = [(r.day, r.live_roc_auc) for r in rows if r.live_roc_auc is not None]
    if auc:
        bottom.plot(*zip(*auc, strict=True), "o-", color="tab:green", label="live ROC-AUC")
    estimated = [(r.day, r.estimated_roc_auc) for r in rows if r.estimated_roc_auc is not None]
    if estimated:
        bottom.plot(*zip(*estimated, strict=True), "x--", color="tab:blue",
                    label="estimated ROC-AUC (before outcomes)")
    bottom.legend(loc="lower left", fontsize=8)
    bottom.set_ylabel("ROC-AUC")
    bottom.set_xlabel("day")
    for row in rows:
        for axis in (top, bottom):
            if row.drifting and row.day == min(r.day for r in rows if r.drifting):
                axis.axvline(row.day - 0.5, color="grey", linestyle=":")
        if row.action != "none":
            bottom.annotate(f"v{row.live_model_version}: {_headline(row.action)}", (row.day, 0.02),
                            xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                            va="bottom")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _log10(p: float) -> float:
    return math.log10(max(p, 1e-300))


def _headline(action: str, width: int = 60) -> str:
    """The actions without their figures: each one's text before its colon."""
    text = "; ".join(part.split(":")[0] for part in action.split("; "))
    return text if len(text) <= width else text[:width - 1] + "…"
