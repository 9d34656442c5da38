"""Challengers judged on outcomes: is a truly better candidate promoted, a worse one not?

    python benchmarks/challenger/run.py [--seeds 20] [--first-seed 100] [--days 14]
        [--requests-per-day 300] [--label-delay-days 2] [--modes shadow,canary]
        [--canary-share 0.2] [--weakened-features PaperlessBilling] [--out DIR]

Needs no registry, stack or service. The cleaned Telco customers are split by customer
into three pools that never share a customer:
  * production (20 %): the future pool (churnops/data.py's POOLS); the simulated traffic
    (TrafficSimulator, scenario `concept_drift`, onset day 1: every simulated day is
    drifted) is drawn from it alone, as in `run.py loop`;
  * training (50 %, the rest shuffled with the seed): the primary, a hist_gradient_boosting
    pipeline (`build_pipeline`), is fitted on it with the pre-drift labels;
  * retraining (30 %): the "better" candidate, the same pipeline, is fitted on it with
    post-drift labels (simulation/scenarios.py's concept-drift rule, `concept_drift_churn`,
    applied once to every customer with strength 0.8).
The "weakened" candidate is a logistic regression on one weak feature, PaperlessBilling
(`--weakened-features` names others), fitted on the training pool. Every model's threshold
is its business
optimum (`best_threshold`) on out-of-fold predictions over its own training pool. The truth
is each candidate's difference from the primary on 20,000 drifted draws of the production
pool.

The candidate goes live on day 1, as a shadow (scores every request: paired) or as a canary
(answers `--canary-share` of them: A/B). Outcomes of day d arrive on day d + label delay.
Each day, three rules look at every outcome received so far:
  * churnops: `judge_shadow` / `judge_canary` with configs/monitoring.yaml's `challenger`
    and `business` settings; stops at the first promote or roll_back;
  * agreement (the rule before judged promotion): the service's CanaryMonitor with
    configs/continuous_training.yaml's `bounds` watches the candidate's first day of
    requests; promoted after that day unless it rolled the candidate back;
  * point estimate: once min_outcomes outcomes are in (per arm for a canary), promote if the
    candidate's observed ROC-AUC is higher than the primary's, else roll back.
A wrong call is promoting the weakened candidate or rolling back the better one; "no call"
by the last day is counted apart. It prints a progress line per seed, a table per mode and
the wrong-call rates with ratios, and writes results.csv and days_to_decision.png under
--out.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# Third-party deprecation chatter would bury the tables.
warnings.filterwarnings("ignore")

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from churnops import data, paths, schema, settings  # noqa: E402
from churnops.challenger import Arm, Interval, judge_canary, judge_shadow  # noqa: E402
from churnops.modeling.candidates import build_pipeline  # noqa: E402
from churnops.modeling.evaluation import MONTHLY_CHARGES, best_threshold  # noqa: E402
from churnops.settings import (  # noqa: E402
    BusinessSettings,
    CanaryBounds,
    ChallengerJudgement,
    LoopSettings,
    MonitoringSettings,
    SimulationSettings,
)
from ops.loop import load_config  # noqa: E402
from serving.routing import CanaryMonitor  # noqa: E402
from simulation.scenarios import concept_drift_churn  # noqa: E402
from simulation.traffic import TrafficSimulator  # noqa: E402

TRAINING_SHARE = 0.625
"""Of the customers outside the future pool, the primary's share; the rest retrain."""
CONCEPT_STRENGTH = 0.8
"""The concept drift's strength in this benchmark (the published figures)."""
PRIMARY_MODEL = "hist_gradient_boosting"
WEAKENED_FEATURES = ("PaperlessBilling",)
CANDIDATES = ("better", "weakened")
MODES = ("shadow", "canary")
RULES = ("churnops", "agreement", "point estimate")
TRUTH_DRAWS = 20_000
TRUTH_DAY = 10_000
"""The truth sample is this simulated day: its draw is independent of the simulated days."""
THRESHOLD_FOLDS = 2
WRONG_CALL_TARGET = 1 / 20
FEATURES = list(schema.FEATURE_NAMES)


@dataclass(frozen=True)
class Config:
    judgement: ChallengerJudgement
    business: BusinessSettings
    bounds: CanaryBounds
    simulation: SimulationSettings
    """Scenario concept_drift from day 1; its seed is set per run."""
    canary_share: float
    days: int
    weakened_features: tuple[str, ...]


