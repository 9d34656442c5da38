"""The training pipeline end to end on the real local stack (ZenML, MLflow, Feast, GX)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churnops import CHAMPION_ALIAS, REGISTERED_MODEL_NAME, data, paths, registry, schema
from churnops.promotion import GateResult

pytestmark = pytest.mark.slow

TEST_CONFIGS = Path(__file__).parent.parent / "configs"
CACHEABLE_STEPS = ("load_raw_data", "validate_raw_data", "require_valid_data", "clean_customers")


def _run(config: str | Path):
    from pipelines.training import training_pipeline

    return training_pipeline.with_options(config_path=str(TEST_CONFIGS / config))()


def _config_with_data(csv: Path, tmp_path: Path) -> Path:
    config = yaml.safe_load((TEST_CONFIGS / "training.yaml").read_text())
    config["parameters"]["data_path"] = str(csv)
    path = tmp_path / "training.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _mlflow_run(client, zenml_run):
    run_id = zenml_run.steps["log_model"].outputs["mlflow_run_id"][0].load()
    return client.get_run(run_id)


def _decision(zenml_run) -> GateResult:
    return zenml_run.steps["promotion_gate"].outputs["promotion_decision"][0].load()


def test_first_run_trains_registers_and_promotes(training_run, mlflow_client) -> None:
    assert training_run.status.value == "completed"
    champion = mlflow_client.get_model_version_by_alias(REGISTERED_MODEL_NAME, CHAMPION_ALIAS)
    decision = _decision(training_run)
    assert decision.promoted and decision.champion_after == str(champion.version)

    run = _mlflow_run(mlflow_client, training_run)
    assert run.data.metrics["cv_roc_auc"] >= 0.84
    assert run.data.metrics["cv_roc_auc_std"] > 0
    assert 0.80 < run.data.metrics["test_roc_auc"] < 0.90
    for name in ("test_pr_auc", "test_precision", "test_recall", "test_f1",
                 "test_business_value", "fairness_gender_demographic_parity_diff",
                 "fairness_SeniorCitizen_equal_opportunity_diff", "decision_threshold"):
        assert name in run.data.metrics, name
    assert run.data.tags["data_version"] == training_run.steps[
        "fingerprint_raw_data"].outputs["data_version"][0].load()
    assert run.data.tags["git_commit"]
    artifacts = {a.path for a in mlflow_client.list_artifacts(run.info.run_id)}
    assert {"model_card.md", "evaluation", "environment", "validation"} <= artifacts
    plots = {Path(a.path).name for a in mlflow_client.list_artifacts(run.info.run_id,
                                                                        "evaluation")}
    assert {"roc_curve.png", "pr_curve.png", "calibration.png",
            "confusion_matrix.png"} <= plots
    assert champion.tags["decision_threshold"]
    suite = mlflow_client.download_artifacts(run.info.run_id, "validation/feature_suite.json",
                                             str(paths.state_dir()))
    assert champion.tags["validation_suite"].endswith("validation/feature_suite.json")
    from churnops.validation import suite_from_json

    assert suite_from_json(json.loads(Path(suite).read_text())).name == "churn_features"


def test_the_zenml_model_version_names_its_training_artifacts(training_run, mlflow_client,
                                                               zenml_client) -> None:
    """The registry of record points at the ZenML model version, and that version (and the
    run's metadata, which the open-source dashboard shows) lists what it was trained on."""
    version = mlflow_client.get_model_version(REGISTERED_MODEL_NAME,
                                              _decision(training_run).model_version)
    mirror = zenml_client.get_model_version(REGISTERED_MODEL_NAME,
                                            version.tags["zenml_model_version_id"])
    lineage = training_run.run_metadata[REGISTERED_MODEL_NAME]
    assert lineage == mirror.run_metadata[REGISTERED_MODEL_NAME]
    assert lineage["mlflow_version"] == str(version.version)
    trained_on = {"training_frame", "train_set", "holdout_set", "holdout_evaluation",
                  "model_card", "raw_data_validation"}
    assert trained_on <= set(lineage["training_artifacts"])
    for name in trained_on:
        artifact = mirror.get_artifact(name)
        assert str(artifact.id) == lineage["training_artifacts"][name]
        assert artifact.producer_pipeline_run_id == training_run.id


def test_model_has_signature_and_loads_from_the_registry(training_run, mlflow_client,
                                                         clean_customers) -> None:
    import mlflow

    from churnops import schema

    uri = f"models:/{REGISTERED_MODEL_NAME}@{CHAMPION_ALIAS}"
    info = mlflow.models.get_model_info(uri)
    assert [c["name"] for c in info.signature.inputs.to_dict()] == list(schema.FEATURE_NAMES)
    model = mlflow.sklearn.load_model(uri)
    proba = model.predict_proba(clean_customers[list(schema.FEATURE_NAMES)].head(10))[:, 1]
    assert ((proba > 0) & (proba < 1)).all()


def test_validation_report_is_a_visualized_artifact(training_run) -> None:
    artifact = training_run.steps["validate_raw_data"].outputs["raw_data_validation"][0]
    assert artifact.load().success
    assert any(v.type.value == "html" for v in artifact.visualizations)
    assert artifact.run_metadata["success"] is True


def test_second_run_is_identical_and_keeps_the_champion(training_run, mlflow_client) -> None:
    champion_before = mlflow_client.get_model_version_by_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version
    second = _run("training.yaml")

    assert _mlflow_run(mlflow_client, second).data.metrics == pytest.approx(
        _mlflow_run(mlflow_client, training_run).data.metrics, abs=0)
    for step in CACHEABLE_STEPS:
        assert second.steps[step].status.value == "cached", step
    decision = _decision(second)
    assert not decision.promoted
    assert "less than the required margin" in " ".join(decision.reasons)
    assert mlflow_client.get_model_version_by_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version == champion_before
    version = mlflow_client.get_model_version(REGISTERED_MODEL_NAME, decision.model_version)
    assert version.tags["gate.decision"] == "rejected"


def test_weakened_challenger_is_registered_but_not_promoted(training_run, mlflow_client) -> None:
    champion_before = mlflow_client.get_model_version_by_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version

    weak = _run("training-weak.yaml")

    decision = _decision(weak)
    assert not decision.promoted
    assert decision.challenger_roc_auc < decision.champion_roc_auc
    assert mlflow_client.get_model_version(REGISTERED_MODEL_NAME, decision.model_version)
    assert mlflow_client.get_model_version_by_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version == champion_before
    last = registry.history(mlflow_client)[-1]
    assert (last.event, last.version) == ("rejected", decision.model_version)
    assert "below the floor" in last.reason or "less than the required margin" in last.reason


def _corrupt(kind: str, raw: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """A corrupted copy of the raw table and the column the report must name."""
    bad = raw.copy()
    if kind == "missing_column":
        return bad.drop(columns=["Contract"]), "Contract"
    if kind == "wrong_type":
        bad["MonthlyCharges"] = bad["MonthlyCharges"].astype(str)
        bad.loc[3, "MonthlyCharges"] = "lots"
        return bad, "MonthlyCharges"
    if kind == "out_of_range":
        bad.loc[5, "tenure"] = -7
        return bad, "tenure"
    if kind == "unknown_category":
        bad.loc[9, "PaymentMethod"] = "Bitcoin"
        return bad, "PaymentMethod"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["missing_column", "wrong_type", "out_of_range",
                                  "unknown_category"])
def test_corrupted_data_stops_the_pipeline_and_leaves_the_registry_alone(
    kind, training_run, mlflow_client, tmp_path, zenml_client
) -> None:
    from churnops import data

    bad, column = _corrupt(kind, data.load_raw(paths.RAW_DATA))
    csv = tmp_path / f"{kind}.csv"
    bad.to_csv(csv, index=False)
    versions_before = len(mlflow_client.search_model_versions(f"name='{REGISTERED_MODEL_NAME}'"))

    with pytest.raises(RuntimeError, match="failure in step.*require_valid_data"):
        _run(_config_with_data(csv, tmp_path))

    failed = zenml_client.list_pipeline_runs(sort_by="desc:created", size=1).items[0]
    failed = zenml_client.get_pipeline_run(failed.id)
    assert failed.status.value == "failed"
    report = failed.steps["validate_raw_data"].outputs["raw_data_validation"][0].load()
    assert not report.success
    assert column in {f.column for f in report.failures}
    assert column in report.to_text()
    assert "register_model_version" not in failed.steps or \
        failed.steps["register_model_version"].status.value != "completed"
    assert len(mlflow_client.search_model_versions(
        f"name='{REGISTERED_MODEL_NAME}'")) == versions_before


def test_cli_history_promote_and_rollback(training_run, mlflow_client, zenml_client,
                                         capsys) -> None:
    from run import main

    champion = str(mlflow_client.get_model_version_by_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version)
    latest = str(max(int(v.version) for v in mlflow_client.search_model_versions(
        f"name='{REGISTERED_MODEL_NAME}'")))

    assert main(["model", "promote", latest]) == 0
    assert f"v{latest} is now @champion" in capsys.readouterr().out
    # The ZenML model version mirroring the champion follows the alias.
    mirror = mlflow_client.get_model_version(REGISTERED_MODEL_NAME, latest).tags[
        "zenml_model_version_id"]
    assert zenml_client.get_model_version(REGISTERED_MODEL_NAME, mirror).stage == "production"
    assert main(["--rollback"]) == 0  # a flag of earlier releases: works, and says the new form
    captured = capsys.readouterr()
    assert "`run.py model rollback`" in captured.err and "@champion again" in captured.out
    assert str(mlflow_client.get_model_version_by_alias(
        REGISTERED_MODEL_NAME, CHAMPION_ALIAS).version) == champion
    assert main(["model", "history"]) == 0
    history = capsys.readouterr().out
    for event in ("promoted", "manual_promote", "rollback"):
        assert event in history


def test_cli_expected_failures_are_one_line_with_the_next_command(capsys) -> None:
    from run import main

    assert main(["model", "promote", "999"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["error: churn-model has no version 999.",
                                "next:  python run.py model history"]
    assert "Traceback" not in err
    assert main(["-v", "model", "promote", "999"]) == 1
    assert "Traceback" in capsys.readouterr().err  # -v shows it


def test_the_model_fits_the_training_pool_and_is_scored_on_the_reference_pool(
        training_run) -> None:
    """No future-pool customer reaches training; the holdout is the reference pool."""
    outputs = training_run.steps
    frame = outputs["load_training_frame"].outputs["training_frame"][0].load()
    train = outputs["split_dataset"].outputs["train_set"][0].load()
    holdout = outputs["split_dataset"].outputs["holdout_set"][0].load()
    pools = {name: set(data.pool_of(part[schema.ENTITY_KEY]))
             for name, part in (("frame", frame), ("train", train), ("holdout", holdout))}
    assert pools == {"frame": {"training", "reference"}, "train": {"training"},
                     "holdout": {"reference"}}
    assert len(train) + len(holdout) == len(frame)
