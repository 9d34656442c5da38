"""The closed loop: simulated production days, monitoring, retraining, canary, promotion.

``python run.py --pipeline continuous --days N --scenario S`` runs it. Each day:

1. the simulator sends the day's requests to the real prediction service over HTTP, and
   the outcomes that fall due (``label_delay_days`` after their request) to ``/feedback``;
2. the monitoring pipeline compares the day's traffic with the deployed version's
   reference, and the outcomes of the last ``label_window_days`` with its training-time
   figures, and decides;
3. a canary deployed the day before is promoted if the service kept it (it rolls a canary
   back by itself when it errs or disagrees too much), or reported as rolled back;
4. when the decision says ``retrain`` (and no retraining happened in the last
   ``cooldown_days``), the retraining pipeline runs; a version the gate approves is deployed
   as a canary, to be judged the next day.

A performance drop starts a recovery (``Recovery``). Outcomes from before the change teach
the old relation, so the retraining waits for ``min_new_outcomes`` outcomes of requests made
since the change showed, and learns from those. Retraining goes on, every
``cooldown_days``, until the live ROC-AUC is back within ``recovery_tolerance`` of its
level before the drop.

Every stage is a real ZenML pipeline run on the active stack; this module only sequences
them. The simulated days use their own inference log, so real traffic is never mixed in.
"""

from __future__ import annotations

import csv
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel, Field

from churnops import data, paths
from churnops.deployment import CanaryBounds, read_live
from data.simulator import ServiceDriver, Simulation, SimulationConfig, TrafficSimulator

logger = logging.getLogger(__name__)

CONFIG = paths.CONFIG_DIR / "continuous.yaml"


class LoopSettings(BaseModel):
    label_window_days: int = Field(3, ge=1, description="Outcomes of this many days back "
                                   "measure live performance.")
    cooldown_days: int = Field(4, ge=0, description="Days after a retraining before the "
                               "next one: the new model's outcomes must arrive first.")
    recovery_tolerance: float = Field(
        0.02, ge=0, description="After a performance drop, retraining goes on (every "
        "cooldown) until the live ROC-AUC is back within this of its level before the drop.")
    min_labels: int = Field(300, ge=1, description="Outcomes a live ROC-AUC needs to count.")
    min_new_outcomes: int = Field(
        900, ge=1, description="After a drop, outcomes of requests made since the change "
        "that a retraining waits for.")
    canary_share: float = Field(0.2, gt=0, le=1)
    bounds: CanaryBounds = CanaryBounds(min_agreement=0.3, min_requests=30)


@dataclass
class TimelineRow:
    day: int
    drifting: bool
    requests: int
    outcomes: int
    drift_share: float
    prediction_drift_p: float
    drift_detected: bool
    performance_degraded: bool
    live_roc_auc: float | None
    labelled_rows: int
    action: str
    live_model_version: str

    def line(self) -> str:
        auc = f"{self.live_roc_auc:.3f}" if self.live_roc_auc is not None else "  -  "
        flags = ("D" if self.drift_detected else "-") + ("P" if self.performance_degraded
                                                         else "-")
        return (f"day {self.day:>3} {'*' if self.drifting else ' '} drift {self.drift_share:4.0%}"
                f"  pred p {self.prediction_drift_p:7.1e}  live AUC {auc} "
                f"(n={self.labelled_rows:>4})  {flags}  v{self.live_model_version:<3} "
                f"{self.action}")


@dataclass
class Stages:
    """The pipelines the loop runs; each returns its decision dict."""

    monitor: Callable[[dict[str, Any]], dict[str, Any]]
    retrain: Callable[[dict[str, Any]], dict[str, Any]]
    deploy_canary: Callable[[str, float, CanaryBounds], None]
    promote_canary: Callable[[], Any]


def load_config(path: Path = CONFIG) -> tuple[dict[str, Any], LoopSettings]:
    """(simulation keyword arguments, loop settings) from ``configs/continuous.yaml``."""
    config = yaml.safe_load(path.read_text()) or {}
    return config.get("simulation", {}), LoopSettings(**config.get("loop", {}))


