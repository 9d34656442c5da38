"""NannyML's CBPE ROC-AUC estimate per chunk, for benchmarks/estimation/run.py.

    .venv-nannyml/bin/python benchmarks/estimation/nannyml_cbpe.py REFERENCE ANALYSIS OUT
        [--threshold T]

Runs in NannyML's own virtualenv (benchmarks/estimation/requirements.txt), never the
project's: it imports nothing of churnops. REFERENCE is a parquet of ``score`` (the model's
p(churn)) and ``churned`` (0/1); ANALYSIS a parquet of ``chunk`` (an integer id) and
``score``, without outcomes. NannyML's ``CBPE`` (isotonic calibration, its default) is fitted
on the reference and estimates ROC-AUC for each chunk; the chunks are made with NannyML's own
``chunk_period="D"`` on a made-up timestamp, one day per chunk id. OUT gets a parquet of
``chunk``, ``roc_auc``, ``sampling_error`` and NannyML's bounds (±3 sampling errors); one
JSON line on stdout says which NannyML ran and whether it calibrated.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

# No usage data sent to NannyML's analytics (nannyml/usage_logging.py).
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
# NannyML warns that the reference makes one chunk: it is fitted on it whole, on purpose.
warnings.filterwarnings("ignore")

import nannyml  # noqa: E402
import pandas as pd  # noqa: E402

EPOCH = pd.Timestamp("2000-01-01 12:00")
"""Chunk ``c`` is dated ``EPOCH + c days``; the reference is dated the day before the epoch."""


def estimate(reference: pd.DataFrame, analysis: pd.DataFrame, threshold: float
             ) -> tuple[pd.DataFrame, bool]:
    """Per chunk: NannyML's estimated ROC-AUC and its sampling error; and whether NannyML
    found the reference scores worth calibrating (``nannyml.calibration.needs_calibration``)."""
    estimator = nannyml.CBPE(
        y_pred_proba="score", y_pred="predicted", y_true="churned", metrics=["roc_auc"],
        timestamp_column_name="timestamp", chunk_period="D",
        problem_type="classification_binary")
    estimator.fit(_prepared(reference, threshold).assign(
        timestamp=EPOCH - pd.Timedelta(days=1)))
    analysis = _prepared(analysis, threshold)
    analysis["timestamp"] = EPOCH + pd.to_timedelta(analysis["chunk"], unit="D")
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    dates = result[("chunk", "start_date")]
    frame = pd.DataFrame({
        "chunk": ((pd.to_datetime(dates).dt.normalize() - EPOCH.normalize()).dt.days
                  .to_numpy()),
        "roc_auc": result[("roc_auc", "value")].to_numpy(dtype=float),
        "sampling_error": result[("roc_auc", "sampling_error")].to_numpy(dtype=float),
        "lower": result[("roc_auc", "lower_confidence_boundary")].to_numpy(dtype=float),
        "upper": result[("roc_auc", "upper_confidence_boundary")].to_numpy(dtype=float),
    })
    return frame, bool(estimator.needs_calibration)


def _prepared(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    return frame.assign(predicted=(frame["score"] >= threshold).astype(int))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("analysis", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="The model's decision threshold (y_pred; ROC-AUC ignores it).")
    args = parser.parse_args()
    started = time.monotonic()
    reference = pd.read_parquet(args.reference)
    analysis = pd.read_parquet(args.analysis)
    frame, calibrated = estimate(reference, analysis, args.threshold)
    frame.to_parquet(args.out, index=False)
    print(json.dumps({"nannyml": nannyml.__version__, "calibrated": calibrated,
                      "chunks": len(frame), "seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()
