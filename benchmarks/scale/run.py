"""How churnops' cost grows with the customer base: wall time and peak memory per stage.

    python benchmarks/scale/run.py [--sizes 7000,70000,700000] [--large]
        [--stages generate,batch_scoring,log_write,monitoring] [--backends sqlite,postgresql]
        [--postgres-url URL] [--model-version N] [--out DIR]

Needs a registered model (`python run.py pipeline training` first); it reads churn-model@
champion (or `--model-version`) and changes nothing of the project's state. `--large` adds
7,000,000 customers (about 25 minutes and 5 GB of disk on two cores); the default sizes take
a few minutes.

For each size, a customer base is generated from the future pool (simulation/customers.py)
and written to parquet; then each stage runs in a process of its own, so that its peak
memory (RSS) is its own:

  generate        the customer base, written to parquet;
  batch_scoring   churnops' batch scoring (the inference pipeline's scoring function) on
                  the base, beside the baseline: one raw `predict_proba` call on the same
                  rows and model (ratio = churnops' throughput / the raw call's);
  log_write       every customer as an answered prediction with its outcome, written to the
                  inference log (SQLite; PostgreSQL too when reachable) in transactions of
                  1,000 rows, as the service's batches and the outcome feed would;
  monitoring      one monitoring run over that log as its window: the window read, the
                  drift tests against the reference, live performance and the decision
                  (the monitoring pipeline's functions, without ZenML).

It prints a table, the log-log slope of each stage's time between consecutive sizes, and
writes results.csv and scale.png under --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (7_000, 70_000, 700_000)
LARGE_SIZES = (7_000_000,)
STAGES = ("generate", "batch_scoring", "log_write", "monitoring")
LOG_BATCH_ROWS = 1_000
BASE_SEED = 0
POSTGRES = ("127.0.0.1", 5432)


# Stages: each runs in a child process and returns its figures --------------------------------


def stage_generate(size: int, work: Path, **_: Any) -> dict[str, Any]:
    from churnops import data, paths
    from simulation.customers import customer_base

    customers = data.clean(data.load_raw(paths.RAW_DATA))[0]
    started = time.perf_counter()
    base = customer_base(customers, size, seed=BASE_SEED)
    base.to_parquet(_base_path(work, size), index=False)
    return {"seconds": time.perf_counter() - started, "rows": size}


def stage_batch_scoring(size: int, work: Path, model_version: str, **_: Any
                        ) -> dict[str, Any]:
    import pandas as pd

    from churnops import schema
    from churnops.modeling.evaluation import predict_proba

    model = _load_model(model_version)
    frame = pd.read_parquet(_base_path(work, size), columns=list(schema.FEATURE_NAMES))
    model.predict_proba(frame.head(100))  # imports and thread pools start outside the timing
    started = time.perf_counter()
    raw = model.predict_proba(frame)[:, 1]
    raw_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scored = predict_proba(model, frame)
    seconds = time.perf_counter() - started
    assert np.array_equal(raw, scored)
    return {"seconds": seconds, "rows": size, "baseline_seconds": raw_seconds}


def stage_log_write(size: int, work: Path, model_version: str, log_url: str, **_: Any
                    ) -> dict[str, Any]:
    from churnops.inference_log import PredictionRecord
    from serving.inference_log import Feedback, InferenceLog

    started = time.perf_counter()
    with InferenceLog(log_url) as log:
        for chunk in _chunks(work, size, model_version):
            for i in range(0, len(chunk), LOG_BATCH_ROWS):
                rows = chunk[i:i + LOG_BATCH_ROWS]
                log.record_predictions([PredictionRecord(**r["record"]) for r in rows])
                log.record_feedback([Feedback(r["record"]["customer_id"], r["churned"],
                                              r["record"]["request_id"]) for r in rows])
    return {"seconds": time.perf_counter() - started, "rows": size}


def stage_monitoring(size: int, work: Path, model_version: str, log_url: str, **_: Any
                     ) -> dict[str, Any]:
    from churnops import data, paths, schema
    from churnops.drift import shift_figures
    from churnops.inference_log import LABEL, PREDICTION, InferenceLogReader, log_frame
    from churnops.monitoring import RefusedRequests, decide, live_performance
    from churnops.settings import MonitoringSettings

    model = _load_model(model_version)
    customers = data.clean(data.load_raw(paths.RAW_DATA))[0]
    pool = customers[data.in_pools(customers, "reference")]
    reference = pool[list(schema.FEATURE_NAMES)].assign(
        **{PREDICTION: model.predict_proba(pool[list(schema.FEATURE_NAMES)])[:, 1]})
    holdout = reference.assign(**{LABEL: data.label(pool).to_numpy()})
    settings = MonitoringSettings()
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)
    started = time.perf_counter()
    with InferenceLogReader(log_url) as log:
        current = log_frame(log.answered_between(start, end, model_version))
        labelled = log_frame(log.outcomes_between(start, end, model_version))
        refused = RefusedRequests.of(len(current), log.refused_between(start, end))
    read = time.perf_counter() - started
    drift = shift_figures(reference, current, PREDICTION)
    performance = live_performance(labelled, 0.5, {"roc_auc": 0.84}, settings.business,
                                   holdout)
    decision = decide(drift, performance, [], settings, model_version, refused=refused)
    seconds = time.perf_counter() - started
    assert len(current) == size, (len(current), size)
    return {"seconds": seconds, "rows": size, "read_seconds": read,
            "severity": decision.severity}


def _load_model(version: str) -> Any:
    import mlflow

    from churnops import REGISTERED_MODEL_NAME, paths

    mlflow.set_tracking_uri(paths.mlflow_tracking_uri())
    return mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL_NAME}/{version}")


def _base_path(work: Path, size: int) -> Path:
    return work / f"customers-{size}.parquet"


def _chunks(work: Path, size: int, model_version: str, rows: int = 50_000
            ) -> Iterator[list[dict[str, Any]]]:
    """The base as log rows: each customer answered (p(churn) from its template's draw)."""
    import pyarrow.parquet as pq

    from churnops import schema

    rng = np.random.default_rng(size)
    parquet = pq.ParquetFile(_base_path(work, size))
    for batch in parquet.iter_batches(batch_size=rows):
        frame = batch.to_pandas()
        features = frame[list(schema.FEATURE_NAMES)].astype(object).to_dict("records")
        probability = rng.random(len(frame))
        churned = (frame[schema.TARGET] == schema.TARGET_POSITIVE).to_numpy()
        yield [{"churned": bool(c), "record": {
            "request_id": uuid.uuid4().hex, "customer_id": customer_id, "features": row,
            "model_version": model_version, "variant": "primary", "probability": float(p),
            "decision": bool(p >= 0.5), "latency_ms": 0.0, "status": "ok"}}
            for customer_id, row, p, c in zip(frame[schema.ID_COLUMN], features, probability,
                                              churned, strict=True)]


STAGE_FUNCTIONS = {"generate": stage_generate, "batch_scoring": stage_batch_scoring,
                   "log_write": stage_log_write, "monitoring": stage_monitoring}


# The parent: sizes x stages, each a child process -------------------------------------------


def run_child(stage: str, size: int, work: Path, model_version: str,
              backend: str | None = None, log_url: str | None = None) -> dict[str, Any]:
    """Run ``stage`` in a child process: its figures, wall time and peak RSS."""
    spec = {"stage": stage, "size": size, "work": str(work), "model_version": model_version,
            "log_url": log_url}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)],
                             stdout=subprocess.PIPE, cwd=ROOT, text=True)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"stage {stage} at {size:,} failed (exit {child.returncode}); "
                         "its error is above")
    figures = json.loads(output.strip().splitlines()[-1])
    figures.update(stage=stage if backend is None else f"{stage} ({backend})", size=size,
                   wall_seconds=time.perf_counter() - started,
                   peak_rss_mb=usage.ru_maxrss / 1024)
    return figures


