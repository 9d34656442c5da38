"""Drift monitoring: false alarms, detection power, concept drift, and monitoring at scale.

    python benchmarks/drift/run.py [--seeds 20] [--days 30] [--rows 50000]
        [--strengths 0,0.1,...,1.5] [--model-version N] [--sections alarms,power,...]
        [--no-baseline] [--out DIR] [--stattest-threshold P] [--drift-share S] ...

Needs a champion (`python run.py pipeline training` first). It reads, and never changes:
  * churn-model@champion (or `--model-version`) from the MLflow registry in the state
    folder, and the ZenML run that trained it: the `holdout_set` (the daily reference, as
    steps/monitoring/reference.py builds it) and the `training_frame` (the full reference
    of the scale measurement);
  * configs/monitoring.yaml (MonitoringSettings) and configs/continuous.yaml (traffic per
    day, drift onset, label delay, label window).

Simulated days (simulation/traffic.py) are scored with the champion in-process and go through
the monitoring pipeline's own functions: an Evidently drift report, `drift_figures`,
`live_performance` on the outcomes received in the label window, and `decide`. Outcomes of
day d arrive on day d + label delay, as in `run.py loop`. Four measurements:

  1. false alarms: scenario `none`, every day of every seed, and per day;
  2. power vs strength: scenario `data_drift`, drift flagged on the onset day or the next;
  3. concept drift: input drift on post-onset days, and the delay until live performance
     is flagged as degraded;
  4. scale: `--rows` requests written to a fresh SQLite inference log with LogDriver, read
     back and monitored stage by stage against the whole training frame.

The baseline, in the same run, is Evidently's default `DataDriftPreset()` (its default
tests, which switch from p-values to distances above 1,000 reference rows, and drift share
0.5) on the same reference and current frames. It prints the tables and a summary against
the targets, and writes power_curve.png and results.csv under --out. Between sections 2
and 3, a sweep recomputes false alarms and power under other stattest thresholds and drift
shares from the same p-values; `--stattest-threshold` and friends run a setting for real.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# Third-party deprecation chatter would bury the tables.
warnings.filterwarnings("ignore")

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, data, paths, schema  # noqa: E402
from churnops.inference_log import LABEL, PREDICTION, log_frame  # noqa: E402
from churnops.monitoring import (  # noqa: E402
    DeployedModel,
    DriftFigures,
    MonitoringDecision,
    PerformanceFigures,
    decide,
    drift_figures,
    live_performance,
)
from churnops.settings import MonitoringSettings, SimulationSettings  # noqa: E402
from ops.loop import load_config  # noqa: E402
from simulation.traffic import LogDriver, Simulation, TrafficSimulator  # noqa: E402
from steps.monitoring.drift import column_mapping, drift_metrics  # noqa: E402

COLUMNS = [*schema.FEATURE_NAMES, PREDICTION]
"""The columns the drift step hands to Evidently."""
DEFAULT_STRENGTHS = "0,0.1,0.15,0.2,0.25,0.5,0.75,1,1.5"
FALSE_ALARM_TARGET = 0.05
POWER_TARGET = 0.95


def _default(name: str) -> Any:
    """A simulation setting's default value."""
    return SimulationSettings.model_fields[name].default


# The deployed model and its references ---------------------------------------------------------


@dataclass
class Champion:
    version: str
    deployed: DeployedModel
    """Threshold and training-time figures, as the monitoring pipeline's `deployed_model`."""
    model: Any
    """The MLflow pyfunc model, as the model server runs it."""
    holdout: pd.DataFrame
    """The daily reference: the training run's holdout, with the model's predictions."""
    training: pd.DataFrame
    """The whole training frame, with the model's predictions."""

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        from steps.monitoring.reference import with_predictions

        return with_predictions(frame, self.model)[PREDICTION].to_numpy()


def load_champion(version: str | None = None) -> Champion:
    """A registered version (by default the champion) and its training artifacts, read
    through the ZenML model version that mirrors it."""
    from uuid import UUID

    import mlflow
    from mlflow import MlflowClient
    from zenml.client import Client

    from churnops.registry import ZENML_VERSION_TAG
    from steps.monitoring.reference import with_predictions

    tracking_uri = paths.mlflow_tracking_uri()
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    # Pin the version once: everything below refers to it, whatever the alias does meanwhile.
    version = version or client.get_model_version_by_alias(REGISTERED_MODEL_NAME,
                                                           CHAMPION_ALIAS).version
    tags = client.get_model_version(REGISTERED_MODEL_NAME, version).tags
    mirror = Client().get_model_version(REGISTERED_MODEL_NAME, UUID(tags[ZENML_VERSION_TAG]))
    evaluation = mirror.get_artifact("holdout_evaluation").load()
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED_MODEL_NAME}/{version}")
    deployed = DeployedModel(
        version=str(version), threshold=evaluation.threshold, zenml_model_version=mirror.name,
        baseline={"roc_auc": evaluation.roc_auc, "recall": evaluation.recall,
                  "business_value_per_customer": evaluation.business_value_per_customer})
    return Champion(
        version=str(version), deployed=deployed, model=model,
        holdout=with_predictions(mirror.get_artifact("holdout_set").load(), model),
        training=with_predictions(mirror.get_artifact("training_frame").load(), model),
    )