def run(days: int, simulation: SimulationConfig, settings: LoopSettings, stages: Stages,
        echo: Callable[[str], None] = print) -> list[TimelineRow]:
    """Run ``days`` simulated days against a service started here; returns the timeline."""
    workdir = paths.state_dir() / "simulations" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    log_url = f"sqlite:///{workdir / 'inference_log.db'}"
    customers = data.clean(data.load_raw(paths.RAW_DATA))[0]
    rows: list[TimelineRow] = []
    with prediction_service(log_url, workdir / "service.log") as base_url:
        echo(f"Prediction service on {base_url}; inference log {log_url}")
        driver = ServiceDriver(base_url)
        sim = Simulation(TrafficSimulator(customers, simulation), driver)
        day_starts: list[datetime] = []
        canary: str | None = None
        last_retrain, last_approved = -10**9, False
        recovery = Recovery(settings)
        try:
            for day in range(1, days + 1):
                day_starts.append(datetime.now(UTC))
                requests, outcomes = sim.run_day(day)
                end = datetime.now(UTC)
                labels_start = day_starts[max(0, day - settings.label_window_days)]
                decision = stages.monitor({
                    "window": {"start": day_starts[-1].isoformat(), "end": end.isoformat(),
                               "labels_start": labels_start.isoformat()},
                    "inference_log_url": log_url})
                actions, promoted = _settle_canary(canary, stages)
                if canary is not None and not promoted:
                    last_approved = False  # rolled back: no model of its own to wait for
                canary = None
                recovery.update(day, decision, simulation.label_delay_days)
                since = day_starts[recovery.since_day - 1] if recovery.active else None
                new_outcomes = _outcomes_since(log_url, since, end) if since else 0
                ready = not recovery.active or new_outcomes >= settings.min_new_outcomes
                wants_retrain = decision["recommended_action"] == "retrain" or recovery.active
                if decision["recommended_action"] == "investigate":
                    actions.append("investigate: production inputs fail the suite")
                # A rejected challenger during a recovery is tried again the next day, with
                # one more day of outcomes from after the change; otherwise wait.
                wait = settings.cooldown_days if last_approved or not recovery.active else 0
                if wants_retrain and not ready:
                    actions.append(f"recovering: {new_outcomes}/{settings.min_new_outcomes} "
                                   "outcomes since the change")
                elif wants_retrain and not promoted and day - last_retrain > wait:
                    gate = stages.retrain({"inference_log_url": log_url,
                                           "until": end.isoformat(),
                                           "since": since.isoformat() if since else None})
                    version = gate["model_version"]
                    last_retrain, last_approved = day, bool(gate.get("approved"))
                    recovery.retrained |= last_approved and recovery.active
                    if last_approved:
                        stages.deploy_canary(version, settings.canary_share, settings.bounds)
                        canary = version
                        actions.append(f"retrained v{version}: canary at "
                                       f"{settings.canary_share:.0%}")
                    else:
                        actions.append(f"retrained v{version}: rejected by the gate")
                elif wants_retrain:
                    actions.append("recovering" if recovery.active and not promoted
                                   else "retrain due (cooling down)")
                rows.append(_row(day, sim.simulator.drifting(day), requests, outcomes,
                                 decision, actions))
                echo(rows[-1].line())
        finally:
            driver.close()
    return rows


class Recovery:
    """After a performance drop: what to learn from, and whether performance is back.

    The level to return to is the median live ROC-AUC read before the drop. Retraining
    learns from the requests made since the change showed (the newest day of the first
    degraded reading), once ``min_new_outcomes`` of them have outcomes. The recovery ends
    when a model retrained since the drop reads within ``recovery_tolerance`` of the level.
    """

    def __init__(self, settings: LoopSettings) -> None:
        self.settings = settings
        self.healthy: list[float] = []
        self.since_day: int | None = None
        self.retrained = False

    @property
    def active(self) -> bool:
        return self.since_day is not None

    @property
    def level(self) -> float:
        return statistics.median(self.healthy) if self.healthy else 0.0

    def update(self, day: int, decision: dict[str, Any], label_delay_days: int) -> None:
        """Take a day's decision."""
        performance = decision["figures"].get("performance") or {}
        auc = performance.get("roc_auc")
        measured = auc is not None and performance.get("labelled_rows", 0) >= \
            self.settings.min_labels
        if decision["performance_degraded"] and not self.active:
            self.since_day, self.retrained = max(1, day - label_delay_days), False
        elif measured and not self.active:
            self.healthy.append(auc)
        elif measured and self.retrained and \
                auc >= self.level - self.settings.recovery_tolerance:
            self.since_day = None