def load_settings(requests_per_day: int, label_delay_days: int, canary_share: float,
                  days: int, weakened_features: tuple[str, ...]) -> Config:
    """The judgement and business settings of configs/monitoring.yaml, the canary bounds of
    configs/continuous_training.yaml, the drift strength of configs/continuous.yaml."""
    monitoring = MonitoringSettings(
        **settings.run_config(paths.CONFIG_DIR / "monitoring.yaml")["parameters"]["settings"])
    loop = LoopSettings(**settings.run_config(
        paths.CONFIG_DIR / "continuous_training.yaml")["parameters"]["loop"])
    simulation = SimulationSettings(**{
        **load_config()[0], "scenario": "concept_drift", "strength": CONCEPT_STRENGTH,
        "onset_day": 1,
        "requests_per_day": requests_per_day, "label_delay_days": label_delay_days})
    return Config(
        judgement=monitoring.challenger, business=monitoring.business, bounds=loop.bounds,
        simulation=simulation,
        canary_share=canary_share, days=days, weakened_features=weakened_features)


# Customers and models --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pools:
    training: pd.DataFrame
    retraining: pd.DataFrame
    production: pd.DataFrame


def split_customers(customers: pd.DataFrame, seed: int) -> Pools:
    """Production is the future pool (``churnops.data.POOLS``), as in the simulator; the
    other customers are shuffled with ``seed`` into training and retraining."""
    future = data.in_pools(customers, "future").to_numpy()
    known = customers[~future]
    order = np.random.default_rng(seed).permutation(len(known))
    cut = round(TRAINING_SHARE * len(known))
    return Pools(known.iloc[order[:cut]].reset_index(drop=True),
                 known.iloc[order[cut:]].reset_index(drop=True),
                 customers[future].reset_index(drop=True))


def post_drift_labels(frame: pd.DataFrame, strength: float, seed: int) -> np.ndarray:
    """The simulator's concept drift applied once to each customer: its price-rise segment
    churns with probability ``strength``, whatever it did before."""
    churned = data.label(frame).to_numpy().astype(bool)
    return concept_drift_churn(frame, churned, strength, np.random.default_rng([seed, 1])
                               ).astype(int)


@dataclass(frozen=True)
class Model:
    pipeline: Pipeline
    threshold: float

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(frame[FEATURES])[:, 1]


def weakened_pipeline(features: Sequence[str], seed: int) -> Pipeline:
    """A logistic regression that sees only ``features``."""
    encode = ColumnTransformer([
        (name, OneHotEncoder(categories=[list(schema.BY_NAME[name].categories)]), [name])
        if name in schema.CATEGORICAL_FEATURES else (name, StandardScaler(), [name])
        for name in features
    ], remainder="drop")
    return Pipeline([("preprocess", encode),
                     ("model", LogisticRegression(max_iter=1000, random_state=seed))])


def fit(pipeline: Pipeline, frame: pd.DataFrame, churned: np.ndarray, seed: int,
        business: BusinessSettings) -> Model:
    """``pipeline`` fitted on ``frame``; its threshold the business optimum on out-of-fold
    predictions over the same rows."""
    folds = StratifiedKFold(THRESHOLD_FOLDS, shuffle=True, random_state=seed)
    out_of_fold = cross_val_predict(pipeline, frame[FEATURES], churned, cv=folds,
                                    method="predict_proba")[:, 1]
    threshold, _ = best_threshold(churned, out_of_fold, frame[MONTHLY_CHARGES], business)
    return Model(pipeline.fit(frame[FEATURES], churned), threshold)


def fit_models(pools: Pools, seed: int, config: Config) -> dict[str, Model]:
    """The primary and both candidates."""
    pre = data.label(pools.training).to_numpy()
    post = post_drift_labels(pools.retraining, config.simulation.strength, seed)
    return {
        "primary": fit(build_pipeline(PRIMARY_MODEL, seed), pools.training, pre, seed,
                       config.business),
        "better": fit(build_pipeline(PRIMARY_MODEL, seed), pools.retraining, post, seed,
                      config.business),
        "weakened": fit(weakened_pipeline(config.weakened_features, seed), pools.training,
                        pre, seed, config.business),
    }