def load_settings(overrides: dict[str, Any]) -> MonitoringSettings:
    """configs/monitoring.yaml's `parameters.settings`, with the command line's overrides."""
    config = yaml.safe_load((paths.CONFIG_DIR / "monitoring.yaml").read_text())
    settings = config["parameters"]["settings"]
    return MonitoringSettings(**{**settings, **{k: v for k, v in overrides.items()
                                                if v is not None}})


# Drift reports ---------------------------------------------------------------------------------


def evidently_report(reference: pd.DataFrame, current: pd.DataFrame, metrics: list[Any]) -> Any:
    """An Evidently (legacy) report, run as the stack's data validator runs it.

    This is EvidentlyDataValidator.data_profiling (ZenML's Evidently integration, which the
    gx_evidently validator inherits unchanged): `Report(metrics=...)`, then `.run()` with
    the reference as `reference_data` and the window as `current_data`.
    """
    from evidently.legacy.report import Report

    report = Report(metrics=metrics)
    report.run(reference_data=reference[COLUMNS], current_data=current[COLUMNS],
               column_mapping=column_mapping())
    return report


def project_drift(reference: pd.DataFrame, current: pd.DataFrame,
                  settings: MonitoringSettings) -> DriftFigures:
    """What steps/monitoring/drift.py computes for a window."""
    if len(current) < settings.min_rows:
        return DriftFigures(rows=len(current), drift_share=0.0, drifted_features=[],
                            dataset_drift=False, prediction_drift_score=1.0,
                            prediction_drift=False)
    metrics = [m.to_evidently_metric() for m in drift_metrics(settings)]
    return drift_figures(evidently_report(reference, current, metrics).as_dict(), len(current))


def preset_drift(reference: pd.DataFrame, current: pd.DataFrame) -> bool:
    """Evidently's default verdict: `DataDriftPreset()` as it comes, on the same columns."""
    from evidently.legacy.metric_preset import DataDriftPreset

    report = evidently_report(reference, current, [DataDriftPreset()])
    return bool(report.as_dict()["metrics"][0]["result"]["dataset_drift"])


# Simulated days, monitored in-process ----------------------------------------------------------


@dataclass
class Day:
    seed: int
    day: int
    drifting: bool
    decision: MonitoringDecision
    drift: DriftFigures
    performance: PerformanceFigures | None
    preset: bool | None
    """Evidently's default verdict on the day, when asked for."""


class Bench:
    """The champion, the settings and the simulation parameters, shared by every run."""

    def __init__(self, champion: Champion, settings: MonitoringSettings,
                 customers: pd.DataFrame, simulation: dict[str, Any],
                 label_window_days: int, baseline: bool = True) -> None:
        self.champion = champion
        self.baseline = baseline
        self.settings = settings
        self.customers = customers
        self.simulation = simulation
        self.label_window_days = label_window_days
        self.business = settings.business
        # Drift figures by window content. The concept_drift scenario draws the same
        # requests as `none` with the same seed (it changes outcomes only), so its days
        # reuse the `none` runs' reports instead of computing them again.
        self._drift: dict[str, DriftFigures] = {}

    def drift(self, current: pd.DataFrame) -> DriftFigures:
        key = hashlib.sha256(pd.util.hash_pandas_object(current).to_numpy().tobytes())
        if key.hexdigest() not in self._drift:
            self._drift[key.hexdigest()] = project_drift(self.champion.holdout, current,
                                                         self.settings)
        return self._drift[key.hexdigest()]

    def config(self, scenario: str, seed: int, **changes: Any) -> SimulationSettings:
        return SimulationSettings(**{**self.simulation, "scenario": scenario, "seed": seed,
                                   **changes})

    def run(self, config: SimulationSettings, days: Sequence[int], performance: bool = True,
            preset: bool = False) -> list[Day]:
        """Monitor each of ``days``: drift of the day's requests against the holdout, and
        live performance on the outcomes received in the last ``label_window_days``."""
        simulator = TrafficSimulator(self.customers, config)
        first = 1 if performance else min(days)
        traffic = [simulator.day(day).requests for day in range(first, max(days) + 1)]
        # One model call for the whole run: scoring is row by row, batching changes nothing.
        scored = pd.concat(traffic, ignore_index=True)
        probabilities = np.split(self.champion.score(scored[list(schema.FEATURE_NAMES)]),
                                 np.cumsum([len(t) for t in traffic])[:-1])
        received: dict[int, list[pd.DataFrame]] = defaultdict(list)
        results = []
        for day, requests, p in zip(range(first, max(days) + 1), traffic, probabilities,
                                    strict=True):
            current = requests[list(schema.FEATURE_NAMES)].assign(**{PREDICTION: p})
            # Outcomes of today's requests reach /feedback `label_delay_days` later.
            received[day + config.label_delay_days].append(
                current.assign(**{LABEL: requests["churned"].astype(int)}))
            if day not in days:
                continue
            figures = None
            if performance:
                window = [frame for d in range(day - self.label_window_days + 1, day + 1)
                          for frame in received.get(d, [])]
                labelled = (pd.concat(window, ignore_index=True) if window
                            else pd.DataFrame(columns=[*COLUMNS, LABEL]))
                figures = live_performance(labelled, self.champion.deployed.threshold,
                                           self.champion.deployed.baseline, self.business)
            drift = self.drift(current)
            # The GX suite is not run here: a failing suite recommends an investigation,
            # it sets neither flag counted below.
            decision = decide(drift, figures, [], self.settings)
            verdict = (preset_drift(self.champion.holdout, current)
                       if preset and self.baseline else None)
            results.append(Day(config.seed, day, simulator.drifting(day), decision, drift,
                               figures, verdict))
        return results


