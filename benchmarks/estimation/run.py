"""Performance estimated before the outcomes: churnops's CBPE against NannyML's, and the truth.

    python benchmarks/estimation/run.py [--seeds 10] [--days 8] [--model-version N]
        [--nannyml-venv .venv-nannyml] [--no-nannyml] [--out DIR]

Needs a champion (`python run.py pipeline training` first). It reads, and never changes,
churn-model@champion (or `--model-version`), its drift reference with the outcomes (the
reference pool, as steps/monitoring/reference.py loads it), configs/monitoring.yaml and
configs/continuous.yaml.

Both estimators are fitted on the same reference (the deployed version's p(churn) and the
outcomes of the reference pool) and estimate each simulated day's ROC-AUC from its 300
predictions alone:

  * churnops: `churnops.estimation.Estimator` (Platt calibration on the log-odds, a 95 %
    interval), in this process;
  * NannyML 0.13.1's `CBPE` (isotonic calibration), in its own virtualenv (about 1.8 GB,
    kept out of the project's lock): `--nannyml-venv`, created with uv from
    benchmarks/estimation/requirements.txt when missing, then reused. The days go to
    benchmarks/estimation/nannyml_cbpe.py as a temporary parquet, one chunk per day. Without
    the virtualenv (no network) the churnops estimate is compared with the outcomes only.

Days come from the simulator (simulation/traffic.py, new customers from the future pool) on
held-out seeds 1000, 1001, ...: every scenario of simulation/scenarios.py at its default,
from day 4, and each covariate and data-quality scenario at a strong strength (`STRONG`).
Requests with a missing feature are dropped, as the service refuses them. The realised
ROC-AUC is the day's own, on the same rows. The warn rule is the monitoring's
(`churnops.monitoring.estimate_findings`: the interval's high below the training-time ROC-AUC
minus `max_roc_auc_drop`); outcomes act through `live_performance` and
`performance_findings` on the outcomes received in the label window, `label_delay_days` late.

It prints two tables, (1) errors against the realised ROC-AUC and interval coverage, and
(2) for the settings whose realised ROC-AUC drops more than `max_roc_auc_drop` below the
training-time figure, the first run after the onset on which each estimate warns and on which
the outcomes act; it writes results.csv (one row per day) and summary.csv under --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# One OpenMP thread: the machine is shared. Set before numpy and the model load.
os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from benchmarks.drift.run import HELD_OUT_FIRST_SEED, ONSET_DAY, Bench, load_bench  # noqa: E402
from churnops.estimation import Z_95, EstimatedPerformance, Estimator  # noqa: E402
from churnops.inference_log import LABEL, PREDICTION  # noqa: E402
from churnops.monitoring import (  # noqa: E402
    PerformanceFigures,
    estimate_findings,
    live_performance,
    performance_findings,
)
from simulation.scenarios import SCENARIOS  # noqa: E402
from simulation.traffic import TrafficSimulator  # noqa: E402

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
NANNYML_SCRIPT = HERE / "nannyml_cbpe.py"
STRONG: dict[str, float] = {
    "data_drift": 1.5, "acquisition": 1.0, "gradual": 3.0,
    "price_change": 1.0, "segment_price": 1.0, "unit_change": 0.3, "constant_default": 1.0,
}
"""A strong strength per covariate and data-quality scenario, read off tuning seeds 0-4 (days
4-11, never the held-out seeds): for the three that change who the customers are, one whose
realised ROC-AUC is about 0.1 below the training-time figure (data_drift 1.5: 0.73;
acquisition 1.0, every customer new: 0.75; gradual 3.0, ramping: 0.77); the four that change
only the inputs kept it within 0.01 of quiet traffic (0.84) at every strength tried (price
rises up to +100 %, 30 % of bills in cents, every payment method defaulted): their largest."""


# Settings and simulated days ---------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    scenario: str
    strength: float
    default: bool

    @property
    def key(self) -> str:
        return f"{self.scenario}@{self.strength:g}"

    @property
    def outcomes_change(self) -> bool:
        """Who churns changes: P(churn | features) is not the reference's."""
        return SCENARIOS[self.scenario].kind == "concept" or self.scenario == "mixed"


