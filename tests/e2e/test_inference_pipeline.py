"""Batch inference scores every customer exactly as the online path would."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, features, paths, schema

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def batch_predictions(training_run) -> pd.DataFrame:
    from pipelines.inference import inference_pipeline

    run = inference_pipeline.with_options(
        config_path=str(paths.CONFIG_DIR / "inference.yaml"))()
    artifact = run.steps["score_customers"].outputs["batch_predictions"][0]
    on_disk = pd.read_parquet(artifact.run_metadata["path"])
    pd.testing.assert_frame_equal(artifact.load(), on_disk)
    return on_disk


def test_every_customer_is_scored_by_the_champion(batch_predictions, clean_customers,
                                                  mlflow_client) -> None:
    champion = mlflow_client.get_model_version_by_alias(REGISTERED_MODEL_NAME, CHAMPION_ALIAS)
    assert len(batch_predictions) == 7043
    assert set(batch_predictions[schema.ENTITY_KEY]) == set(clean_customers[schema.ID_COLUMN])
    assert (batch_predictions["model_version"] == str(champion.version)).all()
    threshold = float(champion.tags["decision_threshold"])
    assert (batch_predictions["decision"]
            == (batch_predictions["churn_probability"] >= threshold)).all()


def test_batch_matches_the_online_path(batch_predictions, feature_store, mlflow_client) -> None:
    sample = batch_predictions.sample(100, random_state=3)
    online = features.online_features(feature_store, sample[schema.ENTITY_KEY])
    model = mlflow.sklearn.load_model(f"models:/{REGISTERED_MODEL_NAME}@{CHAMPION_ALIAS}")
    online_proba = model.predict_proba(online[list(schema.FEATURE_NAMES)])[:, 1]
    np.testing.assert_allclose(sample["churn_probability"].to_numpy(), online_proba, rtol=0,
                               atol=1e-12)
