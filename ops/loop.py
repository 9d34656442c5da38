"""The closed loop: simulated production days, monitoring, retraining, canary, promotion.

``python run.py loop --days N --scenario S`` runs it. Each day:

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

import logging
import os
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from churnops import data, paths
from churnops.deployment_record import read_live
from churnops.inference_log import InferenceLogReader
from churnops.monitoring import MonitoringDecision
from churnops.promotion import GateResult
from churnops.settings import CanaryBounds, LoopSettings, SimulationSettings
from ops.processes import free_port, server_process
from ops.timeline import TimelineRow
from simulation.traffic import ServiceDriver, Simulation, TrafficSimulator

logger = logging.getLogger(__name__)

CONFIG = paths.CONFIG_DIR / "continuous.yaml"
SERVICE_START_BOUND_S = 180.0


@dataclass
class Stages:
    """The pipelines the loop runs, as callables that return their typed results."""

    monitor: Callable[[dict[str, Any]], MonitoringDecision]
    retrain: Callable[[dict[str, Any]], GateResult]
    deploy_canary: Callable[[str, float, CanaryBounds], None]
    promote_canary: Callable[[], Any]


def load_config(path: Path = CONFIG) -> tuple[dict[str, Any], LoopSettings]:
    """(simulation settings as keyword arguments, loop settings) from ``continuous.yaml``."""
    config = yaml.safe_load(path.read_text()) or {}
    return config.get("simulation", {}), LoopSettings(**config.get("loop", {}))


def run(days: int, simulation: SimulationSettings, settings: LoopSettings, stages: Stages,
        echo: Callable[[str], None] = print) -> list[TimelineRow]:
    """Run ``days`` simulated days against a service started here; returns the timeline."""
    workdir = paths.state_dir() / "simulations" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    log_url = f"sqlite:///{workdir / 'inference_log.db'}"
    customers = data.clean(data.load_raw(paths.RAW_DATA))[0]
    with prediction_service(log_url, workdir / "service.log") as base_url:
        echo(f"Prediction service on {base_url}; inference log {log_url}")
        driver = ServiceDriver(base_url)
        loop = ClosedLoop(Simulation(TrafficSimulator(customers, simulation), driver),
                          settings, stages, log_url)
        rows = []
        try:
            for day in range(1, days + 1):
                rows.append(loop.day(day))
                echo(rows[-1].line())
        finally:
            driver.close()
    return rows


class ClosedLoop:
    """One simulated day at a time: traffic, monitoring, the canary's fate, retraining."""

    def __init__(self, simulation: Simulation, settings: LoopSettings, stages: Stages,
                 log_url: str) -> None:
        self.sim, self.settings, self.stages, self.log_url = simulation, settings, stages, log_url
        self.day_starts: list[datetime] = []
        self.canary: str | None = None
        self.last_retrain, self.last_approved = -10**9, False
        self.recovery = Recovery(settings)

    def day(self, day: int) -> TimelineRow:
        self.day_starts.append(datetime.now(UTC))
        requests, outcomes = self.sim.run_day(day)
        end = datetime.now(UTC)
        decision = self._monitor(day, end)
        actions, promoted = self._settle_canary()
        self.recovery.update(day, decision, self.sim.simulator.config.label_delay_days)
        if decision.recommended_action == "investigate":
            actions.append("investigate: production inputs fail the suite")
        actions += self._maintain(day, decision, end, promoted)
        return _row(day, self.sim.simulator.drifting(day), requests, outcomes, decision,
                    actions)

    def _monitor(self, day: int, end: datetime) -> MonitoringDecision:
        """The monitoring pipeline on the day's traffic and the last days' outcomes."""
        labels_start = self.day_starts[max(0, day - self.settings.label_window_days)]
        return self.stages.monitor({
            "window": {"start": self.day_starts[-1].isoformat(), "end": end.isoformat(),
                       "labels_start": labels_start.isoformat()},
            "inference_log_url": self.log_url})

    def _settle_canary(self) -> tuple[list[str], bool]:
        """Promote yesterday's canary if the service kept it; report it if it rolled it back."""
        canary, self.canary = self.canary, None
        if canary is None:
            return [], False
        live = read_live()
        if live is not None and live.strategy == "canary" and live.candidate \
                and live.candidate.version == canary:
            self.stages.promote_canary()
            return [f"canary v{canary} promoted"], True
        self.last_approved = False  # rolled back: no model of its own to wait for
        reason = live.rollback.reason if live and live.rollback else "replaced"
        return [f"canary v{canary} rolled back ({reason})"], False

    def _maintain(self, day: int, decision: MonitoringDecision, end: datetime,
                  promoted: bool) -> list[str]:
        """Retrain when the decision or a recovery asks for it and the rules allow it."""
        recovery, settings = self.recovery, self.settings
        if not (decision.recommended_action == "retrain" or recovery.active):
            return []
        since = self.day_starts[recovery.since_day - 1] if recovery.active else None
        new_outcomes = _outcomes_since(self.log_url, since, end) if since else 0
        if recovery.active and new_outcomes < settings.min_new_outcomes:
            return [f"recovering: {new_outcomes}/{settings.min_new_outcomes} outcomes since "
                    "the change"]
        # A rejected challenger during a recovery is tried again the next day, with one
        # more day of outcomes from after the change; otherwise wait.
        wait = settings.cooldown_days if self.last_approved or not recovery.active else 0
        if promoted or day - self.last_retrain <= wait:
            return ["recovering" if recovery.active and not promoted
                    else "retrain due (cooling down)"]
        return [self._retrain(day, end, since)]

    def _retrain(self, day: int, end: datetime, since: datetime | None) -> str:
        gate = self.stages.retrain({"inference_log_url": self.log_url, "until": end.isoformat(),
                                    "since": since.isoformat() if since else None})
        self.last_retrain, self.last_approved = day, gate.approved
        self.recovery.retrained |= gate.approved and self.recovery.active
        if not gate.approved:
            return f"retrained v{gate.model_version}: rejected by the gate"
        self.stages.deploy_canary(gate.model_version, self.settings.canary_share,
                                  self.settings.bounds)
        self.canary = gate.model_version
        return f"retrained v{gate.model_version}: canary at {self.settings.canary_share:.0%}"


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

    def update(self, day: int, decision: MonitoringDecision, label_delay_days: int) -> None:
        """Take a day's decision."""
        performance = decision.performance
        auc = performance.roc_auc if performance else None
        measured = auc is not None and performance.labelled_rows >= self.settings.min_labels
        if decision.performance_degraded and not self.active:
            self.since_day, self.retrained = max(1, day - label_delay_days), False
        elif measured and not self.active:
            self.healthy.append(auc)
        elif measured and self.retrained and \
                auc >= self.level - self.settings.recovery_tolerance:
            self.since_day = None