def settings_to_run() -> list[Setting]:
    """Every scenario at its default, then the strong ones."""
    return ([Setting(s.name, s.default, True) for s in SCENARIOS.values()]
            + [Setting(name, strength, False) for name, strength in STRONG.items()])


@dataclass
class Reference:
    scores: np.ndarray
    churned: np.ndarray


def load_reference(bench: Bench) -> Reference:
    """The deployed version's p(churn) on its drift reference, and the reference's
    outcomes, row for row."""
    return Reference(bench.deployed.reference[PREDICTION].to_numpy(dtype=float),
                     bench.deployed.reference_churned.astype(int))


def simulate(bench: Bench, estimator: Estimator, setting: Setting, seed: int, days: int,
             first_chunk: int) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """``days`` days from the onset: one row per day (estimate, realised ROC-AUC, the warn
    and act rules), and the day's scores for NannyML (chunk ids from ``first_chunk``). Days
    before the onset are simulated only for the outcomes they send into the label window."""
    config = bench.config(setting.scenario, seed, strength=setting.strength,
                          onset_day=ONSET_DAY)
    simulator = TrafficSimulator(bench.customers, config)
    deployed, monitoring = bench.deployed, bench.settings
    baseline = float(deployed.baseline["roc_auc"])
    received: dict[int, list[pd.DataFrame]] = defaultdict(list)
    rows: list[dict[str, Any]] = []
    scores: list[np.ndarray] = []
    first_day = max(1, ONSET_DAY - bench.label_window - config.label_delay_days + 1)
    for day in range(first_day, ONSET_DAY + days):
        # The service refuses a request with a missing feature: it is never scored.
        traffic = simulator.day(day)
        requests = traffic.requests[traffic.complete()]
        score = deployed.score(requests)
        churned = requests["churned"].to_numpy(dtype=int)
        received[day + config.label_delay_days].append(requests[["MonthlyCharges"]].assign(
            **{PREDICTION: score, LABEL: churned}))
        if day < ONSET_DAY:
            continue
        window = [f for d in range(day - bench.label_window + 1, day + 1)
                  for f in received.get(d, [])]
        labelled = (pd.concat(window, ignore_index=True) if window
                    else pd.DataFrame(columns=["MonthlyCharges", PREDICTION, LABEL]))
        performance = live_performance(labelled, deployed.threshold, deployed.baseline,
                                       monitoring.business, deployed.calibration)
        estimate = estimator.estimate(score)
        on_window = estimator.estimate(labelled[PREDICTION].to_numpy(dtype=float))
        rows.append({
            "setting": setting.key, "scenario": setting.scenario, "strength": setting.strength,
            "default": setting.default, "seed": seed, "day": day,
            "run": day - ONSET_DAY + 1, "chunk": first_chunk + len(scores), "rows": len(score),
            "realised": float(roc_auc_score(churned, score)) if 0 < churned.sum() < len(churned)
            else np.nan,
            "churnops": estimate.roc_auc, "churnops_low": estimate.roc_auc_low,
            "churnops_high": estimate.roc_auc_high,
            "churnops_warns": warns(estimate, baseline, monitoring),
            "labelled_rows": performance.labelled_rows,
            "window_churnops": on_window.roc_auc, "window_realised": performance.roc_auc,
            "outcomes_act": any(f.severity == "act"
                                for f in performance_findings(performance, monitoring)),
        })
        scores.append(score)
    return rows, scores