# 1. False alarms -------------------------------------------------------------------------------


@dataclass
class FalseAlarms:
    runs: list[list[Day]]

    @property
    def run_rate(self) -> float:
        return mean(any(d.decision.positive for d in run) for run in self.runs)

    @property
    def preset_run_rate(self) -> float:
        return mean(any(bool(d.preset) for d in run) for run in self.runs)

    def day_rate(self) -> float:
        return mean(d.decision.positive for run in self.runs for d in run)


def false_alarms(bench: Bench, seeds: Sequence[int], days: int) -> FalseAlarms:
    return FalseAlarms([bench.run(bench.config("none", seed), range(1, days + 1), preset=True)
                        for seed in seeds])


def print_false_alarms(result: FalseAlarms, rows: list[list[Any]]) -> None:
    n = len(result.runs)
    alarmed = sum(any(d.decision.positive for d in run) for run in result.runs)
    low, high = wilson(alarmed, n)
    print(f"runs with at least one false alarm: {alarmed}/{n} = {alarmed / n:.1%} "
          f"(95 % CI {low:.1%}-{high:.1%}; target <= {FALSE_ALARM_TARGET:.0%})")
    baseline = result.runs[0][0].preset is not None
    preset_alarmed = sum(any(bool(d.preset) for d in run) for run in result.runs)
    if baseline:
        print(f"Evidently default DataDriftPreset, same days: {preset_alarmed}/{n} = "
              f"{preset_alarmed / n:.1%} of runs")
    print(f"false alarms per monitored day: {result.day_rate():.2%} (project)"
          + (f", {mean(bool(d.preset) for run in result.runs for d in run):.2%} (preset)"
             if baseline else ""))
    for day in (d for run in result.runs for d in run if d.decision.positive):
        print(f"  seed {day.seed:>3} day {day.day:>2}: {len(day.drift.drifted_features)} "
              f"features, {'; '.join(r for r in day.decision.reasons if 'labelled' not in r)}")
    print()
    print(f"{'day':>4} {'alarm':>7} {'data':>7} {'pred':>7} {'perf':>7} {'labels':>7} "
          f"{'live AUC':>9} {'preset':>7}")
    for index, day in enumerate(d.day for d in result.runs[0]):
        today = [run[index] for run in result.runs]
        auc = [d.performance.roc_auc for d in today
               if d.performance and d.performance.roc_auc is not None]
        figures = {
            "alarm": mean(d.decision.positive for d in today),
            "dataset_drift": mean(d.drift.dataset_drift for d in today),
            "prediction_drift": mean(d.drift.prediction_drift for d in today),
            "performance_degraded": mean(d.decision.performance_degraded for d in today),
            "preset_alarm": mean(bool(d.preset) for d in today),
        }
        labels = median(d.performance.labelled_rows if d.performance else 0 for d in today)
        print(f"{day:>4} {figures['alarm']:>7.0%} {figures['dataset_drift']:>7.0%} "
              f"{figures['prediction_drift']:>7.0%} {figures['performance_degraded']:>7.0%} "
              f"{labels:>7.0f} {median(auc) if auc else float('nan'):>9.3f} "
              f"{format(figures['preset_alarm'], '.0%') if baseline else '-':>7}")
        rows += [["false_alarms", f"day_{name}_rate", day, value]
                 for name, value in figures.items()]
    print("\n(alarm = drift_detected or performance_degraded; data = dataset drift, pred = "
          "prediction drift, perf = performance degraded; labels and live AUC: medians over "
          "seeds; preset = Evidently's default DataDriftPreset)")
    rows += [["false_alarms", "run_rate", "", alarmed / n], ["false_alarms", "runs", "", n],
             ["false_alarms", "run_rate_ci_high", "", high],
             ["false_alarms", "day_rate", "", result.day_rate()],
             ["false_alarms", "preset_run_rate", "", preset_alarmed / n if baseline else ""]]


