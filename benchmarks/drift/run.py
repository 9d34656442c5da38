"""Drift monitoring on seeds nothing was tuned on: false alarms, and power per scenario.

    python benchmarks/drift/run.py [--tuning-seeds 50] [--seeds 100] [--curve-seeds 40]
        [--days 30] [--sections alarms,power] [--scenarios a,b] [--model-version N]
        [--out DIR]

Needs a champion (`python run.py pipeline training` first). It reads, and never changes,
churn-model@champion (or `--model-version`), its drift reference (the reference pool, as
steps/monitoring/reference.py loads it), configs/monitoring.yaml and configs/continuous.yaml.

Simulated days (simulation/traffic.py: new customers from the future pool) are scored with
the model in-process and go through the monitoring pipeline's own functions:
`churnops.drift.shift_figures`, `live_performance` on the outcomes received in the label
window, and `decide`. Two sets of seeds never meet:

  * tuning seeds (0, 1, ...): the act level `alpha` is chosen on them, as the largest value
    of a grid whose quiet runs keep act alarms within the targets; the scenario defaults
    were read off their power curves;
  * held-out seeds (1000, 1001, ...): every figure reported.

1. alarms: scenario `none` for `--days` days per seed, with the deployed version and again
   after a retraining (the version refitted the way the loop retrains: on its train set plus
   four days of labelled production, and scored against the same fixed reference);
2. power: each scenario of simulation/scenarios.py over its strength grid, drift from day 4;
   flagged when an act finding (or, for a scenario that moves one or two features, a
   warning naming one of them) comes on the onset day or the next. `gradual` and
   `concept_drift` report the days until the first flag, and the share flagged within two
   runs of their own onset (`due_run`): for a concept drift, the onset day's outcomes, which
   come `label_delay_days` late (nothing can see it before); for a gradual one, the day its
   strength in force reaches the step change's default.

The baseline, on the same days and reference: the previous release's rule (`previous_rule`:
Evidently's default tests, act when 40 % of the features drift, p(churn) at p < 0.001, or any
ROC-AUC drop over the limit). Its alarms and power are printed beside (`previous`).

It prints the tables with Wilson 95 % intervals and writes results.csv and power.png under
--out.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# Third-party deprecation chatter would bury the tables.
warnings.filterwarnings("ignore")

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, data, paths, schema  # noqa: E402
from churnops.drift import DriftFigures, shift_figures  # noqa: E402
from churnops.inference_log import LABEL, PREDICTION  # noqa: E402
from churnops.modeling.evaluation import evaluate  # noqa: E402
from churnops.monitoring import (  # noqa: E402
    MonitoringDecision,
    PerformanceFigures,
    RefusedRequests,
    decide,
    holdout_baseline,
    live_performance,
)
from churnops.settings import MonitoringSettings, RetrainingPolicy, SimulationSettings  # noqa: E402
from ops.loop import load_config  # noqa: E402
from simulation.scenarios import GRADUAL_RAMP_DAYS, SCENARIOS, Scenario  # noqa: E402
from simulation.traffic import TrafficSimulator  # noqa: E402

TUNING_FIRST_SEED = 0
HELD_OUT_FIRST_SEED = 1000
ALPHA_GRID = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01)
RUN_TARGET, DAY_TARGET, POWER_TARGET = 0.05, 0.005, 0.95
DEFAULT_RULE = 0.98
"""A scenario's default: the smallest strength flagged in this share of the tuning seeds."""
ONSET_DAY = 4
RETRAINING_DAYS = 4
FEATURES = list(schema.FEATURE_NAMES)


# The deployed model and its reference ------------------------------------------------------------


@dataclass
class Deployed:
    version: str
    model: Any
    """The fitted scikit-learn pipeline."""
    threshold: float
    baseline: dict[str, float | None]
    reference: pd.DataFrame
    """The drift reference, with this model's p(churn)."""
    reference_churned: np.ndarray
    """The reference's outcomes (0/1), row for row."""
    train_set: pd.DataFrame
    calibration: pd.DataFrame
    """The version's holdout: its p(churn) and outcomes, which live outcomes are tested
    against (the reference itself for the first version)."""

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame[FEATURES])[:, 1]