def warns(estimate: EstimatedPerformance, baseline: float, monitoring: Any) -> bool:
    """The monitoring's rule on an estimate (``estimate_findings``)."""
    figures = PerformanceFigures(labelled_rows=0, roc_auc=None, recall=None,
                                 value_per_customer=None, baseline_roc_auc=baseline)
    return any(f.severity == "warn" for f in estimate_findings(estimate, figures, monitoring))


# NannyML, in its own virtualenv ------------------------------------------------------------


def nannyml_python(venv: Path) -> Path | None:
    """The python of NannyML's virtualenv, made (or brought up to the pinned lock) with uv
    when needed; None, after one line saying why, when it cannot be."""
    python = venv / "bin" / "python"
    lock = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    stamp = venv / f".installed-requirements-{lock}"
    if python.exists() and stamp.exists():
        return python
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    _progress(f"installing NannyML into {venv} from {REQUIREMENTS.relative_to(ROOT)} "
              "(about 1.8 GB, once)")
    try:
        if not python.exists():
            _run([uv, "venv", "--python", "3.11", str(venv)], timeout=300)
        _run([uv, "pip", "sync", "--python", str(python), str(REQUIREMENTS)], timeout=1800)
    except (OSError, subprocess.SubprocessError) as error:
        print(f"NannyML: no virtualenv at {venv} ({_last_line(error)}); the churnops estimate "
              "is compared with the realised ROC-AUC only.")
        return None
    for old in venv.glob(".installed-requirements-*"):
        old.unlink()
    stamp.touch()
    return python


def nannyml_estimates(python: Path, reference: Reference, rows: pd.DataFrame,
                      scores: list[np.ndarray], threshold: float
                      ) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """NannyML's estimate and sampling error per chunk (nannyml_cbpe.py, one subprocess),
    and what it said about itself; None, after one line, if it failed."""
    with tempfile.TemporaryDirectory(prefix="churnops-cbpe-") as folder:
        paths = {name: Path(folder) / f"{name}.parquet"
                 for name in ("reference", "analysis", "estimates")}
        pd.DataFrame({"score": reference.scores, "churned": reference.churned}).to_parquet(
            paths["reference"], index=False)
        pd.DataFrame({"chunk": np.repeat(rows["chunk"].to_numpy(), [len(s) for s in scores]),
                      "score": np.concatenate(scores)}).to_parquet(paths["analysis"],
                                                                   index=False)
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "NML_DISABLE_USAGE_LOGGING": "1"}
        try:
            done = _run([str(python), str(NANNYML_SCRIPT), str(paths["reference"]),
                         str(paths["analysis"]), str(paths["estimates"]),
                         "--threshold", str(threshold)], timeout=900, env=environment)
            return (pd.read_parquet(paths["estimates"]),
                    json.loads(done.stdout.strip().splitlines()[-1]))
        except (OSError, ValueError, subprocess.SubprocessError) as error:
            print(f"NannyML: its CBPE failed ({_last_line(error)}); the churnops estimate is "
                  "compared with the realised ROC-AUC only.")
            return None


def with_nannyml(rows: pd.DataFrame, estimates: pd.DataFrame | None, baseline: float,
                 monitoring: Any) -> pd.DataFrame:
    """The days with NannyML's estimate, its 95 % interval (NannyML's own sampling error, at
    the churnops width rather than NannyML's ±3) and the warn rule on it."""
    if estimates is None:
        return rows.assign(nannyml=np.nan, nannyml_se=np.nan, nannyml_low=np.nan,
                           nannyml_high=np.nan, nannyml_warns=False)
    merged = rows.merge(estimates[["chunk", "roc_auc", "sampling_error"]].rename(
        columns={"roc_auc": "nannyml", "sampling_error": "nannyml_se"}), on="chunk", how="left")
    merged["nannyml_low"] = (merged["nannyml"] - Z_95 * merged["nannyml_se"]).clip(lower=0)
    merged["nannyml_high"] = (merged["nannyml"] + Z_95 * merged["nannyml_se"]).clip(upper=1)
    merged["nannyml_warns"] = [
        bool(np.isfinite(auc)) and warns(EstimatedPerformance(
            rows=n, roc_auc=auc, roc_auc_low=low, roc_auc_high=high), baseline, monitoring)
        for n, auc, low, high in merged[["rows", "nannyml", "nannyml_low",
                                         "nannyml_high"]].itertuples(index=False)]
    return merged


