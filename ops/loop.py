"""The closed loop in simulation: the continuous-training pipeline, once per simulated day.

``python run.py loop --days N --scenario S`` runs it. Each day:

1. the simulator sends the day's requests to the real prediction service over HTTP, and
   the outcomes that fall due (``label_delay_days`` after their request) to ``/feedback``;
2. the continuous-training pipeline runs once on that day's window, exactly as the
   schedule runs it in production: monitoring, the live candidate judged on outcomes and
   promoted or rolled back, retraining when the controller's rules say so, and an approved
   challenger put live as a shadow or canary (``pipelines/continuous_training.py``).

So the loop that is measured is the loop that ships. The simulation has its own inference
log, so real traffic is never mixed in, and its own controller memory (``controller``), so
it starts afresh; the deployment record and the registry are the stack's own.
"""

from __future__ import annotations

import os
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
from churnops.monitoring import MonitoringDecision
from churnops.settings import LoopSettings, SimulationSettings, merge, run_config
from ops.processes import free_port, server_process
from ops.timeline import TimelineRow
from simulation.scenarios import SCENARIOS
from simulation.traffic import ServiceDriver, Simulation, TrafficSimulator

CONFIG = paths.CONFIG_DIR / "continuous.yaml"
SERVICE_START_BOUND_S = 180.0


@dataclass(frozen=True)
class Turn:
    """What one continuous-training run decided and did."""

    decision: MonitoringDecision
    actions: list[str]


RunTurn = Callable[[dict[str, Any]], Turn]
"""Runs the continuous-training pipeline with the given parameters."""


def load_config(path: Path = CONFIG) -> tuple[dict[str, Any], dict[str, Any]]:
    """(simulation settings, overrides of the controller's rules) from a loop config."""
    config = yaml.safe_load(path.read_text()) or {}
    return config.get("simulation", {}), config.get("loop", {})


def loop_settings(simulation: SimulationSettings, overrides: dict[str, Any]) -> LoopSettings:
    """The controller's rules of ``configs/continuous_training.yaml``, with the loop config's
    overrides, and the simulation's outcome delay (the controller looks back by it)."""
    rules = run_config(paths.CONFIG_DIR / "continuous_training.yaml")["parameters"]["loop"]
    return LoopSettings(**merge(rules, {**overrides,
                                        "label_delay_days": simulation.label_delay_days}))


def run(days: int, simulation: SimulationSettings, loop: LoopSettings,
        run_turn: RunTurn, echo: Callable[[str], None] = print) -> list[TimelineRow]:
    """Run ``days`` simulated days against a service started here; returns the timeline."""
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    workdir = paths.state_dir() / "simulations" / started
    workdir.mkdir(parents=True, exist_ok=True)
    log_url = f"sqlite:///{workdir / 'inference_log.db'}"
    customers = data.clean(data.load_raw(paths.RAW_DATA))[0]
    with prediction_service(log_url, workdir / "service.log") as base_url:
        echo(f"Prediction service on {base_url}; inference log {log_url}")
        driver = ServiceDriver(base_url)
        sim = Simulation(TrafficSimulator(customers, simulation), driver)
        day_starts: list[datetime] = []
        rows = []
        try:
            for day in range(1, days + 1):
                day_starts.append(datetime.now(UTC))
                requests, outcomes = sim.run_day(day)
                end = datetime.now(UTC)
                window = loop_window(day_starts, end, loop.label_window_days)
                turn = run_turn({"window": window, "inference_log_url": log_url,
                                 "loop": loop.model_dump(),
                                 "controller": f"simulation-{started}"})
                rows.append(_row(day, sim.simulator.drifting(day), requests, outcomes, turn))
                echo(rows[-1].line())
        finally:
            driver.close()
    return rows


def loop_window(day_starts: list[datetime], end: datetime, label_window_days: int
                ) -> dict[str, str]:
    """The monitoring window of the latest simulated day: its requests, and the outcomes
    received over the last ``label_window_days`` days."""
    labels_start = day_starts[max(0, len(day_starts) - label_window_days)]
    return {"start": day_starts[-1].isoformat(), "end": end.isoformat(),
            "labels_start": labels_start.isoformat()}


def _row(day: int, drifting: bool, requests: int, outcomes: int, turn: Turn) -> TimelineRow:
    decision, performance = turn.decision, turn.decision.performance
    actions = list(turn.actions)
    if decision.recommended_action == "investigate":
        actions.insert(0, "investigate: production inputs fail the suite")
    live = read_live()
    return TimelineRow(
        day=day, drifting=drifting, requests=requests, outcomes=outcomes,
        features_moved=len(decision.moved_features),
        prediction_drift_p=decision.drift.prediction.p_value if decision.drift.prediction
        else 1.0,
        severity=decision.severity,
        drift_detected=decision.drift_detected,
        performance_degraded=decision.performance_degraded,
        live_roc_auc=performance.roc_auc if performance else None,
        labelled_rows=performance.labelled_rows if performance else 0,
        estimated_roc_auc=decision.estimated.roc_auc if decision.estimated else None,
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
             strength: float | None = None, echo: Callable[[str], None] = print
             ) -> list[TimelineRow]:
    """The closed loop over simulated days on the active stack; prints and saves a timeline."""
    from ops import deployment, model, pipelines
    from ops.timeline import write_timeline

    model.require_champion()
    if read_live() is None:
        pipelines.run(client, "deployment")
    simulation, loop_overrides = load_config(config_path or CONFIG)
    config = SimulationSettings(**{**simulation, "scenario": scenario, "seed": seed,
                                   **({"strength": strength} if strength is not None else {})})

    def run_turn(parameters: dict[str, Any]) -> Turn:
        result = pipelines.run(client, "continuous_training", parameters=parameters)
        return Turn(decision=pipelines.output(result, "decide_on_action", "monitoring_decision"),
                    actions=pipelines.output(result, "finish_run", "actions"))

    shown = (f"{config.strength:g}" if config.strength is not None
             else f"{SCENARIOS[scenario].default:g}, the default")
    echo(f"Closed loop: {days} days, scenario {scenario} (strength {shown}), seed {seed}, "
         f"{config.requests_per_day} requests a day, drift from day {config.onset_day}, "
         f"outcomes after {config.label_delay_days} days; each day one continuous-training "
         "run. (* = drifting)")
    rows = run(days, config, loop_settings(config, loop_overrides), run_turn, echo=echo)
    csv_path = timeline_out or paths.reports_dir() / f"continuous-{scenario}-seed{seed}.csv"
    png = write_timeline(rows, csv_path, f"{scenario}, seed {seed}")
    echo(f"\nTimeline: {csv_path}\nPlot:     {png}")
    echo("Live deployment:\n" + "\n".join("  " + line
                                          for line in deployment.status().splitlines()))
    return rows
