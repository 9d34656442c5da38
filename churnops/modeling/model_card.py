"""The model card: a markdown summary of how the model was built and how it behaves.

Rendering is pure: every fact comes from the arguments or from ``churnops.schema``, so the
card can be produced and tested without touching files or trackers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churnops import schema
from churnops.modeling.evaluation import Evaluation
from churnops.modeling.tuning import CandidateScore
from churnops.settings import BusinessSettings


@dataclass(frozen=True)
class TrainingSetup:
    """How the data was split and the candidates were tuned."""

    seed: int
    cv_folds: int
    n_train: int
    n_test: int
    threshold_source: str
    """Where the decision threshold was chosen, e.g. "out-of-fold training predictions"."""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _domain(column: schema.Column) -> str:
    if column.categories:
        return ", ".join(column.categories)
    if column.minimum is not None or column.maximum is not None:
        return f"{column.minimum:g} to {column.maximum:g}"
    return ""


def _data_section(data_sources: Mapping[str, str], setup: TrainingSetup) -> str:
    sources = _table(
        ["Source", "sha256"], [(path, f"`{digest}`") for path, digest in data_sources.items()]
    )
    return (
        "## Data\n\n"
        f"{sources}\n\n"
        f"Split by customer: {setup.n_train} training rows, and {setup.n_test} holdout "
        "customers of the reference pool, whom no version ever trains on (seed "
        f"{setup.seed} for the folds).\n"
    )


def _schema_section() -> str:
    rows = [(f"`{c.name}`", c.kind, _domain(c), c.description) for c in schema.FEATURES]
    target = schema.BY_NAME[schema.TARGET]
    return (
        "## Features\n\n"
        f"{_table(['Name', 'Kind', 'Categories / range', 'Description'], rows)}\n\n"
        f"Target: `{target.name}` ({target.description} "
        f'Positive class: "{schema.TARGET_POSITIVE}".)\n'
    )


def _training_section(
    results: Sequence[CandidateScore],
    search_spaces: Mapping[str, Mapping[str, Sequence[Any]]],
    setup: TrainingSetup,
) -> str:
    rows = [
        (
            r.name,
            f"{r.cv_mean:.4f} ± {r.cv_std:.4f}",
            r.n_candidates,
            _params(search_spaces.get(r.name, {})),
            _params(r.best_params),
            f"{r.seconds:.1f}",
        )
        for r in sorted(results, key=lambda r: r.cv_mean, reverse=True)
    ]
    header = [
        "Candidate",
        "CV ROC-AUC (mean ± std)",
        "Settings tried",
        "Search space",
        "Best parameters",
        "Seconds",
    ]
    return (
        "## Training\n\n"
        f"Each candidate was grid-searched with {setup.cv_folds}-fold stratified "
        f"cross-validation (shuffled, seed {setup.seed}) on the training split, scored by "
        "ROC-AUC, then refitted on the whole training split with its best parameters.\n\n"
        f"{_table(header, rows)}\n"
    )


def _params(params: Mapping[str, Any]) -> str:
    return "; ".join(f"`{key}`={value}" for key, value in params.items()) or "defaults"


def _selection_section(
    selected: CandidateScore, evaluation: Evaluation, setup: TrainingSetup
) -> str:
    return (
        "## Selection\n\n"
        f"- Model: **{selected.name}**, the candidate with the best mean CV ROC-AUC "
        f"({selected.cv_mean:.4f} ± {selected.cv_std:.4f}).\n"
        f"- Decision threshold: **{evaluation.threshold:.2f}**, the threshold that maximises "
        f"the business value below, chosen on {setup.threshold_source}.\n"
    )


def _metrics_section(evaluation: Evaluation) -> str:
    (tn, fp), (fn, tp) = evaluation.confusion_matrix
    rows = [
        ("ROC-AUC", f"{evaluation.roc_auc:.4f}"),
        ("PR-AUC (average precision)", f"{evaluation.pr_auc:.4f}"),
        ("Precision", f"{evaluation.precision:.4f}"),
        ("Recall", f"{evaluation.recall:.4f}"),
        ("F1", f"{evaluation.f1:.4f}"),
        ("Accuracy", f"{evaluation.accuracy:.4f}"),
        ("Confusion matrix (tn, fp, fn, tp)", f"{tn}, {fp}, {fn}, {tp}"),
    ]
    return (
        "## Holdout metrics\n\n"
        f"On the test split, at threshold {evaluation.threshold:.2f}.\n\n"
        f"{_table(['Metric', 'Value'], rows)}\n"
    )


def _business_section(evaluation: Evaluation, business: BusinessSettings) -> str:
    rows = [
        (
            f"Model at threshold {evaluation.threshold:.2f}",
            evaluation.n_targeted,
            f"{evaluation.business_value:,.2f}",
        ),
        ("Target nobody", 0, f"{evaluation.business_value_target_none:,.2f}"),
        (
            "Target everybody",
            evaluation.n_customers,
            f"{evaluation.business_value_target_all:,.2f}",
        ),
    ]
    return (
        "## Business value\n\n"
        f"Assumptions: a retention offer costs ${business.offer_cost:,.2f} per targeted "
        f"customer and keeps {business.acceptance_rate:.0%} of the would-be churners who get "
        "it; a kept customer is worth their `MonthlyCharges`. Value per month = sum over "
        "targeted customers of (churned × acceptance rate × MonthlyCharges) − offer cost × "
        "number targeted.\n\n"
        f"{_table(['Policy', 'Customers targeted', 'Value per month (USD)'], rows)}\n\n"
        f"Per test customer: ${evaluation.business_value_per_customer:,.2f} per month.\n"
    )


def _fairness_section(evaluation: Evaluation) -> str:
    rows = []
    for attribute, report in evaluation.fairness.items():
        for group, stats in report["groups"].items():
            rows.append(
                (
                    f"`{attribute}`",
                    group,
                    stats["n"],
                    f"{stats['positive_rate']:.3f}",
                    f"{stats['tpr']:.3f}",
                )
            )
    gaps = [
        (
            f"`{attribute}`",
            f"{report['demographic_parity_diff']:.3f}",
            f"{report['equal_opportunity_diff']:.3f}",
        )
        for attribute, report in evaluation.fairness.items()
    ]
    return (
        "## Fairness\n\n"
        "Hard predictions on the test split, sliced by the sensitive attributes. Demographic "
        "parity difference: largest minus smallest share targeted across groups. Equal "
        "opportunity difference: the same for the true-positive rate.\n\n"
        f"{_table(['Attribute', 'Demographic parity diff', 'Equal opportunity diff'], gaps)}\n\n"
        f"{_table(['Attribute', 'Group', 'Customers', 'Targeted share', 'TPR'], rows)}\n"
    )


def _importance_section(importances: pd.DataFrame, top: int) -> str:
    rows = [
        (f"`{row.feature}`", f"{row.importance_mean:.4f}", f"{row.importance_std:.4f}")
        for row in importances.head(top).itertuples()
    ]
    return (
        "## Feature importance\n\n"
        "Permutation importance on the test split: the drop in ROC-AUC when one raw feature "
        "is shuffled.\n\n"
        f"{_table(['Feature', 'Mean drop', 'Std'], rows)}\n"
    )


USE_AND_LIMITATIONS = """## Intended use