# Summaries -----------------------------------------------------------------------------------


def summarise(days: pd.DataFrame, settings: Sequence[Setting], baseline: float,
              max_drop: float, arrival_run: int) -> pd.DataFrame:
    """One row per setting: medians over seeds x days, coverage, warn days; and, per seed,
    the first run on which each rule fires (1 = the onset day)."""
    rows = []
    for setting in settings:
        day = days[days["setting"] == setting.key].dropna(subset=["realised"])
        churnops_error = (day["churnops"] - day["realised"]).abs()
        nannyml_error = (day["nannyml"] - day["realised"]).abs()
        first = {rule: _first_runs(day, rule)
                 for rule in ("churnops_warns", "nannyml_warns", "outcomes_act")}
        rows.append({
            "setting": setting.key, "scenario": setting.scenario, "strength": setting.strength,
            "default": setting.default, "outcomes_change": setting.outcomes_change,
            "days": len(day), "realised": day["realised"].median(),
            "churnops": day["churnops"].median(), "nannyml": day["nannyml"].median(),
            "churnops_bias": (day["churnops"] - day["realised"]).median(),
            "nannyml_bias": (day["nannyml"] - day["realised"]).median(),
            "churnops_abs_error": churnops_error.median(),
            "nannyml_abs_error": nannyml_error.median(),
            "churnops_vs_nannyml": (day["churnops"] - day["nannyml"]).abs().median(),
            "window_abs_error": (day["window_churnops"] - day["window_realised"]).abs().median(),
            "churnops_coverage": _inside(day, "churnops").mean(),
            "nannyml_coverage": _inside(day, "nannyml").mean(),
            "churnops_warn_days": day["churnops_warns"].mean(),
            "dropped": day["realised"].median() < baseline - max_drop,
            "seeds": day["seed"].nunique(), "outcomes_arrive_run": arrival_run,
            **{f"{rule}_seeds": sum(r is not None for r in runs) for rule, runs in first.items()},
            **{f"{rule}_first_run": _median(runs) for rule, runs in first.items()},
            **{f"{rule}_first_runs": " ".join("-" if r is None else str(r) for r in runs)
               for rule, runs in first.items()},
        })
    return pd.DataFrame(rows)


def _first_runs(day: pd.DataFrame, rule: str) -> list[int | None]:
    """Per seed, the first run on which ``rule`` fires, or None."""
    return [int(g.loc[g[rule].astype(bool), "run"].min()) if g[rule].any() else None
            for _, g in day.sort_values("run").groupby("seed")]


def _inside(day: pd.DataFrame, estimator: str) -> pd.Series:
    if day[estimator].isna().all():
        return pd.Series(np.nan, index=day.index)
    return ((day[f"{estimator}_low"] <= day["realised"])
            & (day["realised"] <= day[f"{estimator}_high"])).astype(float)


def _median(runs: list[int | None]) -> float:
    hit = [r for r in runs if r is not None]
    return float(np.median(hit)) if hit else np.nan