@dataclass(frozen=True)
class Truth:
    """Candidate minus primary on the truth sample: ROC-AUC, and value per customer (USD per
    month) at each model's own threshold."""

    roc_auc: float
    value: float


def true_differences(models: dict[str, Model], production: pd.DataFrame, seed: int,
                     config: Config) -> dict[str, Truth]:
    """Each candidate against the primary on ``TRUTH_DRAWS`` drifted production draws."""
    simulation = config.simulation.model_copy(update={"requests_per_day": TRUTH_DRAWS,
                                                      "seed": seed})
    sample = TrafficSimulator(production, simulation).day(TRUTH_DAY).requests
    arms = {name: arm(model.score(sample), sample, model.threshold)
            for name, model in models.items()}
    everything = np.arange(len(sample))
    return {name: Truth(arms[name].roc_auc(everything) - arms["primary"].roc_auc(everything),
                        arms[name].value(everything, config.business)
                        - arms["primary"].value(everything, config.business))
            for name in CANDIDATES}


def arm(probability: np.ndarray, requests: pd.DataFrame, threshold: float) -> Arm:
    return Arm(probability=probability, churned=requests["churned"].to_numpy(int),
               monthly_charges=requests[MONTHLY_CHARGES].to_numpy(float), threshold=threshold)


# Simulated days ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """Every simulated request of one seed, scored by every model."""

    requests: pd.DataFrame
    day: np.ndarray
    canary: np.ndarray
    """Whether a canary would answer the request."""
    probability: dict[str, np.ndarray]
    threshold: dict[str, float]

    def arm(self, model: str, rows: np.ndarray) -> Arm:
        return arm(self.probability[model][rows], self.requests.iloc[rows],
                   self.threshold[model])

    def decisions(self, model: str) -> np.ndarray:
        return self.probability[model] >= self.threshold[model]


def simulate(production: pd.DataFrame, models: dict[str, Model], seed: int,
             config: Config) -> Traffic:
    """Days 1..``config.days`` of production traffic, scored by all models."""
    simulator = TrafficSimulator(production, config.simulation.model_copy(update={"seed": seed}))
    days = [simulator.day(day).requests for day in range(1, config.days + 1)]
    requests = pd.concat(days, ignore_index=True)
    day = np.repeat(np.arange(1, config.days + 1), [len(d) for d in days])
    canary = np.random.default_rng([seed, 2]).random(len(requests)) < config.canary_share
    return Traffic(requests, day, canary,
                   {name: model.score(requests) for name, model in models.items()},
                   {name: model.threshold for name, model in models.items()})


@dataclass(frozen=True)
class Call:
    """One rule's call on one candidate in one mode and seed."""

    seed: int
    mode: str
    candidate: str
    rule: str
    decision: str
    """promote, roll_back, or none (no call by the last day)."""
    day: int | None
    outcomes: int
    truth: Truth
    roc_auc: Interval | None = None
    value: Interval | None = None

    @property
    def wrong(self) -> bool:
        return (self.candidate, self.decision) in {("weakened", "promote"),
                                                    ("better", "roll_back")}


Arms = tuple[Arm, Arm]
"""(primary, candidate) on the outcomes received so far."""


def received(traffic: Traffic, candidate: str, mode: str, day: int,
             config: Config) -> Arms:
    """The arms on the outcomes received by ``day``: of requests made at least the label
    delay earlier; a canary's primary arm holds the requests the primary answered."""
    labelled = traffic.day <= day - config.simulation.label_delay_days
    if mode == "shadow":
        rows = np.flatnonzero(labelled)
        return traffic.arm("primary", rows), traffic.arm(candidate, rows)
    return (traffic.arm("primary", np.flatnonzero(labelled & ~traffic.canary)),
            traffic.arm(candidate, np.flatnonzero(labelled & traffic.canary)))


def churnops_rule(arms: Arms, mode: str, config: Config) -> tuple[str, dict]:
    judge = judge_shadow if mode == "shadow" else judge_canary
    verdict = judge(*arms, config.judgement, config.business)
    return verdict.decision, {"roc_auc": verdict.roc_auc_difference,
                              "value": verdict.value_per_customer_difference}


def point_estimate_rule(arms: Arms, mode: str, config: Config) -> tuple[str, dict]:
    primary, candidate = arms
    if min(len(primary.churned), len(candidate.churned)) < config.judgement.min_outcomes:
        return "wait", {}
    auc = [a.roc_auc(np.arange(len(a.churned))) for a in arms]
    if any(math.isnan(x) for x in auc):
        return "wait", {}
    return ("promote" if auc[1] > auc[0] else "roll_back"), {}