Rank current customers by churn risk so that a retention team can decide whom to make an
offer. The score supports a human decision; it is not meant to change prices, contracts or
service for an individual automatically.

## Limitations

- Trained on the public IBM Telco sample (7,043 fictional customers of one company), not on
  production data; the metrics say little about another customer base.
- One snapshot without timestamps: "churned within the last month" is the only notion of
  time, so there is no temporal validation and no guarantee under drift.
- The business value rests on the assumed offer cost and acceptance rate, and counts one
  month of kept revenue.
- Fairness is audited only for the attributes in the data (gender, senior citizen) and only
  with group-rate gaps; small groups make the gaps noisy. Other attributes may act as
  proxies for characteristics that are not recorded.
- Permutation importance measures what the model uses, not causes of churn.
"""


def render_model_card(
    *,
    model_name: str,
    data_sources: Mapping[str, str],
    setup: TrainingSetup,
    results: Sequence[CandidateScore],
    search_spaces: Mapping[str, Mapping[str, Sequence[Any]]],
    selected: CandidateScore,
    evaluation: Evaluation,
    business: BusinessSettings,
    importances: pd.DataFrame,
    top_features: int = 10,
) -> str:
    """The model card as markdown.

    ``data_sources`` maps each input file to its sha256; ``evaluation`` is the holdout
    evaluation of ``selected`` and ``importances`` its permutation-importance table, both
    on the test split.
    """
    sections = [
        f"# Model card: {model_name}\n\n"
        f"Binary classifier of customer churn. Selected candidate: **{selected.name}**.\n",
        _data_section(data_sources, setup),
        _schema_section(),
        _training_section(results, search_spaces, setup),
        _selection_section(selected, evaluation, setup),
        _metrics_section(evaluation),
        _business_section(evaluation, business),
        _fairness_section(evaluation),
        _importance_section(importances, top_features),
        USE_AND_LIMITATIONS,
    ]
    return "\n".join(sections)