def print_errors(summary: pd.DataFrame, seeds: int, days: int) -> None:
    print(f"\n1. ROC-AUC estimated from a day's predictions against the realised ROC-AUC on the "
          f"same rows, over {seeds} seeds x {days} days from the onset (* the scenario's "
          "default). Ratio: churnops error / NannyML error. Coverage: days whose realised "
          "ROC-AUC is inside the 95 % interval (NannyML: its own sampling error, same width). "
          "Warn: days the churnops estimate warns. Window: the monitoring's own daily "
          "comparison, the churnops estimate against the realised ROC-AUC on the outcomes "
          "received in the label window.")
    print(f"  {'':<26} {'median ROC-AUC':^26}  {'median |estimate - realised|':^38}"
          f"  {'coverage':^17}       {'window':>6}")
    print(f"  {'scenario':<17} {'strength':>8} {'realised':>8} {'churnops':>8} {'NannyML':>8}"
          f"  {'churnops':>8} {'NannyML':>8} {'ratio':>6} {'churnops-NannyML':>16}"
          f"  {'churnops':>8} {'NannyML':>8} {'warn':>5} {'|error|':>7}")
    for strong in (False, True):
        for row in summary[summary["default"] != strong].itertuples():
            mark = "*" if row.default else " "
            note = "  (outcomes change)" if row.outcomes_change else ""
            print(f"  {row.scenario:<17} {row.strength:>7g}{mark} {row.realised:>8.3f}"
                  f" {row.churnops:>8.3f} {_f(row.nannyml)}  {row.churnops_abs_error:>8.3f}"
                  f" {_f(row.nannyml_abs_error)} {_ratio(row):>6}"
                  f" {_f(row.churnops_vs_nannyml, 16)}  {row.churnops_coverage:>8.0%}"
                  f" {_f(row.nannyml_coverage, 8, '.0%')} {row.churnops_warn_days:>5.0%}"
                  f" {_f(row.window_abs_error, 7)}{note}")
        if not strong:
            print("  strong strengths:")


def print_detection(summary: pd.DataFrame, baseline: float, max_drop: float,
                    delay: int) -> None:
    dropped = summary[summary["dropped"]]
    print(f"\n2. Settings whose realised ROC-AUC (median) is more than {max_drop:g} below the "
          f"training-time {baseline:.3f}: the first run after the onset (1 = the onset day) "
          f"on which the estimate's 95 % interval is wholly below {baseline - max_drop:.3f} "
          f"(the warn rule), and on which the outcomes act. Outcomes of the onset day arrive "
          f"on run {delay + 1} ({delay} days late). Seeds that fired / seeds; median run "
          "[each seed's run, - = never in the horizon]")
    if dropped.empty:
        print("  none")
        return
    for row in dropped.itertuples():
        print(f"  {row.scenario} {row.strength:g}{'*' if row.default else ''}: realised "
              f"{row.realised:.3f} ({row.realised - baseline:+.3f})"
              + ("; the outcomes change, the estimate cannot follow" if row.outcomes_change
                 else ""))
        for label, rule in (("churnops warns", "churnops_warns"),
                            ("NannyML, same rule", "nannyml_warns"),
                            ("outcomes act", "outcomes_act")):
            runs = getattr(row, f"{rule}_first_runs")
            count = getattr(row, f"{rule}_seeds")
            if rule == "nannyml_warns" and np.isnan(row.nannyml):
                continue
            median = getattr(row, f"{rule}_first_run")
            text = f"run {median:g}" if np.isfinite(median) else "never"
            lead = ""
            if rule != "outcomes_act" and np.isfinite(median):
                lead = f"; {_lead(delay + 1 - median)}"
            print(f"    {label:<19} {count:>2}/{row.seeds:<2} {text:<9} [{runs}]{lead}")


def _lead(runs: float) -> str:
    if runs > 0:
        return f"{runs:g} runs before the first outcomes arrive"
    return ("on the run the first outcomes arrive" if runs == 0
            else f"{-runs:g} runs after the first outcomes arrive")


def _f(value: float, width: int = 8, spec: str = ".3f") -> str:
    return f"{value:>{width}{spec}}" if np.isfinite(value) else f"{'-':>{width}}"


def _ratio(row: Any) -> str:
    if not np.isfinite(row.nannyml_abs_error) or row.nannyml_abs_error == 0:
        return "-"
    return f"{row.churnops_abs_error / row.nannyml_abs_error:.2f}"