# 2. Detection power ----------------------------------------------------------------------------


@dataclass
class Power:
    strength: float
    runs: list[list[Day]]
    detected: list[bool]
    on_onset_day: list[bool]
    by_dataset_drift: list[bool]
    by_prediction_drift: list[bool]
    preset: list[bool] | None
    """Evidently's default verdict, unless the baseline is skipped."""
    drift_share: list[float]


def detection_power(bench: Bench, seeds: Sequence[int], strengths: Sequence[float]
                    ) -> list[Power]:
    """Drift flagged on the onset day or the day after, per data-drift strength."""
    onset = bench.simulation.get("onset_day", _default("onset_day"))
    results = []
    for strength in strengths:
        runs = [bench.run(bench.config("data_drift", seed, data_drift_strength=strength),
                          [onset, onset + 1], performance=False, preset=True)
                for seed in seeds]
        results.append(Power(
            strength=strength, runs=runs,
            detected=[any(d.decision.drift_detected for d in run) for run in runs],
            on_onset_day=[run[0].decision.drift_detected for run in runs],
            by_dataset_drift=[any(d.drift.dataset_drift for d in run) for run in runs],
            by_prediction_drift=[any(d.drift.prediction_drift for d in run) for run in runs],
            preset=([any(bool(d.preset) for d in run) for run in runs] if bench.baseline
                    else None),
            drift_share=[d.drift.drift_share for run in runs for d in run],
        ))
    return results


def print_power(results: list[Power], default_strength: float, rows: list[list[Any]]) -> None:
    print(f"{'strength':>8} {'power':>7} {'95% CI':>13} {'day 0':>7} {'data':>7} {'pred':>7} "
          f"{'share':>7} {'preset':>7}")
    for r in results:
        k, n = sum(r.detected), len(r.detected)
        low, high = wilson(k, n)
        mark = "  <- default" if math.isclose(r.strength, default_strength) else ""
        print(f"{r.strength:>8.2f} {k / n:>7.0%} {f'{low:.0%}-{high:.0%}':>13} "
              f"{mean(r.on_onset_day):>7.0%} {mean(r.by_dataset_drift):>7.0%} "
              f"{mean(r.by_prediction_drift):>7.0%} {median(r.drift_share):>7.0%} "
              f"{_share(r.preset):>7}{mark}")
        rows += [["power", "power", r.strength, k / n], ["power", "power_ci_low", r.strength, low],
                 ["power", "onset_day_power", r.strength, mean(r.on_onset_day)],
                 ["power", "dataset_drift_power", r.strength, mean(r.by_dataset_drift)],
                 ["power", "prediction_drift_power", r.strength, mean(r.by_prediction_drift)],
                 ["power", "median_drift_share", r.strength, median(r.drift_share)],
                 ["power", "preset_power", r.strength, mean(r.preset) if r.preset else ""]]
    print("\n(power = drift flagged on the onset day or the next; day 0 = on the onset day; "
          "data / pred = through dataset drift / prediction drift; share = median share of "
          "drifted features; preset = Evidently's default DataDriftPreset)")


