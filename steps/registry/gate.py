from __future__ import annotations

import logging
from typing import Annotated

import mlflow
import pandas as pd
from zenml import log_metadata, step

from churnops import REGISTERED_MODEL_NAME, data, registry, schema
from churnops.modeling.evaluation import Evaluation, evaluate
from churnops.promotion import GateResult, judge
from churnops.settings import TrainingSettings
from stacks.access import mirror_champion, mlflow_client

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def promotion_gate(
    model_version: str, holdout: pd.DataFrame, holdout_evaluation: Evaluation,
    settings: TrainingSettings, promote: bool = True,
) -> Annotated[GateResult, "promotion_decision"]:
    """Re-score the champion on this run's holdout and move the alias only for a clear winner.

    With ``promote=False`` a winner is only approved: the alias moves later, when its live
    candidate (shadow or canary) is judged on outcomes.
    """
    result = gate_version(model_version, holdout, holdout_evaluation, settings, promote)
    log_metadata(result.model_dump(exclude_none=True),
                 artifact_name="promotion_decision", infer_artifact=True)
    return result


def gate_version(model_version: str, holdout: pd.DataFrame, holdout_evaluation: Evaluation,
                 settings: TrainingSettings, promote: bool = True) -> GateResult:
    """The gate's decision on ``model_version``, recorded in the registry's history."""
    client = mlflow_client()
    champion = registry.champion_version(client)
    champion_metrics = None
    if champion is not None:
        model = mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL_NAME}/{champion.version}")
        threshold = float(champion.tags.get("decision_threshold", 0.5))
        X, y = holdout[list(schema.FEATURE_NAMES)], data.label(holdout)
        champion_metrics = evaluate(model, X, y, settings.business, threshold).metrics()
    challenger_metrics = holdout_evaluation.metrics()
    decision = judge(challenger_metrics, champion_metrics, settings.gate)
    previous = str(champion.version) if champion else None
    if decision.promote and promote:
        registry.set_champion(client, model_version, "promoted", decision.summary)
        mirror_champion(model_version)
    elif decision.promote:
        registry.record(client, registry.HistoryEvent(
            "approved", model_version, previous, f"{decision.summary}; to be judged live"))
    else:
        registry.record(client, registry.HistoryEvent(
            "rejected", model_version, previous, decision.summary))
    result = GateResult(
        model_version=model_version,
        promoted=decision.promote and promote,
        approved=decision.promote,
        champion_before=previous,
        champion_after=model_version if decision.promote and promote else previous,
        reasons=decision.reasons,
        challenger_roc_auc=challenger_metrics["test_roc_auc"],
        champion_roc_auc=champion_metrics["test_roc_auc"] if champion_metrics else None,
    )
    logger.info("Promotion gate for version %s: %s", model_version, decision.summary)
    return result