# Running it ------------------------------------------------------------------------------------


def _run(command: list[str], timeout: float, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout,
                          env=env)


def _last_line(error: BaseException) -> str:
    stderr = getattr(error, "stderr", None) or ""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else str(error)


def _progress(text: str) -> None:
    print(f"  ... {text} ({time.monotonic() - STARTED:.0f} s)", file=sys.stderr, flush=True)


STARTED = time.monotonic()


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10,
                        help=f"Held-out seeds, from {HELD_OUT_FIRST_SEED}.")
    parser.add_argument("--days", type=int, default=8, help="Days from the onset (day 4).")
    parser.add_argument("--model-version")
    parser.add_argument("--nannyml-venv", type=Path, default=ROOT / ".venv-nannyml")
    parser.add_argument("--no-nannyml", action="store_true",
                        help="The churnops estimate against the outcomes only.")
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / "churnops-estimation-benchmark")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.disable(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    python = None if args.no_nannyml else nannyml_python(args.nannyml_venv)
    bench = load_bench(args.model_version)
    reference = load_reference(bench)
    estimator = Estimator.fit(reference.scores, reference.churned)
    baseline = float(bench.deployed.baseline["roc_auc"])
    max_drop, delay = bench.settings.max_roc_auc_drop, int(bench.simulation["label_delay_days"])
    seeds = list(range(HELD_OUT_FIRST_SEED, HELD_OUT_FIRST_SEED + args.seeds))
    settings = settings_to_run()
    _progress(f"churn-model v{bench.deployed.version} and its reference loaded")

    rows: list[dict[str, Any]] = []
    scores: list[np.ndarray] = []
    for setting in settings:
        for seed in seeds:
            day_rows, day_scores = simulate(bench, estimator, setting, seed, args.days,
                                            len(scores))
            rows += day_rows
            scores += day_scores
        _progress(f"{setting.key}: {len(seeds)} seeds x {args.days} days")
    days = pd.DataFrame(rows)
    found = (nannyml_estimates(python, reference, days, scores, bench.deployed.threshold)
             if python else None)
    if found:
        _progress(f"NannyML {found[1]['nannyml']}: {found[1]['chunks']} chunks in "
                  f"{found[1]['seconds']} s")
    days = with_nannyml(days, found[0] if found else None, baseline, bench.settings)
    summary = summarise(days, settings, baseline, max_drop, delay + 1)

    print(f"churn-model v{bench.deployed.version}: training-time ROC-AUC {baseline:.3f} "
          f"(holdout); reference: {len(reference.scores)} customers of the reference pool "
          f"(churn rate {reference.churned.mean():.1%}); "
          f"{bench.simulation['requests_per_day']} requests a day from the future pool; "
          f"held-out seeds {seeds[0]}-{seeds[-1]}, days {ONSET_DAY}-{ONSET_DAY + args.days - 1}"
          f" (onset day {ONSET_DAY}); outcomes {delay} days late, label window "
          f"{bench.label_window} days")
    if found:
        print(f"NannyML {found[1]['nannyml']} CBPE: isotonic calibration "
              f"{'applied' if found[1]['calibrated'] else 'not applied (needs_calibration: no)'}"
              f"; churnops: Platt scaling on the log-odds")
    elif args.no_nannyml:
        print("NannyML: not run (--no-nannyml)")
    print_errors(summary, len(seeds), args.days)
    print_detection(summary, baseline, max_drop, delay)
    days.to_csv(args.out / "results.csv", index=False)
    summary.to_csv(args.out / "summary.csv", index=False)
    print(f"\nResults: {args.out / 'results.csv'} (one row per day), "
          f"{args.out / 'summary.csv'} ({time.monotonic() - STARTED:.0f} s)")


if __name__ == "__main__":
    main()