def plot_power(results: list[Power], default_strength: float, seeds: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strengths = [r.strength for r in results]
    fig, axis = plt.subplots(figsize=(7, 4.5))
    power = [mean(r.detected) for r in results]
    intervals = np.array([wilson(sum(r.detected), len(r.detected)) for r in results])
    axis.fill_between(strengths, intervals[:, 0], intervals[:, 1], alpha=0.15,
                      label="churnops, 95 % interval")
    axis.plot(strengths, power, "o-", label="churnops (KS / chi-square p-values)")
    if all(r.preset is not None for r in results):
        axis.plot(strengths, [mean(r.preset) for r in results], "s--",
                  label="Evidently DataDriftPreset() defaults")
    axis.axhline(POWER_TARGET, color="grey", linestyle=":", label=f"target {POWER_TARGET:.0%}")
    axis.axvline(default_strength, color="grey", linestyle="--", linewidth=0.8)
    axis.annotate("default", (default_strength, 0.02), rotation=90, fontsize=8, va="bottom")
    axis.set_xlabel("data-drift strength (customer mix, bills +10 % per unit)")
    axis.set_ylabel("drift flagged within 2 days of onset")
    axis.set_ylim(-0.02, 1.02)
    axis.set_title(f"Detection power, {seeds} seeds per strength")
    axis.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Settings sweep --------------------------------------------------------------------------------

SWEEP_THRESHOLDS = (0.01, 0.005, 0.002, 0.001)
SWEEP_SHARES = (0.25, 0.35, 0.4, 0.5)


def drift_at(day: Day, threshold: float, share: float) -> bool:
    """The day's drift verdict under another stattest threshold and drift share.

    Evidently's rule applied to the p-values already computed: a feature drifts when its
    p-value is below the threshold (KS: at or below), the dataset when the share of drifted
    features reaches ``drift_share``. The prediction test is unchanged.
    """
    scores = day.drift.feature_scores
    if not scores:
        return False
    numeric = set(schema.NUMERIC_FEATURES)
    drifted = sum(p <= threshold if name in numeric else p < threshold
                  for name, p in scores.items())
    return drifted / len(scores) >= share or day.drift.prediction_drift


def print_sweep(alarms: FalseAlarms, power: list[Power], settings: MonitoringSettings,
                rows: list[list[Any]]) -> None:
    """False alarms and power of other (stattest_threshold, drift_share) pairs, recomputed
    from this run's reports; the configured pair reproduces sections 1 and 2."""
    print(f"{'p <':>7} {'share':>6} {'runs':>6} {'per day':>8}  power at strength "
          + " ".join(f"{p.strength:>5g}" for p in power))
    pairs = sorted({*((t, s) for t in SWEEP_THRESHOLDS for s in SWEEP_SHARES),
                    (settings.stattest_threshold, settings.drift_share)}, reverse=True)
    for threshold, share in pairs:
        def alarm(d: Day, t: float = threshold, s: float = share) -> bool:
            return drift_at(d, t, s) or d.decision.performance_degraded

        run_rate = mean(any(alarm(d) for d in run) for run in alarms.runs)
        day_rate = mean(alarm(d) for run in alarms.runs for d in run)
        powers = [mean(any(drift_at(d, threshold, share) for d in run) for run in p.runs)
                  for p in power]
        mark = "  <- config" if (threshold, share) == (settings.stattest_threshold,
                                                      settings.drift_share) else ""
        print(f"{threshold:>7g} {share:>6.2f} {run_rate:>6.0%} {day_rate:>8.2%} "
              f"{'':>17} " + " ".join(f"{x:>5.0%}" for x in powers) + mark)
        at = f"p<{threshold:g},share>={share:g}"
        rows += [["sweep", "false_alarm_run_rate", at, run_rate],
                 ["sweep", "false_alarm_day_rate", at, day_rate]]
        rows += [["sweep", f"power@{p.strength:g}", at, x]
                 for p, x in zip(power, powers, strict=True)]
    print("\n(runs = share of `none` runs with a false alarm, per day = share of monitored "
          "days; power = drift flagged within 2 days of onset)")


# 3. Concept drift ------------------------------------------------------------------------------


def concept_drift(bench: Bench, seeds: Sequence[int], days: int, rows: list[list[Any]]
                  ) -> dict[str, Any]:
    onset = bench.simulation.get("onset_day", _default("onset_day"))
    delay = bench.simulation.get("label_delay_days", _default("label_delay_days"))
    runs = [bench.run(bench.config("concept_drift", seed), range(1, days + 1))
            for seed in seeds]
    post = [d for run in runs for d in run if d.drifting]
    input_rate = mean(d.decision.drift_detected for d in post)
    delays = [next((d.day - onset for d in run if d.drifting and d.decision.performance_degraded),
                   None) for run in runs]
    found = [x for x in delays if x is not None]
    early = mean(any(d.decision.positive for d in run if not d.drifting) for run in runs)
    print(f"input drift flagged on {sum(d.decision.drift_detected for d in post)}/{len(post)} "
          f"post-onset days = {input_rate:.1%} (dataset drift "
          f"{mean(d.drift.dataset_drift for d in post):.1%}, prediction drift "
          f"{mean(d.drift.prediction_drift for d in post):.1%})")
    print("(the scenario leaves the inputs as they are: these are the requests of the `none` "
          "runs with the same seeds, on the days after the onset)")
    print(f"runs with an alarm before the onset: {early:.0%}")
    print(f"performance degradation flagged in {len(found)}/{len(runs)} runs; delay after "
          f"onset (days): median {median(found) if found else float('nan'):.1f}, "
          f"min {min(found, default=float('nan'))}, max {max(found, default=float('nan'))}; "
          f"distribution {dict(sorted(Counter(found).items()))}")
    print(f"\n{'day':>4} {'labels':>7} {'drifted labels':>15} {'live AUC':>9} {'flagged':>8}")
    by_day = {day: [run[day - 1] for run in runs] for day in range(1, min(days, onset + 8) + 1)}
    for day, today in by_day.items():
        auc = [d.performance.roc_auc for d in today if d.performance.roc_auc is not None]
        labels = median(d.performance.labelled_rows for d in today)
        # Outcomes received on days (day - window, day] are those of requests made
        # label_delay_days earlier; the ones from onset on follow the new relation.
        sent = [s for s in range(day - bench.label_window_days + 1 - delay, day + 1 - delay)
                if s >= 1]
        drifted = sum(s >= onset for s in sent) / len(sent) if sent else 0.0
        flagged = mean(d.decision.performance_degraded for d in today)
        print(f"{day:>4}{'*' if day >= onset else ' '}{labels:>7.0f} {drifted:>15.0%} "
              f"{median(auc) if auc else float('nan'):>9.3f} {flagged:>8.0%}")
        rows += [["concept", "median_live_roc_auc", day, median(auc) if auc else ""],
                 ["concept", "degraded_rate", day, flagged]]
    requests = bench.simulation.get("requests_per_day", _default("requests_per_day"))
    verdict_day = next((day for day, today in by_day.items()
                        if median(d.performance.labelled_rows for d in today)
                        >= bench.settings.min_labels), None)
    baseline = bench.champion.deployed.baseline["roc_auc"]
    print(f"\n(* = after onset; training-time ROC-AUC {baseline:.3f}, degraded when more "
          f"than {bench.settings.max_roc_auc_drop} below)")
    print(f"min_labels = {bench.settings.min_labels}: the first performance verdict comes on day "
          f"{verdict_day}; the {bench.label_window_days}-day window then holds "
          f"{requests * bench.label_window_days} outcomes at {requests} requests/day, so "
          f"min_labels holds back no post-onset verdict. It would below "
          f"{math.ceil(bench.settings.min_labels / bench.label_window_days)} requests/day; "
          f"the delay's floor is the label delay ({delay} days).")
    summary = {"input_rate": input_rate, "delays": found, "runs": len(runs),
               "median_delay": median(found) if found else None,
               "max_delay": max(found) if found else None}
    rows += [["concept", "post_onset_input_drift_rate", "", input_rate],
             ["concept", "degradation_detected_runs", "", len(found)],
             ["concept", "median_delay_days", "", summary["median_delay"]],
             ["concept", "max_delay_days", "", summary["max_delay"]]]
    rows += [["concept", "delay_days", seed, x] for seed, x in zip(seeds, delays, strict=True)]
    return summary


# 4. Monitoring at scale ------------------------------------------------------------------------


READ_WINDOW = "read window (answered_between + log_frame)"
DRIFT_REPORT = "drift report (Evidently, project metrics)"
DRIFT_FIGURES = "drift_figures (report.as_dict)"
PRESET = "baseline: DataDriftPreset() report + as_dict"


def _monitor_once(bench: Bench, log: Any, start: datetime, end: datetime,
                  stages: dict[str, list[float]]) -> tuple[Any, ...]:
    """The monitoring pipeline's computation on the log's window, each stage timed into
    ``stages``; then the baseline preset on the same frames."""
    from churnops.validation import build_feature_suite, validate

    champion, settings = bench.champion, bench.settings

    def timed(name: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = work()
        stages[name].append(time.perf_counter() - started)
        return result

    current = timed(READ_WINDOW, lambda: log_frame(
        log.answered_between(start, end, champion.version)))
    labelled = timed("read outcomes (outcomes_between + log_frame)",
                     lambda: log_frame(log.outcomes_between(start, end,
                                                                   champion.version)))
    metrics = [m.to_evidently_metric() for m in drift_metrics(settings)]
    report = timed(DRIFT_REPORT, lambda: evidently_report(champion.training, current, metrics))
    drift = timed(DRIFT_FIGURES, lambda: drift_figures(report.as_dict(), len(current)))
    performance = timed("live_performance", lambda: live_performance(
        labelled, champion.deployed.threshold, champion.deployed.baseline,
        bench.business))
    suite = timed("GX feature suite", lambda: validate(
        current[list(schema.FEATURE_NAMES)], build_feature_suite()))
    decision = timed("decide", lambda: decide(
        drift, performance, [o.message for o in suite.failures], settings))
    preset = timed(PRESET, lambda: preset_drift(champion.training, current))
    return current, labelled, drift, performance, suite, decision, preset


def monitoring_at_scale(bench: Bench, n_rows: int, rows: list[list[Any]],
                        repeats: int = 3) -> dict[str, float]:
    """``n_rows`` requests through LogDriver into a fresh SQLite log, then the monitoring
    computation stage by stage against the whole training frame."""
    from churnops.validation import build_feature_suite, validate
    from serving.inference_log import InferenceLog

    champion, settings = bench.champion, bench.settings
    workdir = Path(tempfile.mkdtemp(prefix="churnops-drift-bench-"))
    log = InferenceLog(f"sqlite:///{workdir / 'inference_log.db'}")
    try:
        driver = LogDriver(log, champion.score, champion.version,
                           champion.deployed.threshold)
        # One day of n_rows requests whose outcomes arrive the same day: the window and its
        # labelled rows are the same requests.
        config = bench.config("none", 0, requests_per_day=n_rows, label_delay_days=0)
        start = datetime.now(UTC)
        started = time.perf_counter()
        Simulation(TrafficSimulator(bench.customers, config), driver).run_day(1)
        write_s = time.perf_counter() - started
        end = datetime.now(UTC) + timedelta(seconds=1)
        print(f"wrote {n_rows:,} scored requests and their outcomes with LogDriver in "
              f"{write_s:.1f} s (not part of the monitoring time)")
        validate(champion.holdout[list(schema.FEATURE_NAMES)].head(10), build_feature_suite())

        # The machine is shared: each stage runs `repeats` times, the median counts.
        stages: dict[str, list[float]] = defaultdict(list)
        for _ in range(max(repeats, 1)):
            current, labelled, drift, performance, suite, decision, preset = _monitor_once(
                bench, log, start, end, stages)
        seconds = {name: median(times) for name, times in stages.items()}
        preset_s = seconds.pop(PRESET)
        total = sum(seconds.values())
        drift_s = seconds[DRIFT_REPORT] + seconds[DRIFT_FIGURES]
        # The daily monitoring compares with the 1,409-row holdout, not the training frame.
        on_holdout = project_drift(champion.holdout, current, settings)
        preset_on_holdout = preset_drift(champion.holdout, current)
    finally:
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{len(current):,} window rows, {len(labelled):,} outcomes, reference "
          f"{len(champion.training):,} rows (the whole training frame)\n")
    for name, value in seconds.items():
        print(f"  {name:<56} {value:>7.2f} s")
        rows.append(["scale", "stage_seconds", name, value])
    print(f"  {'total':<56} {total:>7.2f} s   {len(current) / total:>9,.0f} rows/s")
    print(f"(medians of {repeats} repetitions)")
    print(f"\nbaseline DataDriftPreset() report + as_dict: {preset_s:.2f} s; project drift "
          f"report + figures {drift_s:.2f} s = {drift_s / preset_s:.2f}x the baseline")
    print(f"verdicts on this `none` window:  project drift_detected={decision.drift_detected} "
          f"(share {drift.drift_share:.0%}: {', '.join(drift.drifted_features) or 'none'}; "
          f"prediction p = {drift.prediction_drift_score:.2g}), performance_degraded="
          f"{decision.performance_degraded} (live ROC-AUC {performance.roc_auc:.3f}), "
          f"suite {'passed' if suite.success else 'failed'}; preset dataset_drift={preset}")
    print(f"against the {len(champion.holdout):,}-row holdout instead: project "
          f"dataset_drift={on_holdout.dataset_drift} (share {on_holdout.drift_share:.0%}: "
          f"{', '.join(on_holdout.drifted_features) or 'none'}), prediction drift "
          f"p = {on_holdout.prediction_drift_score:.2g}; preset dataset_drift="
          f"{preset_on_holdout}")
    figures = {"rows": len(current), "total_s": total, "rows_per_s": len(current) / total,
               "write_s": write_s, "preset_s": preset_s, "drift_s": drift_s,
               "project_positive": decision.positive, "preset_positive": preset,
               "holdout_project_drift": on_holdout.dataset_drift or on_holdout.prediction_drift,
               "holdout_preset_drift": preset_on_holdout}
    rows += [["scale", key, "", float(value)] for key, value in figures.items()]
    return figures


# Helpers and entry point -----------------------------------------------------------------------


def mean(values: Iterable[float | bool]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return float("nan"), float("nan")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _share(values: list[bool] | None, spec: str = ".0%") -> str:
    """A share for the tables, or "-" when it was not measured."""
    return "-" if values is None else format(mean(values), spec)


def _quiet() -> None:
    """Keep third-party logs out of the tables; ZenML resolves sources from the root."""
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("ZENML_AUTO_OPEN_DASHBOARD", "false")
    paths.export_state_env()
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(paths.PROJECT_ROOT))
    # ZenML routes warnings to logging and resets the filters when it is imported.
    warnings.filterwarnings("ignore")
    for noisy in ("py.warnings", "great_expectations", "evidently", "zenml", "mlflow",
                  "alembic", "churnops"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _section(title: str, started: float) -> None:
    print(f"\n== {title} [{time.perf_counter() - started:.0f} s] " + "=" * 40, flush=True)


SECTIONS = ("alarms", "power", "concept", "scale")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per experiment")
    parser.add_argument("--days", type=int, default=30, help="days of the none and concept runs")
    parser.add_argument("--rows", type=int, default=50_000, help="requests of the scale run")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repetitions of the scale run's timings (median)")
    parser.add_argument("--strengths", default=DEFAULT_STRENGTHS,
                        help="data-drift strengths, comma-separated")
    parser.add_argument("--model-version", help="registered version (default: @champion)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip Evidently's DataDriftPreset on the simulated days")
    parser.add_argument("--out", type=Path,
                        default=paths.state_dir() / "reports" / "benchmarks" / "drift")
    overrides = parser.add_argument_group("MonitoringSettings overrides (default: the config)")
    overrides.add_argument("--stattest-threshold", type=float)
    overrides.add_argument("--drift-share", type=float)
    overrides.add_argument("--prediction-threshold", type=float)
    overrides.add_argument("--min-labels", type=int)
    overrides.add_argument("--max-roc-auc-drop", type=float)
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if not sections <= set(SECTIONS):
        parser.error(f"--sections: choose among {', '.join(SECTIONS)}")

    started = time.perf_counter()
    _quiet()
    settings = load_settings({
        "stattest_threshold": args.stattest_threshold, "drift_share": args.drift_share,
        "prediction_threshold": args.prediction_threshold, "min_labels": args.min_labels,
        "max_roc_auc_drop": args.max_roc_auc_drop})
    simulation, loop = load_config()
    champion = load_champion(args.model_version)
    customers = data.clean(data.load_raw(paths.RAW_DATA))[0]
    bench = Bench(champion, settings, customers, simulation, loop.label_window_days,
                  baseline=not args.no_baseline)
    seeds = list(range(args.seeds))
    strengths = [float(s) for s in args.strengths.split(",")]
    default_strength = float(simulation.get("data_drift_strength",
                                            _default("data_drift_strength")))
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[list[Any]] = []
    print(f"churn-model v{champion.version} (run {champion.deployed.zenml_model_version}); daily "
          f"reference: holdout, {len(champion.holdout):,} rows")
    print(f"settings: {settings.model_dump(exclude={'business', 'alert_webhook'})}")
    print(f"simulation: {simulation}; label window {loop.label_window_days} days; "
          f"{args.seeds} seeds")

    alarms = power = concept = scale = None
    if "alarms" in sections:
        _section(f"1. False alarms: scenario none, {args.days} days x {args.seeds} seeds",
                 started)
        alarms = false_alarms(bench, seeds, args.days)
        print_false_alarms(alarms, rows)
    if "power" in sections:
        _section(f"2. Detection power: data_drift, {args.seeds} seeds per strength", started)
        power = detection_power(bench, seeds, strengths)
        print_power(power, default_strength, rows)
        plot_power(power, default_strength, args.seeds, args.out / "power_curve.png")
    if alarms and power:
        _section("Settings sweep: the same p-values under other thresholds", started)
        print_sweep(alarms, power, settings, rows)
    if "concept" in sections:
        _section(f"3. Concept drift: {args.days} days x {args.seeds} seeds, strength "
                 f"{simulation.get('concept_drift_strength')}", started)
        concept = concept_drift(bench, seeds, args.days, rows)
    if "scale" in sections:
        _section(f"4. Monitoring at scale: {args.rows:,} requests", started)
        scale = monitoring_at_scale(bench, args.rows, rows, args.repeats)

    with (args.out / "results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["section", "measure", "at", "value"])
        writer.writerows(rows)

    def line(measure: str, value: str, target: str = "", ok: bool | None = None,
             baseline: str = "") -> None:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{measure:<48} {value:>16}  {target:<16} {verdict:<5} {baseline}".rstrip())

    _section("Summary", started)
    print(f"{'measure':<48} {'churnops':>16}  {'target':<16} {'':<5} Evidently preset "
          "(defaults)")
    if alarms:
        high = wilson(round(alarms.run_rate * args.seeds), args.seeds)[1]
        line(f"false-alarm rate, none, {args.days} days x {args.seeds} seeds",
             f"{alarms.run_rate:.1%} (CI<{high:.0%})", "<= 5 % of runs",
             alarms.run_rate <= FALSE_ALARM_TARGET,
             f"{alarms.preset_run_rate:.1%}" if bench.baseline else "")
    default = next((p for p in power or [] if math.isclose(p.strength, default_strength)),
                   None)
    if default:
        line(f"power at strength {default_strength:g} within 2 days",
             f"{mean(default.detected):.1%}", ">= 95 %", mean(default.detected) >= POWER_TARGET,
             _share(default.preset, ".1%"))
    if concept:
        line("concept drift: post-onset days with input drift",
             f"{concept['input_rate']:.1%}", "<= 5 % (quiet)",
             concept["input_rate"] <= FALSE_ALARM_TARGET)
        line("concept drift: degradation flagged",
             f"{len(concept['delays'])}/{concept['runs']} runs")
        line("concept drift: delay after onset, median / max",
             f"{concept['median_delay']} / {concept['max_delay']} days")
    if scale:
        line(f"monitoring {scale['rows']:,} rows (read -> decide)", f"{scale['total_s']:.1f} s")
        line("  throughput", f"{scale['rows_per_s']:,.0f} rows/s")
        line("  drift report + figures vs the preset's", f"{scale['drift_s']:.1f} s", "",
             None, f"{scale['preset_s']:.1f} s ({scale['drift_s'] / scale['preset_s']:.2f}x)")
    print(f"\nwrote {args.out / 'results.csv'}"
          + (f" and {args.out / 'power_curve.png'}" if power else "")
          + f" in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