def agreement_rule(traffic: Traffic, candidate: str, mode: str, config: Config) -> str:
    """The service's canary bounds over the candidate's first day of requests, in order."""
    rows = traffic.day == 1
    if mode == "canary":
        rows &= traffic.canary
    agreed = traffic.decisions(candidate)[rows] == traffic.decisions("primary")[rows]
    monitor = CanaryMonitor(config.bounds)
    if any(monitor.record(failed=False, agreed=bool(a)) for a in agreed):
        return "roll_back"
    return "promote"


DailyRule = Callable[[Arms, str, Config], tuple[str, dict]]


def follow(rule: DailyRule, name: str, traffic: Traffic, candidate: str, mode: str,
           seed: int, truth: Truth, config: Config) -> Call:
    """Apply ``rule`` each day until it promotes or rolls back."""
    for day in range(1, config.days + 1):
        arms = received(traffic, candidate, mode, day, config)
        decision, intervals = rule(arms, mode, config)
        outcomes = min(len(a.churned) for a in arms)
        if decision in ("promote", "roll_back"):
            return Call(seed, mode, candidate, name, decision, day, outcomes, truth,
                        **intervals)
    return Call(seed, mode, candidate, name, "none", None, outcomes, truth, **intervals)


def run_seed(customers: pd.DataFrame, seed: int, modes: Sequence[str],
             config: Config) -> list[Call]:
    pools = split_customers(customers, seed)
    models = fit_models(pools, seed, config)
    truth = true_differences(models, pools.production, seed, config)
    traffic = simulate(pools.production, models, seed, config)
    calls = []
    for mode in modes:
        for candidate in CANDIDATES:
            calls.append(follow(churnops_rule, "churnops", traffic, candidate, mode, seed,
                                truth[candidate], config))
            calls.append(Call(seed, mode, candidate, "agreement",
                              agreement_rule(traffic, candidate, mode, config), 1,
                              0, truth[candidate]))
            calls.append(follow(point_estimate_rule, "point estimate", traffic, candidate,
                                mode, seed, truth[candidate], config))
    return calls


# Reporting ---------------------------------------------------------------------------------------


def bound(mode: str, config: Config) -> int:
    """Label delay + the days that bring ``min_outcomes`` paired outcomes (per arm for a
    canary: its share of the day's requests)."""
    per_day = config.simulation.requests_per_day * (config.canary_share if mode == "canary"
                                                    else 1.0)
    return config.simulation.label_delay_days + math.ceil(
        config.judgement.min_outcomes / per_day)


def progress(seed: int, calls: list[Call], elapsed: float) -> str:
    truth = {c.candidate: c.truth for c in calls}
    parts = [f"{name} dAUC {t.roc_auc:+.3f} dvalue {t.value:+.2f}" for name, t in truth.items()]
    verdicts = [f"{c.mode} {c.candidate} {c.decision}"
                + (f" d{c.day} ({c.outcomes})" if c.day else "")
                for c in calls if c.rule == "churnops"]
    return f"seed {seed}: {'; '.join(parts)} | {', '.join(verdicts)} [{elapsed:.0f} s]"


def _days(calls: list[Call]) -> str:
    days = [c.day for c in calls if c.day is not None]
    return f"{median(days):g} / {max(days)}" if days else "-"


def _spread(values: list[float], spec: str) -> str:
    return (f"{median(values):{spec}} [{min(values):{spec}}, {max(values):{spec}}]")