def child_main(spec: str) -> None:
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    arguments = json.loads(spec)
    stage = STAGE_FUNCTIONS[arguments.pop("stage")]
    arguments["work"] = Path(arguments["work"])
    print(json.dumps(stage(**arguments)))


@contextmanager
def postgres_database(url: str | None) -> Iterator[str | None]:
    """``url``, else a throwaway database on the local PostgreSQL (None if unreachable)."""
    if url:
        yield url
        return
    import psycopg

    try:
        admin = psycopg.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres",
                                dbname="postgres", autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        print(f"PostgreSQL at {POSTGRES[0]}:{POSTGRES[1]} unreachable ({error}); its stages "
              "are left out (pass --postgres-url).")
        yield None
        return
    name = f"churnops_scale_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def by_stage(results: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Per stage, (customers, seconds) in the order measured."""
    stages: dict[str, list[tuple[int, float]]] = {}
    for row in results:
        stages.setdefault(row["stage"], []).append((row["size"], row["seconds"]))
    return stages


def slopes(results: list[dict[str, Any]]) -> dict[str, list[tuple[int, int, float]]]:
    """Per stage, the log-log slope of its time between consecutive sizes."""
    return {stage: [(a, b, float(np.log(tb / ta) / np.log(b / a)))
                    for (a, ta), (b, tb) in zip(points, points[1:], strict=False)
                    if ta > 0 and tb > 0]
            for stage, points in by_stage(results).items()}


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 5))
    for stage, points in by_stage(results).items():
        sizes, seconds = zip(*points, strict=True)
        fitted = np.polyfit(np.log(sizes), np.log(seconds), 1)[0] if len(sizes) > 1 else 0
        axis.loglog(sizes, seconds, "o-", label=f"{stage} (slope {fitted:.2f})")
    axis.set_xlabel("customers")
    axis.set_ylabel("seconds")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--large", action="store_true",
                        help=f"Add {', '.join(f'{s:,}' for s in LARGE_SIZES)} customers.")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url")
    parser.add_argument("--model-version")
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / "churnops-scale-benchmark")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.child:
        child_main(args.child)
        return
    sizes = sorted({int(s) for s in args.sizes.split(",")} | (
        set(LARGE_SIZES) if args.large else set()))
    stages = [s for s in STAGES if s in args.stages.split(",")]
    version = args.model_version or _champion()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"churn-model v{version}; sizes {', '.join(f'{s:,}' for s in sizes)}; "
          f"stages {', '.join(stages)}; work in {args.out}")
    results: list[dict[str, Any]] = []
    backends = args.backends.split(",")
    with postgres_database(args.postgres_url if "postgresql" in backends else None) as pg:
        for size in sizes:
            for stage in stages:
                runs = [(None, None)]
                if stage in ("log_write", "monitoring"):
                    runs = [(b, url) for b, url in (
                        ("sqlite", f"sqlite:///{args.out / f'log-{size}.db'}"),
                        ("postgresql", pg)) if b in backends and url]
                for backend, url in runs:
                    if stage == "log_write" and backend == "postgresql":
                        _reset_postgres(url)
                    row = run_child(stage, size, args.out, version, backend, url)
                    results.append(row)
                    print(_line(row), flush=True)
            if "log_write" in stages:
                (args.out / f"log-{size}.db").unlink(missing_ok=True)
    report(results, args.out)


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS feedback, predictions"))
    engine.dispose()