def load_deployed(version: str | None) -> Deployed:
    """A registered version (by default the champion), its drift reference and train set."""
    import mlflow
    from mlflow import MlflowClient

    from stacks.access import drift_reference, model_version_of

    tracking_uri = paths.mlflow_tracking_uri()
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    version = str(version or client.get_model_version_by_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version)
    mirror = model_version_of(version)
    evaluation = mirror.get_artifact("holdout_evaluation").load()
    model = mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL_NAME}/{version}")
    frame = drift_reference(mirror)
    reference = frame[FEATURES].assign(**{PREDICTION: model.predict_proba(frame[FEATURES])[:, 1]})
    churned = data.label(frame).to_numpy()
    # The first version's holdout is the reference pool itself: scored once.
    calibration = (pd.DataFrame({PREDICTION: reference[PREDICTION].to_numpy(), LABEL: churned})
                   if mirror.get_artifact("reference_set") is None
                   else _outcomes(model, mirror.get_artifact("holdout_set").load()))
    return Deployed(
        version=version, model=model, threshold=evaluation.threshold,
        baseline=holdout_baseline(evaluation), reference=reference, reference_churned=churned,
        train_set=mirror.get_artifact("train_set").load(), calibration=calibration)


def _outcomes(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s p(churn) by ``model`` and its outcomes."""
    return pd.DataFrame({PREDICTION: model.predict_proba(frame[FEATURES])[:, 1],
                         LABEL: data.label(frame).to_numpy()})


def retrained(deployed: Deployed, customers: pd.DataFrame, seed: int,
              simulation: dict[str, Any], policy: RetrainingPolicy,
              monitoring: MonitoringSettings) -> Deployed:
    """The deployed version refitted as the loop retrains it: its train set plus the first
    ``RETRAINING_DAYS`` of this seed's labelled traffic (``combine``, ``holdout_split``)."""
    from sklearn.base import clone

    from steps.retraining.data import combine
    from steps.training.split import holdout_split

    simulator = TrafficSimulator(customers, SimulationSettings(**{**simulation, "seed": seed}))
    days = pd.concat([simulator.day(day).requests for day in range(1, RETRAINING_DAYS + 1)],
                     ignore_index=True)
    production = days.assign(**{LABEL: days["churned"].astype(int),
                                "ts": pd.Timestamp.now(tz="UTC")})
    frame, _ = combine(deployed.train_set, production, policy)
    train, holdout = holdout_split(frame)
    model = clone(deployed.model).fit(train[FEATURES], data.label(train))
    evaluation = evaluate(model, holdout[FEATURES], data.label(holdout), monitoring.business,
                          deployed.threshold)
    reference = deployed.reference[FEATURES]
    return Deployed(
        version=f"{deployed.version}-retrained", model=model, threshold=deployed.threshold,
        baseline=holdout_baseline(evaluation),
        reference=reference.assign(**{PREDICTION: model.predict_proba(reference)[:, 1]}),
        reference_churned=deployed.reference_churned, train_set=train,
        calibration=_outcomes(model, holdout))


# Monitored days ------------------------------------------------------------------------------


@dataclass
class Day:
    seed: int
    day: int
    drifting: bool
    drift: DriftFigures
    performance: PerformanceFigures | None
    failed: list[str] = field(default_factory=list)
    refused: RefusedRequests | None = None
    previous_acts: bool = False
    """The baseline's verdict (``previous_rule``)."""

    def decision(self, settings: MonitoringSettings) -> MonitoringDecision:
        return decide(self.drift, self.performance, self.failed, settings,
                      refused=self.refused)


def monitor(deployed: Deployed, customers: pd.DataFrame, config: SimulationSettings,
            days: Sequence[int], label_window_days: int, monitoring: MonitoringSettings,
            validate_inputs: bool = False) -> list[Day]:
    """Monitor each of ``days``: the day's requests against the reference, and outcomes
    received over the last ``label_window_days`` (from day 1 on)."""
    simulator = TrafficSimulator(customers, config)
    received: dict[int, list[pd.DataFrame]] = defaultdict(list)
    suite = _feature_suite() if validate_inputs else None
    results = []
    for day in range(1, max(days) + 1):
        traffic = simulator.day(day)
        # The service refuses requests with a missing feature; they are counted, not scored.
        complete = traffic.complete()
        requests = traffic.requests[complete]
        refused = RefusedRequests.of(len(requests), traffic.refusals())
        current = requests[FEATURES].assign(**{PREDICTION: deployed.score(requests)})
        received[day + config.label_delay_days].append(
            current.assign(**{LABEL: requests["churned"].astype(int)}))
        if day not in days:
            continue
        window = [f for d in range(day - label_window_days + 1, day + 1)
                  for f in received.get(d, [])]
        labelled = (pd.concat(window, ignore_index=True) if window
                    else pd.DataFrame(columns=[*FEATURES, PREDICTION, LABEL]))
        performance = live_performance(labelled, deployed.threshold, deployed.baseline,
                                       monitoring.business, deployed.calibration)
        failed = []
        if suite is not None:
            from churnops.validation import validate

            failed = [o.message for o in validate(current[FEATURES], suite).failures]
        results.append(Day(config.seed, day, simulator.drifting(day),
                           shift_figures(deployed.reference, current, PREDICTION),
                           performance, failed, refused,
                           bool(failed) or previous_rule(deployed.reference, current,
                                                         performance, monitoring)))
    return results


# The baseline: the previous release's rule ------------------------------------------------------

PREVIOUS_STATTEST_P, PREVIOUS_DRIFT_SHARE, PREVIOUS_PREDICTION_P = 0.005, 0.4, 0.001
"""configs/monitoring.yaml before this release (git show 0a14277:configs/monitoring.yaml)."""
CONTINUOUS = ("tenure", "MonthlyCharges", "TotalCharges")


def previous_rule(reference: pd.DataFrame, current: pd.DataFrame,
                  performance: PerformanceFigures | None, settings: MonitoringSettings) -> bool:
    """The drift and performance decision of the release before this one, the baseline (it
    acted on failing inputs too, as this release does): Evidently's default tests
    per feature at p < 0.005 (KS; for the others, chi-square of the current counts against
    the reference's shares, taken as exact), act when 40 % of the 19 features drift or p(churn)
    shifts at p < 0.001 (KS), or when live ROC-AUC is more than ``max_roc_auc_drop`` below the
    holdout figure on ``min_labels`` outcomes, however noisy. Same reference as the project's."""
    from scipy.stats import chisquare, ks_2samp

    if len(current) < settings.min_rows:
        return False
    drifted = 0
    for name in schema.FEATURE_NAMES:
        if name in CONTINUOUS:
            p = ks_2samp(reference[name], current[name]).pvalue
        else:
            shares = reference[name].value_counts(normalize=True)
            observed = current[name].value_counts().reindex(shares.index, fill_value=0)
            unseen = observed.sum() < len(current)  # a category the reference never had
            p = 0.0 if unseen else chisquare(observed, shares * len(current)).pvalue
        drifted += p < PREVIOUS_STATTEST_P
    shifted = ks_2samp(reference[PREDICTION], current[PREDICTION]).pvalue < PREVIOUS_PREDICTION_P
    dropped = (performance is not None and performance.roc_auc is not None
               and performance.labelled_rows >= settings.min_labels
               and performance.baseline_roc_auc - performance.roc_auc
               > settings.max_roc_auc_drop)
    return drifted / len(schema.FEATURE_NAMES) >= PREVIOUS_DRIFT_SHARE or shifted or dropped


def _feature_suite() -> Any:
    from churnops.validation import build_feature_suite

    return build_feature_suite()


# 1. False alarms ------------------------------------------------------------------------------


@dataclass
class Quiet:
    condition: str
    runs: list[list[Day]]

    def rates(self, settings: MonitoringSettings, severity: str = "act") -> tuple[
            tuple[int, int], tuple[int, int]]:
        """(runs with one, runs), (days with one, days); severity ``previous``: the
        baseline's."""
        flags = [[d.previous_acts if severity == "previous"
                  else _severity_at_least(d.decision(settings), severity) for d in run]
                 for run in self.runs]
        return ((sum(any(run) for run in flags), len(flags)),
                (sum(sum(run) for run in flags), sum(len(run) for run in flags)))


def _severity_at_least(decision: MonitoringDecision, severity: str) -> bool:
    order = ("info", "warn", "act")
    return order.index(decision.severity) >= order.index(severity)


def quiet_seed(seed: int, days: int) -> tuple[list[Day], list[Day]]:
    """One seed's quiet run with the deployed version, and after a retraining."""
    bench = BENCH
    config = bench.config("none", seed)
    deployed = monitor(bench.deployed, bench.customers, config, range(1, days + 1),
                       bench.label_window, bench.settings)
    model = retrained(bench.deployed, bench.customers, seed, bench.simulation, bench.policy,
                      bench.settings)
    after = monitor(model, bench.customers, config,
                    range(RETRAINING_DAYS + 1, RETRAINING_DAYS + days + 1),
                    bench.label_window, bench.settings)
    return deployed, after


def quiet_runs(seeds: Sequence[int], days: int) -> list[Quiet]:
    runs = parallel(quiet_seed, [(seed, days) for seed in seeds], "quiet runs")
    return [Quiet("deployed version", [r[0] for r in runs]),
            Quiet("after a retraining", [r[1] for r in runs])]


def tune_alpha(quiet: list[Quiet], settings: MonitoringSettings) -> float | None:
    """The largest alpha of the grid whose act alarms stay within both targets in every
    condition (None if none does); prints the grid."""
    chosen = None
    print("\n  act alarms on the tuning seeds, by alpha (runs; days):")
    for alpha in ALPHA_GRID:
        trial = settings.model_copy(update={"alpha": alpha})
        rates = [q.rates(trial) for q in quiet]
        print(f"  {alpha:<8g}" + "".join(
            f"  {q.condition}: {r[0]}/{r[1]} runs; {d[0]}/{d[1]} days"
            for q, (r, d) in zip(quiet, rates, strict=True)))
        if all(r[0] / r[1] <= RUN_TARGET and d[0] / d[1] <= DAY_TARGET for r, d in rates):
            chosen = alpha
    return chosen


def print_quiet(title: str, quiet: list[Quiet], settings: MonitoringSettings,
                rows: list[list[Any]]) -> None:
    print(f"\n{title} (alpha {settings.alpha:g}, warn_alpha {settings.warn_alpha:g})")
    print(f"  {'condition':<20} {'severity':<8} {'runs with one':>28} {'days with one':>30}")
    for q in quiet:
        for severity in ("act", "warn", "previous"):
            (k, n), (j, m) = q.rates(settings, severity)
            print(f"  {q.condition:<20} {severity:<8} {k:>4}/{n:<4} {_share(k, n):>18} "
                  f"{j:>5}/{m:<5} {_share(j, m, '.2%'):>18}")
            rows.append(["alarms", title, q.condition, severity, k, n, j, m])
    print("  (previous: the previous release's rule acting, the baseline)")
    auc = [d.performance.roc_auc - d.performance.baseline_roc_auc
           for q in quiet[:1] for run in q.runs for d in run
           if d.performance and d.performance.roc_auc is not None
           and d.performance.labelled_rows >= settings.min_labels]
    if auc:
        print(f"  live ROC-AUC minus the holdout figure, quiet days: median {np.median(auc):+.3f}"
              f" (IQR {np.percentile(auc, 25):+.3f} to {np.percentile(auc, 75):+.3f})")
        rows.append(["alarms", title, "live_minus_holdout_auc", "median", np.median(auc),
                     len(auc), "", ""])


# 2. Power --------------------------------------------------------------------------------------


def flagged(day: Day, scenario: Scenario, settings: MonitoringSettings) -> bool:
    decision = day.decision(settings)
    if decision.severity == "act":
        return True
    named = {name for finding in decision.findings if finding.severity == "warn"
             for name in finding.subjects} & set(scenario.touches)
    return bool(named) and 0 < len(scenario.touches) <= 2


def first_flag(name: str, strength: float, seed: int, horizon: int
               ) -> tuple[int | None, int | None]:
    """Monitoring runs from the onset to the first flag (1 = the onset day), or None: by
    this release's findings, and by the previous rule acting."""
    bench, scenario = BENCH, SCENARIOS[name]
    config = bench.config(name, seed, strength=strength, onset_day=ONSET_DAY)
    days = monitor(bench.deployed, bench.customers, config,
                   range(ONSET_DAY, ONSET_DAY + horizon), bench.label_window, bench.settings,
                   validate_inputs=scenario.kind == "data_quality")
    first = next((d.day for d in days if flagged(d, scenario, bench.settings)), None)
    previous = next((d.day for d in days if d.previous_acts), None)
    return tuple(None if day is None else day - ONSET_DAY + 1 for day in (first, previous))


def power(scenario: Scenario, strength: float, seeds: Sequence[int]
          ) -> tuple[int, int, int]:
    """(runs flagged on the onset day or the next, the same by the previous rule, runs)."""
    found = parallel(first_flag, [(scenario.name, strength, seed, 2) for seed in seeds])
    return (sum(f is not None for f, _ in found), sum(p is not None for _, p in found),
            len(seeds))


def days_to_flag(scenario: Scenario, strength: float, seeds: Sequence[int], horizon: int
                 ) -> list[tuple[int | None, int | None]]:
    return parallel(first_flag, [(scenario.name, strength, seed, horizon) for seed in seeds])


def power_curves(curve_seeds: Sequence[int], tuning_seeds: Sequence[int],
                 held_out: Sequence[int], rows: list[list[Any]],
                 names: Sequence[str]) -> dict[str, list]:
    curves: dict[str, list] = {}
    print("\n2. Power: flagged on the onset day or the next (act, or a warning naming a "
          "touched feature). The default (*) is the smallest strength of the grid flagged "
          f"in >= {DEFAULT_RULE:.0%} of the tuning seeds; the target on held-out seeds is "
          f"{POWER_TARGET:.0%}.")
    print(f"  {'scenario':<17} {'strength':>8}  {'tuning seeds':>14}  {'held-out seeds':>30}"
          f"  {'previous rule':>13}")
    for scenario in (SCENARIOS[name] for name in names):
        if scenario.kind in ("none", "concept") or scenario.name == "gradual":
            continue
        curves[scenario.name] = []
        for strength in scenario.strengths:
            default = strength == scenario.default
            tuned, _, tuning_n = power(scenario, strength, tuning_seeds)
            k, previous, n = power(scenario, strength, held_out if default else curve_seeds)
            curves[scenario.name].append((strength, k / n))
            print(f"  {scenario.name:<17} {strength:>7g}{'*' if default else ' '} "
                  f"{tuned:>6}/{tuning_n:<6} {k:>6}/{n:<4} {_share(k, n):>19}"
                  f"  {previous:>6}/{n:<6}")
            rows.append(["power", scenario.name, strength, default, k, n, tuned, tuning_n,
                         previous])
        _progress(f"power {scenario.name}")
    print("  (held-out power at a default is over every held-out seed, elsewhere over "
          "--curve-seeds of them)")
    delay = BENCH.simulation["label_delay_days"]
    step = SCENARIOS["data_drift"].default
    notes = {"gradual": f"'within 2 runs' counts from the day its strength in force reaches "
                        f"the step change's default (data_drift {step:g})",
             "concept_drift": f"its outcomes come {delay} days late, so 'within 2 runs' "
                              f"counts from the first outcomes of the onset day (run "
                              f"{delay + 1})"}
    for name, horizon in (("gradual", 21), ("concept_drift", 12)):
        if name not in names:
            continue
        scenario = SCENARIOS[name]
        print(f"\n  {name}: runs from the onset to the first flag (* every held-out seed, "
              f"else {len(curve_seeds)}); {notes[name]}")
        for strength in scenario.strengths:
            default = strength == scenario.default
            both = days_to_flag(scenario, strength, held_out if default else curve_seeds,
                                horizon)
            found = [f for f, _ in both]
            hit = [d for d in found if d is not None]
            previous = [p for _, p in both if p is not None]
            text = (f"median {np.median(hit):.0f}, 90th pct {np.percentile(hit, 90):.0f}"
                    if hit else "-")
            due = due_run(name, strength, delay)
            if due:
                k = sum(d <= due for d in hit)
                tuned = [f for f, _ in days_to_flag(scenario, strength, tuning_seeds, due)]
                text += (f"; by run {due}: {k}/{len(found)} {_share(k, len(found))} (tuning "
                         f"seeds: {sum(f is not None for f in tuned)}/{len(tuned)})")
            print(f"  {strength:>7g}{'*' if default else ' '} flagged within {horizon} runs "
                  f"in {len(hit)}/{len(found)}; {text}; previous rule: {len(previous)}/"
                  f"{len(found)}" + (f", median {np.median(previous):.0f}" if previous else ""))
            rows.append(["delay", name, strength, default, len(hit), len(found),
                         np.median(hit) if hit else "", ""])
    return curves


def due_run(name: str, strength: float, delay: int) -> int | None:
    """The last run (1 = the onset day) at which a flag is 'within 2 runs of onset'.

    A concept drift shows only in outcomes, the first of which arrive on run ``delay + 1``.
    A gradual drift starts too small for any test: its onset counts from the day its
    strength in force reaches the default of the step change it ramps towards, so it is
    judged as caught no later than that step change would be (None: it never gets there).
    """
    if name == "concept_drift":
        return delay + 2
    step = SCENARIOS["data_drift"].default
    if name != "gradual" or strength < step:
        return None
    return math.ceil(GRADUAL_RAMP_DAYS * step / strength - 1e-9) + 1


def plot_power(curves: dict[str, list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    for axis, (name, points) in zip(axes.flat, curves.items(), strict=False):
        strengths, powers = zip(*points, strict=True)
        axis.plot(strengths, powers, "o-")
        axis.axhline(POWER_TARGET, color="grey", linestyle=":")
        axis.axvline(SCENARIOS[name].default, color="tab:red", linestyle="--", linewidth=0.8)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel(SCENARIOS[name].unit, fontsize=8)
        axis.set_ylim(0, 1.05)
    for axis in list(axes.flat)[len(curves):]:
        axis.axis("off")
    fig.suptitle("Power: flagged within two monitoring runs of the onset (dashed: default)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# Running it ------------------------------------------------------------------------------------


@dataclass
class Bench:
    deployed: Deployed
    customers: pd.DataFrame
    settings: MonitoringSettings
    simulation: dict[str, Any]
    label_window: int
    policy: RetrainingPolicy

    def config(self, scenario: str, seed: int, **changes: Any) -> SimulationSettings:
        return SimulationSettings(**{**self.simulation, "scenario": scenario, "seed": seed,
                                   **changes})


def load_bench(version: str | None) -> Bench:
    from churnops.settings import run_config

    monitoring = run_config(paths.CONFIG_DIR / "monitoring.yaml")["parameters"]["settings"]
    simulation, _ = load_config()
    loop = run_config(paths.CONFIG_DIR / "continuous_training.yaml")["parameters"]
    return Bench(
        deployed=load_deployed(version),
        customers=data.clean(data.load_raw(paths.RAW_DATA))[0],
        settings=MonitoringSettings(**monitoring),
        simulation={k: v for k, v in simulation.items() if k != "strength"},
        label_window=int(loop["loop"]["label_window_days"]),
        policy=RetrainingPolicy(**yaml.safe_load(
            (paths.CONFIG_DIR / "retraining.yaml").read_text())["parameters"]["policy"]))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _share(k: int, n: int, spec: str = ".1%") -> str:
    low, high = wilson(k, n)
    return f"{k / n:{spec}} [{low:{spec}}, {high:{spec}}]" if n else "-"


def _progress(text: str) -> None:
    print(f"  ... {text} ({time.monotonic() - STARTED:.0f} s)", file=sys.stderr, flush=True)


STARTED = time.monotonic()
BENCH: Bench
"""Set once in ``main``, and in each worker process."""
POOL: Any = None


def parallel(function: Any, calls: list[tuple], label: str | None = None) -> list[Any]:
    """``function(*call)`` for each call, over the worker processes, in order."""
    results = list(POOL.map(_call, [(function, call) for call in calls]))
    if label:
        _progress(label)
    return results


def start_workers(bench: Bench) -> Any:
    """One worker per core, each with the bench. Spawned, not forked: the model's OpenMP
    threads do not survive a fork."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # One OpenMP thread per worker: the workers already use every core.
    os.environ["OMP_NUM_THREADS"] = "1"
    return ProcessPoolExecutor(os.cpu_count() or 1, mp_context=get_context("spawn"),
                               initializer=_set_bench, initargs=(bench,))


def _set_bench(bench: Bench) -> None:
    global BENCH
    BENCH = bench
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)


def _call(job: tuple[Any, tuple]) -> Any:
    function, call = job
    return function(*call)


def _seeds(first: int, count: int) -> list[int]:
    return list(range(first, first + count))


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuning-seeds", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=100, help="Held-out seeds.")
    parser.add_argument("--curve-seeds", type=int, default=40,
                        help="Held-out seeds per point of a power curve off the default.")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sections", default="alarms,power")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="The scenarios of the power section.")
    parser.add_argument("--model-version")
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / "churnops-drift-benchmark")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.disable(logging.WARNING)
    sections = set(args.sections.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    global BENCH, POOL
    bench = BENCH = load_bench(args.model_version)
    POOL = start_workers(bench)
    tuning = _seeds(TUNING_FIRST_SEED, args.tuning_seeds)
    held_out = _seeds(HELD_OUT_FIRST_SEED, args.seeds)
    print(f"churn-model v{bench.deployed.version}; reference: {len(bench.deployed.reference)} "
          f"customers of the reference pool; {bench.simulation['requests_per_day']} requests "
          f"a day from the future pool; tuning seeds {tuning[0]}-{tuning[-1]}, held-out "
          f"seeds {held_out[0]}-{held_out[-1]}")
    rows: list[list[Any]] = []
    if "alarms" in sections:
        tuning_runs = quiet_runs(tuning, args.days)
        print(f"\n1. False alarms on quiet traffic, {args.days} days a run (targets: runs <= "
              f"{RUN_TARGET:.0%}, days <= {DAY_TARGET:.1%})")
        tuned = tune_alpha(tuning_runs, bench.settings)
        print(f"  alpha chosen on the tuning seeds: "
              f"{tuned if tuned is not None else 'none of the grid'} (configured: "
              f"{bench.settings.alpha:g})")
        print_quiet("tuning seeds", tuning_runs, bench.settings, rows)
        print_quiet("held-out seeds", quiet_runs(held_out, args.days), bench.settings, rows)
    if "power" in sections:
        curves = power_curves(_seeds(HELD_OUT_FIRST_SEED, args.curve_seeds), tuning,
                              held_out, rows, args.scenarios.split(","))
        plot_power(curves, args.out / "power.png")
        print(f"\nPower curves: {args.out / 'power.png'}")
    POOL.shutdown()
    with (args.out / "results.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    print(f"Results: {args.out / 'results.csv'} ({time.monotonic() - STARTED:.0f} s)")


if __name__ == "__main__":
    main()