def _outcomes_since(log_url: str, since: datetime, end: datetime) -> int:
    """Outcomes received so far for requests made since ``since``."""
    with InferenceLogReader(log_url) as log:
        return len(log.outcomes_between(since, end, predicted_since=since))


def _row(day: int, drifting: bool, requests: int, outcomes: int, decision: MonitoringDecision,
         actions: list[str]) -> TimelineRow:
    performance = decision.performance
    live = read_live()
    return TimelineRow(
        day=day, drifting=drifting, requests=requests, outcomes=outcomes,
        drift_share=decision.drift.drift_share,
        prediction_drift_p=decision.drift.prediction_drift_score,
        drift_detected=decision.drift_detected,
        performance_degraded=decision.performance_degraded,
        live_roc_auc=performance.roc_auc if performance else None,
        labelled_rows=performance.labelled_rows if performance else 0,
        action="; ".join(actions) or "none",
        live_model_version=live.primary.version if live else "-",
    )


@contextmanager
def prediction_service(log_url: str, log_file: Path,
                       bound_s: float = SERVICE_START_BOUND_S) -> Iterator[str]:
    """The prediction service on a free loopback port, with the given inference log."""
    port = free_port()
    # Simulated days arrive in batches of 100: give the model server more than the
    # interactive default to score one.
    env = {"CHURNOPS_MODEL_TIMEOUT_S": "10", **os.environ,
           "CHURNOPS_INFERENCE_LOG_URL": log_url}
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "serving.server", "--host", "127.0.0.1",
               "--port", str(port)]
    with server_process(command, f"{base_url}/ready", log_file, bound_s, env=env,
                        cwd=paths.PROJECT_ROOT):
        yield base_url


def simulate(client: Any, days: int, scenario: str, seed: int,
             timeline_out: Path | None = None, config_path: Path | None = None,
             echo: Callable[[str], None] = print) -> list[TimelineRow]:
    """The closed loop over simulated days on the active stack; prints and saves a timeline.

    Every stage is a pipeline run: monitoring each day, retraining when due, deployment of
    an approved version as a canary, and the canary's promotion.
    """
    from ops import deployment, model, pipelines
    from ops.timeline import write_timeline

    model.require_champion()
    if read_live() is None:
        pipelines.run(client, "deployment")
    simulation, settings = load_config(config_path or CONFIG)
    config = SimulationSettings(**{**simulation, "scenario": scenario, "seed": seed})

    def deploy_canary(version: str, share: float, bounds: CanaryBounds) -> None:
        pipelines.run(client, "deployment", parameters={
            "strategy": "canary", "canary_share": share, "model_version": version,
            "bounds": bounds.model_dump()})

    stages = Stages(
        monitor=lambda params: pipelines.output(pipelines.run(
            client, "monitoring", parameters=params), "decide_on_action", "monitoring_decision"),
        retrain=lambda params: pipelines.output(pipelines.run(
            client, "retraining", parameters=params), "promotion_gate", "promotion_decision"),
        deploy_canary=deploy_canary,
        promote_canary=deployment.promote_candidate,
    )
    echo(f"Closed loop: {days} days, scenario {scenario}, seed {seed}, "
         f"{config.requests_per_day} requests a day, drift from day {config.onset_day}, "
         f"outcomes after {config.label_delay_days} days. (* = drifting)")
    rows = run(days, config, settings, stages, echo=echo)
    csv_path = timeline_out or paths.reports_dir() / f"continuous-{scenario}-seed{seed}.csv"
    png = write_timeline(rows, csv_path, f"{scenario}, seed {seed}")
    echo(f"\nTimeline: {csv_path}\nPlot:     {png}")
    echo("Live deployment:\n" + "\n".join("  " + line
                                          for line in deployment.status().splitlines()))
    return rows