def print_mode(mode: str, calls: list[Call], config: Config) -> None:
    n = len({c.seed for c in calls})
    limit = bound(mode, config)
    how = ("paired on every request" if mode == "shadow"
           else f"A/B, the candidate answers {config.canary_share:.0%} of requests")
    print(f"\n{mode}: {how}; bound label delay + ceil(min_outcomes / outcomes per day) = "
          f"{limit} days; {n} seeds")
    print(f"{'candidate':<9} {'true dAUC median [min, max]':>28} {'true dvalue':>22} "
          f"{'rule':<15} {'promoted':>8} {'rolled back':>11} {'no call':>7} {'wrong':>5} "
          f"{'days med / max':>14} {'<= bound':>8}")
    for candidate in CANDIDATES:
        mine = [c for c in calls if c.candidate == candidate]
        truths = {c.seed: c.truth for c in mine}.values()
        for index, rule in enumerate(RULES):
            ruled = [c for c in mine if c.rule == rule]
            count = {d: sum(c.decision == d for c in ruled)
                     for d in ("promote", "roll_back", "none")}
            on_time = sum(c.day is not None and c.day <= limit for c in ruled)
            head = (f"{candidate:<9} {_spread([t.roc_auc for t in truths], '+.3f'):>28} "
                    f"{_spread([t.value for t in truths], '+.2f'):>22}" if index == 0
                    else " " * 61)
            print(f"{head} {rule:<15} {count['promote']:>8} {count['roll_back']:>11} "
                  f"{count['none']:>7} {sum(c.wrong for c in ruled):>5} "
                  f"{_days(ruled):>14} {on_time:>8}")


def print_summary(calls: list[Call], modes: Sequence[str]) -> None:
    print(f"\nwrong calls (promoting the weakened or rolling back the better candidate), "
          f"target <= {WRONG_CALL_TARGET:.0%} of runs; ratio = rule / churnops")
    print(f"{'mode':<7} {'rule':<15} {'wrong':>11} {'rate':>6} {'ratio':>7} {'no call':>7} "
          f"{'median days':>11} {'ratio':>7}")
    for mode in modes:
        ours = [c for c in calls if c.mode == mode and c.rule == "churnops"]
        for rule in RULES:
            ruled = [c for c in calls if c.mode == mode and c.rule == rule]
            wrong = sum(c.wrong for c in ruled)
            days = [c.day for c in ruled if c.day is not None]
            our_days = [c.day for c in ours if c.day is not None]
            ratio = _ratio(wrong, sum(c.wrong for c in ours))
            day_ratio = (f"{median(days) / median(our_days):.2f}x" if days and our_days
                         else "-")
            verdict = "" if rule != "churnops" else (
                " PASS" if wrong <= WRONG_CALL_TARGET * len(ruled) else " FAIL")
            print(f"{mode:<7} {rule:<15} {f'{wrong}/{len(ruled)}':>11} "
                  f"{wrong / len(ruled):>6.1%} {ratio:>7} "
                  f"{sum(c.decision == 'none' for c in ruled):>7} "
                  f"{format(median(days), 'g') if days else '-':>11} {day_ratio:>7}{verdict}")


def _ratio(theirs: int, ours: int) -> str:
    if ours:
        return f"{theirs / ours:.1f}x"
    return "-" if theirs == 0 else "inf"


def check_truth(calls: list[Call], config: Config) -> None:
    """Say so when a seed's candidate is not what its name claims."""
    margins = config.judgement.margin_roc_auc, config.judgement.margin_value_per_customer
    truths = {(c.seed, c.candidate): c.truth for c in calls}
    for (seed, candidate), truth in sorted(truths.items(), key=lambda item: item[0]):
        better = truth.roc_auc > 0 and truth.value > 0
        worse = truth.roc_auc < -margins[0] or truth.value < -margins[1]
        if (candidate == "better" and not better) or (candidate == "weakened" and not worse):
            print(f"  note: seed {seed}'s {candidate} candidate is not truly {candidate}: "
                  f"dAUC {truth.roc_auc:+.3f}, dvalue {truth.value:+.2f}")


def write_csv(calls: list[Call], path: Path) -> None:
    def interval(i: Interval | None) -> list[float | str]:
        return [i.estimate, i.low, i.high] if i else ["", "", ""]

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["seed", "mode", "candidate", "rule", "decision", "day", "outcomes",
                         "wrong", "true_roc_auc_diff", "true_value_diff", "roc_auc_diff",
                         "roc_auc_low", "roc_auc_high", "value_diff", "value_low",
                         "value_high"])
        for c in calls:
            writer.writerow([c.seed, c.mode, c.candidate, c.rule, c.decision,
                             "" if c.day is None else c.day, c.outcomes, c.wrong,
                             c.truth.roc_auc, c.truth.value, *interval(c.roc_auc),
                             *interval(c.value)])