def _outcomes_since(log_url: str, since: datetime, end: datetime) -> int:
    """Outcomes received so far for requests made since ``since``."""
    from serving.inference_log import InferenceLog

    log = InferenceLog(log_url)
    try:
        return len(log.outcomes_between(since, end, predicted_since=since))
    finally:
        log.close()


def _settle_canary(canary: str | None, stages: Stages) -> tuple[list[str], bool]:
    """Promote yesterday's canary if the service kept it; report it if it rolled it back."""
    if canary is None:
        return [], False
    live = read_live()
    if live is not None and live.strategy == "canary" and live.candidate \
            and live.candidate.version == canary:
        stages.promote_canary()
        return [f"canary v{canary} promoted"], True
    reason = live.rollback.reason if live and live.rollback else "replaced"
    return [f"canary v{canary} rolled back ({reason})"], False


def _row(day: int, drifting: bool, requests: int, outcomes: int, decision: dict[str, Any],
         actions: list[str]) -> TimelineRow:
    drift = decision["figures"]["drift"]
    performance = decision["figures"].get("performance") or {}
    live = read_live()
    return TimelineRow(
        day=day, drifting=drifting, requests=requests, outcomes=outcomes,
        drift_share=drift["drift_share"], prediction_drift_p=drift["prediction_drift_score"],
        drift_detected=decision["drift_detected"],
        performance_degraded=decision["performance_degraded"],
        live_roc_auc=performance.get("roc_auc"),
        labelled_rows=performance.get("labelled_rows", 0),
        action="; ".join(actions) or "none",
        live_model_version=live.champion.version if live else "-",
    )


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
    top.plot(days, [r.drift_share for r in rows], "o-", label="share of drifted features")
    top.plot(days, [min(1.0, -_log10(r.prediction_drift_p) / 10) for r in rows], "s--",
             label="prediction drift, -log10(p)/10")
    top.set_ylim(0, 1.05)
    top.legend(loc="upper left")
    auc = [(r.day, r.live_roc_auc) for r in rows if r.live_roc_auc is not None]
    if auc:
        bottom.plot(*zip(*auc, strict=True), "o-", color="tab:green", label="live ROC-AUC")
    bottom.set_ylabel("live ROC-AUC")
    bottom.set_xlabel("day")
    for row in rows:
        for axis in (top, bottom):
            if row.drifting and row.day == min(r.day for r in rows if r.drifting):
                axis.axvline(row.day - 0.5, color="grey", linestyle=":")
        if row.action != "none":
            bottom.annotate(f"v{row.live_model_version}: {row.action}", (row.day, 0.02),
                            xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                            va="bottom")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _log10(p: float) -> float:
    import math

    return math.log10(max(p, 1e-300))


# The prediction service the simulated traffic goes to ------------------------------------------


class prediction_service:  # noqa: N801 (a context manager used like a function)
    """``run.py --serve`` on a free loopback port, with the given inference log."""

    def __init__(self, log_url: str, log_file: Path, timeout_s: float = 180) -> None:
        self.log_url, self.log_file, self.timeout_s = log_url, log_file, timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        port = _free_port()
        # Simulated days arrive in batches of 100: give the model server more than the
        # interactive default to score one.
        env = {"CHURNOPS_MODEL_TIMEOUT_S": "10", **os.environ,
               "CHURNOPS_INFERENCE_LOG_URL": self.log_url}
        with self.log_file.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, str(paths.PROJECT_ROOT / "run.py"), "--serve", "--host",
                 "127.0.0.1", "--port", str(port)],
                env=env, stdout=output, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the prediction service exited; see {self.log_file}")
            try:
                if httpx.get(f"{base_url}/ready", timeout=5).status_code == 200:
                    return base_url
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.__exit__()
        raise TimeoutError(f"the prediction service was not ready in {self.timeout_s:.0f} s; "
                           f"see {self.log_file}")

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
