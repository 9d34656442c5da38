"""Candidates, tuning, business value, fairness, evaluation and the model card."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from churnops import data, paths, schema
from churnops.modeling import plots
from churnops.modeling.candidates import CANDIDATES, SKOPS_TRUSTED_TYPES, build_pipeline
from churnops.modeling.evaluation import (
    Evaluation,
    best_threshold,
    business_value,
    business_value_per_customer,
    evaluate,
    fairness,
    permutation_importance_table,
    predict_proba,
)
from churnops.modeling.model_card import TrainingSetup, render_model_card
from churnops.modeling.tuning import TuningResult, select_best, split, tune
from churnops.settings import BusinessSettings

SEED = 42

# The default grid proposed for configs/training.yaml: small enough to tune every candidate
# in well under a minute on two cores.
SEARCH_SPACES: dict[str, dict[str, list]] = {
    "logistic_regression": {"model__C": [0.1, 0.3, 1.0, 3.0]},
    "random_forest": {
        "model__min_samples_leaf": [10, 20, 40],
        "model__max_features": ["sqrt", 0.3],
    },
    "hist_gradient_boosting": {
        "model__learning_rate": [0.03, 0.05, 0.1],
        "model__max_depth": [2, 3],
        "model__max_iter": [200],
    },
}


@pytest.fixture(scope="module")
def customers() -> tuple[pd.DataFrame, pd.Series]:
    """Model inputs as the pipelines receive them (features plus the entity key), and labels."""
    df, _ = data.clean(data.load_raw(paths.RAW_DATA))
    X = df[list(schema.FEATURE_NAMES)].assign(**{schema.ENTITY_KEY: df[schema.ID_COLUMN]})
    return X, data.label(df)


@pytest.fixture(scope="module")
def splits(customers):
    X, y = customers
    return split(X, y, test_size=0.2, seed=SEED)


@pytest.fixture(scope="module")
def tuned(splits) -> list[TuningResult]:
    X_train, _, y_train, _ = splits
    return [
        tune(name, X_train, y_train, SEARCH_SPACES[name], cv_folds=5, seed=SEED, n_jobs=2)
        for name in CANDIDATES
    ]


@pytest.fixture(scope="module")
def holdout(tuned, splits) -> Evaluation:
    _, X_test, _, y_test = splits
    return evaluate(select_best(tuned).best_estimator, X_test, y_test, BusinessSettings())


# Candidates and tuning


@pytest.mark.parametrize("name", CANDIDATES)
def test_each_candidate_fits_and_scores_probabilities(name, splits):
    X_train, X_test, y_train, _ = splits
    pipeline = build_pipeline(name, seed=SEED).fit(X_train, y_train)
    proba = predict_proba(pipeline, X_test)
    assert proba.shape == (len(X_test),)
    assert ((proba >= 0) & (proba <= 1)).all()


@pytest.mark.parametrize("name", CANDIDATES)
def test_candidates_need_only_the_reviewed_skops_types(name, splits):
    import skops.io

    X_train, _, y_train, _ = splits
    model = build_pipeline(name, seed=0).fit(X_train.head(500), y_train.head(500))
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    assert set(untrusted) <= set(SKOPS_TRUSTED_TYPES)


def test_unknown_candidate_is_rejected():
    with pytest.raises(ValueError, match="Unknown candidate"):
        build_pipeline("svm", seed=SEED)


def test_tuning_is_deterministic_for_a_seed(splits):
    X_train, _, y_train, _ = splits
    space = {"model__n_estimators": [30], "model__min_samples_leaf": [10, 20]}
    first, second = (
        tune("random_forest", X_train, y_train, space, cv_folds=3, seed=SEED) for _ in range(2)
    )
    assert first.cv_scores == second.cv_scores
    assert first.best_params == second.best_params
    assert first.n_candidates == 2
    assert len(first.cv_scores) == 3
    assert first.cv_mean == pytest.approx(np.mean(first.cv_scores))


def test_split_is_stratified(customers):
    X, y = customers
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.2, seed=SEED)
    assert len(X_test) == pytest.approx(0.2 * len(X), abs=1)
    assert y_train.mean() == pytest.approx(y_test.mean(), abs=0.005)


def test_select_best_takes_the_highest_cv_mean(tuned):
    best = select_best(tuned)
    assert best.cv_mean == max(result.cv_mean for result in tuned)


def test_best_candidate_meets_the_quality_bar(tuned):
    best = select_best(tuned)
    assert best.cv_mean >= 0.84, f"{best.name}: CV ROC-AUC {best.cv_mean:.4f} < 0.84"
    assert best.metrics() == {"cv_roc_auc": best.cv_mean, "cv_roc_auc_std": best.cv_std}


# Business value

Y = [1, 0, 1, 0]
PROBA = [0.9, 0.8, 0.3, 0.1]
MONTHLY = [100.0, 50.0, 80.0, 20.0]
CFG = BusinessSettings(offer_cost=10.0, acceptance_rate=0.5)


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.95, 0.0),  # nobody targeted
        (0.85, 0.5 * 100 - 10),  # the first churner only
        (0.5, 0.5 * 100 - 2 * 10),  # plus a customer who stays: cost only
        (0.3, 0.5 * (100 + 80) - 3 * 10),  # inclusive threshold: 0.3 >= 0.3
        (0.05, 0.5 * (100 + 80) - 4 * 10),  # everybody
    ],
)
def test_business_value_on_a_hand_made_example(threshold, expected):
    assert business_value(Y, PROBA, MONTHLY, threshold, CFG) == pytest.approx(expected)


def test_business_value_per_customer_divides_by_everyone_scored():
    assert business_value_per_customer(Y, PROBA, MONTHLY, 0.3, CFG) == pytest.approx(60 / 4)


def test_best_threshold_picks_the_maximiser():
    # Value is 60 for every threshold in (0.1, 0.3]; ties go to the highest threshold.
    threshold, value = best_threshold(Y, PROBA, MONTHLY, CFG)
    assert threshold == pytest.approx(0.3)
    assert value == pytest.approx(60.0)


def test_best_threshold_targets_nobody_when_offers_never_pay():
    threshold, value = best_threshold(Y, [0.5] * 4, MONTHLY, BusinessSettings(offer_cost=1e6))
    assert value == 0.0
    assert threshold > 0.5


# Fairness


def test_fairness_on_a_hand_made_example():
    y_true = [1, 1, 0, 1, 0, 0]
    y_pred = [1, 0, 1, 1, 1, 1]
    groups = pd.DataFrame(
        {"gender": ["Female"] * 3 + ["Male"] * 3, "SeniorCitizen": [0, 0, 0, 0, 1, 1]}
    )
    report = fairness(y_true, y_pred, groups)

    gender = report["gender"]
    assert gender["groups"]["Female"] == {"n": 3, "positive_rate": 2 / 3, "tpr": 0.5}
    assert gender["groups"]["Male"] == {"n": 3, "positive_rate": 1.0, "tpr": 1.0}
    assert gender["demographic_parity_diff"] == pytest.approx(1 / 3)
    assert gender["equal_opportunity_diff"] == pytest.approx(0.5)

    senior = report["SeniorCitizen"]
    assert senior["groups"]["0"]["positive_rate"] == pytest.approx(0.75)
    assert senior["groups"]["0"]["tpr"] == pytest.approx(2 / 3)
    assert math.isnan(senior["groups"]["1"]["tpr"])  # no churners in the group
    assert senior["demographic_parity_diff"] == pytest.approx(0.25)
    assert senior["equal_opportunity_diff"] == 0.0  # only one group has a TPR


# Evaluation


def test_evaluate_reports_the_contract_metric_names(holdout):
    metrics = holdout.metrics()
    contract = {
        "test_roc_auc",
        "test_pr_auc",
        "test_threshold",
        "test_precision",
        "test_recall",
        "test_f1",
        "test_accuracy",
        "test_business_value",
        "test_business_value_per_customer",
        "test_business_value_target_none",
        "test_business_value_target_all",
    }
    fairness_names = {
        f"fairness_{attribute}_{gap}"
        for attribute in schema.SENSITIVE_FEATURES
        for gap in ("demographic_parity_diff", "equal_opportunity_diff")
    }
    assert contract | fairness_names <= set(metrics)
    assert all(isinstance(value, float) for value in metrics.values())
    assert holdout.metrics(prefix="valid").keys() >= {"valid_roc_auc", "valid_f1"}


def test_evaluate_chooses_the_business_optimal_threshold(holdout, tuned, splits):
    _, X_test, _, y_test = splits
    proba = predict_proba(select_best(tuned).best_estimator, X_test)
    expected, value = best_threshold(y_test, proba, X_test["MonthlyCharges"], BusinessSettings())
    assert holdout.threshold == expected
    assert holdout.business_value == pytest.approx(value)
    assert holdout.business_value > holdout.business_value_target_none == 0.0
    assert holdout.business_value > holdout.business_value_target_all
    (tn, fp), (fn, tp) = holdout.confusion_matrix
    assert tn + fp + fn + tp == len(y_test)


def test_evaluate_uses_a_given_threshold(tuned, splits):
    _, X_test, _, y_test = splits
    model = select_best(tuned).best_estimator
    evaluation = evaluate(model, X_test, y_test, BusinessSettings(), 0.5)
    assert evaluation.threshold == 0.5


def test_permutation_importance_is_per_raw_feature(tuned, splits):
    _, X_test, _, y_test = splits
    table = permutation_importance_table(
        select_best(tuned).best_estimator, X_test, y_test, seed=SEED, n_repeats=2
    )
    assert list(table.columns) == ["feature", "importance_mean", "importance_std"]
    assert sorted(table["feature"]) == sorted(schema.FEATURE_NAMES)
    assert table["importance_mean"].is_monotonic_decreasing
    assert table["feature"].iloc[0] in {"tenure", "Contract"}


def test_plots_return_figures(tuned, splits, holdout, tmp_path):
    _, X_test, _, y_test = splits
    proba = predict_proba(select_best(tuned).best_estimator, X_test)
    importances = pd.DataFrame(
        {"feature": ["tenure", "Contract"], "importance_mean": [0.06, 0.05], "importance_std": 0.0}
    )
    figures = [
        plots.roc_curve_figure(y_test, proba),
        plots.pr_curve_figure(y_test, proba),
        plots.calibration_figure(y_test, proba),
        plots.confusion_matrix_figure(y_test, proba >= holdout.threshold),
        plots.business_value_figure(
            y_test, proba, X_test["MonthlyCharges"], BusinessSettings(), holdout.threshold
        ),
        plots.importance_figure(importances),
    ]
    for index, figure in enumerate(figures):
        assert isinstance(figure, Figure)
        figure.savefig(tmp_path / f"{index}.png")
    assert len(list(tmp_path.glob("*.png"))) == len(figures)


# Model card


def test_model_card_has_the_expected_sections(tuned, holdout, splits):
    X_train, X_test, _, _ = splits
    importances = pd.DataFrame(
        {"feature": ["tenure", "Contract"], "importance_mean": [0.06, 0.05], "importance_std": 0.0}
    )
    card = render_model_card(
        model_name="churn-model",
        data_sources={"data/raw/telco_customer_churn.csv": "ab" * 32},
        setup=TrainingSetup(
            seed=SEED,
            cv_folds=5,
            n_train=len(X_train),
            n_test=len(X_test),
            threshold_source="the test split",
        ),
        results=tuned,
        search_spaces=SEARCH_SPACES,
        selected=select_best(tuned),
        evaluation=holdout,
        business=BusinessSettings(),
        importances=importances,
    )
    for heading in (
        "# Model card: churn-model",
        "## Data",
        "## Features",
        "## Training",
        "## Selection",
        "## Holdout metrics",
        "## Business value",
        "## Fairness",
        "## Feature importance",
        "## Intended use",
        "## Limitations",
    ):
        assert f"\n{heading}\n" in f"\n{card}"
    assert "ab" * 32 in card
    assert all(f"`{name}`" in card for name in schema.FEATURE_NAMES)
    assert all(name in card for name in CANDIDATES)
    assert "`model__C`" in card
    assert f"{holdout.roc_auc:.4f}" in card


def test_a_holdout_is_every_row_of_the_reference_pool_customers() -> None:
    from steps.training.split import holdout_split

    ids = pd.Series([f"c{i}" for i in range(400)] * 2)  # every customer twice
    frame = pd.DataFrame({schema.ENTITY_KEY: ids, "x": range(len(ids))})
    train, holdout = holdout_split(frame)
    in_reference = data.pool_of(ids) == "reference"
    assert set(holdout[schema.ENTITY_KEY]) == set(ids[in_reference])
    assert not set(train[schema.ENTITY_KEY]) & set(holdout[schema.ENTITY_KEY])
    with pytest.raises(ValueError, match="needs both kinds"):
        holdout_split(frame[~in_reference.to_numpy()])