def plot(calls: list[Call], modes: Sequence[str], config: Config, path: Path) -> None:
    """Days to decision per seed: churnops's calls, and the point-estimate rule's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4), squeeze=False,
                             sharey=True)
    markers = {"promote": "o", "roll_back": "x", "none": "^"}
    series = (("churnops", "better", "tab:green", -0.3), ("churnops", "weakened", "tab:red", -0.1),
              ("point estimate", "better", "tab:olive", 0.1),
              ("point estimate", "weakened", "tab:orange", 0.3))
    seeds = sorted({c.seed for c in calls})
    for axis, mode in zip(axes[0], modes, strict=True):
        for rule, candidate, colour, shift in series:
            for decision, marker in markers.items():
                mine = [c for c in calls if (c.mode, c.rule, c.candidate, c.decision)
                        == (mode, rule, candidate, decision)]
                if mine:
                    axis.scatter([c.seed + shift for c in mine],
                                 [c.day or config.days + 1 for c in mine], marker=marker,
                                 color=colour, s=22, label=f"{rule}: {candidate} {decision}")
        axis.axhline(bound(mode, config), color="grey", linestyle="--", linewidth=0.8)
        axis.annotate("bound", (seeds[-1] + 0.4, bound(mode, config) + 0.15), fontsize=8,
                      ha="right")
        axis.set_xticks(seeds[::max(1, len(seeds) // 10)])
        axis.set_title(mode)
        axis.set_xlabel("seed")
        axis.set_ylim(0, config.days + 2)
        axis.set_yticks(range(0, config.days + 2, 2))
    axes[0][0].set_ylabel(f"day of decision (no call: {config.days + 1})")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=100,
                        help="report seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--days", type=int, default=14, help="simulated days per run")
    parser.add_argument("--requests-per-day", type=int, default=300)
    parser.add_argument("--label-delay-days", type=int, default=2)
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated subset of {', '.join(MODES)}")
    parser.add_argument("--canary-share", type=float, default=0.2)
    parser.add_argument("--weakened-features", default=",".join(WEAKENED_FEATURES),
                        help="the weakened candidate's only inputs, comma-separated")
    parser.add_argument("--out", type=Path,
                        default=paths.reports_dir() / "benchmarks" / "challenger")
    args = parser.parse_args()
    if min(args.seeds, args.days, args.requests_per_day) < 1:
        parser.error("--seeds, --days and --requests-per-day must be positive")
    modes = args.modes.split(",")
    if not set(modes) <= set(MODES):
        parser.error(f"--modes: choose among {', '.join(MODES)}")
    weakened = tuple(args.weakened_features.split(","))
    if not set(weakened) <= set(FEATURES):
        parser.error("--weakened-features: feature names of churnops.schema")

    started = time.perf_counter()
    config = load_settings(args.requests_per_day, args.label_delay_days, args.canary_share,
                           args.days, weakened)
    customers = data.clean(data.load_raw(paths.RAW_DATA))[0]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"judgement: {config.judgement.model_dump()}; business: "
          f"{config.business.model_dump()}")
    print(f"agreement rule: {config.bounds.model_dump()}; concept drift strength "
          f"{config.simulation.strength} from day 1; "
          f"{args.requests_per_day} requests a day, outcomes {args.label_delay_days} days "
          f"later; seeds {seeds.start}..{seeds.stop - 1}; weakened candidate: logistic "
          f"regression on {', '.join(weakened)}")
    calls: list[Call] = []
    for seed in seeds:
        mine = run_seed(customers, seed, modes, config)
        calls += mine
        print(progress(seed, mine, time.perf_counter() - started), flush=True)

    check_truth(calls, config)
    for mode in modes:
        print_mode(mode, [c for c in calls if c.mode == mode], config)
    print_summary(calls, modes)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(calls, args.out / "results.csv")
    plot(calls, modes, config, args.out / "days_to_decision.png")
    print(f"\nwrote {args.out / 'results.csv'} and {args.out / 'days_to_decision.png'} in "
          f"{time.perf_counter() - started:.0f} s")
    print(f"reproduce: python benchmarks/challenger/run.py --seeds {args.seeds} "
          f"--first-seed {args.first_seed} --days {args.days} --requests-per-day "
          f"{args.requests_per_day} --label-delay-days {args.label_delay_days} --modes "
          f"{args.modes} --canary-share {args.canary_share} --weakened-features "
          f"{args.weakened_features} --out {args.out}")


if __name__ == "__main__":
    main()