def _champion() -> str:
    from mlflow import MlflowClient

    from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, paths

    client = MlflowClient(paths.mlflow_tracking_uri())
    return str(client.get_model_version_by_alias(REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version)


def _line(row: dict[str, Any]) -> str:
    rate = row["rows"] / row["seconds"] if row["seconds"] else float("nan")
    extra = ""
    if "baseline_seconds" in row:
        extra = (f"  raw predict_proba {row['rows'] / row['baseline_seconds']:,.0f} rows/s, "
                 f"ratio {row['baseline_seconds'] / row['seconds']:.2f}")
    if "read_seconds" in row:
        extra = f"  of which the log read {row['read_seconds']:.1f} s"
    return (f"  {row['stage']:<26} {row['size']:>10,}  {row['seconds']:>8.1f} s  "
            f"{rate:>10,.0f} rows/s  peak {row['peak_rss_mb']:>6,.0f} MB{extra}")


def report(results: list[dict[str, Any]], out: Path) -> None:
    print("\nLog-log slope of time against customers (1 = linear):")
    for stage, points in slopes(results).items():
        print(f"  {stage:<26} " + ", ".join(f"{a:,}->{b:,}: {s:.2f}" for a, b, s in points))
    keys = ["stage", "size", "seconds", "wall_seconds", "peak_rss_mb", "rows",
            "baseline_seconds", "read_seconds"]
    with (out / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)
    plot(results, out / "scale.png")
    print(f"\nResults: {out / 'results.csv'}; plot: {out / 'scale.png'}")


if __name__ == "__main__":
    main()
