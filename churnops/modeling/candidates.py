"""The candidate models, each a full scikit-learn pipeline from raw features to a score.

Every pipeline has two steps, ``preprocess`` and ``model``. Search spaces address the
estimator's hyper-parameters through the ``model`` step, for example ``model__C`` or
``model__max_depth``.

The encoders use the schema's fixed category lists, so the encoding does not depend on which
values a training split happens to contain and a category outside the schema is rejected
loudly instead of being silently ignored. Input columns are selected by name: extra columns
(such as ``customer_id``) are dropped and the column order does not matter.
"""

from __future__ import annotations

from collections.abc import Callable

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from churnops import schema

CANDIDATES = ("logistic_regression", "random_forest", "hist_gradient_boosting")


def _categories() -> list[list[str]]:
    """The schema's category lists, in ``CATEGORICAL_FEATURES`` order."""
    return [list(schema.BY_NAME[name].categories or ()) for name in schema.CATEGORICAL_FEATURES]


def _one_hot(scale_numeric: bool) -> ColumnTransformer:
    """One-hot categoricals; numerics standardised (linear models) or passed through."""
    numeric = StandardScaler() if scale_numeric else "passthrough"
    return ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(categories=_categories(), sparse_output=False),
                list(schema.CATEGORICAL_FEATURES),
            ),
            ("numeric", numeric, list(schema.NUMERIC_FEATURES)),
        ],
        remainder="drop",
    )


def _ordinal() -> ColumnTransformer:
    """Ordinal codes for categoricals (first columns), numerics passed through."""
    return ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(categories=_categories()),
                list(schema.CATEGORICAL_FEATURES),
            ),
            ("numeric", "passthrough", list(schema.NUMERIC_FEATURES)),
        ],
        remainder="drop",
    )


def _logistic_regression(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("preprocess", _one_hot(scale_numeric=True)),
            ("model", LogisticRegression(max_iter=2000, random_state=seed)),
        ]
    )


def _random_forest(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("preprocess", _one_hot(scale_numeric=False)),
            ("model", RandomForestClassifier(n_estimators=200, random_state=seed)),
        ]
    )


def _hist_gradient_boosting(seed: int) -> Pipeline:
    # The ordinal encoder puts the categoricals first, so their positions are known.
    n_categorical = len(schema.CATEGORICAL_FEATURES)
    model = HistGradientBoostingClassifier(
        categorical_features=list(range(n_categorical)),
        early_stopping=False,
        random_state=seed,
    )
    return Pipeline([("preprocess", _ordinal()), ("model", model)])


_BUILDERS: dict[str, Callable[[int], Pipeline]] = {
    "logistic_regression": _logistic_regression,
    "random_forest": _random_forest,
    "hist_gradient_boosting": _hist_gradient_boosting,
}


def build_pipeline(name: str, seed: int) -> Pipeline:
    """An unfitted pipeline for candidate ``name``, with its randomness fixed by ``seed``."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"Unknown candidate {name!r}; choose one of {CANDIDATES}.") from None
    return builder(seed)


SKOPS_TRUSTED_TYPES: tuple[str, ...] = (
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
)
"""Types that MLflow's skops serialization must be told to trust for our candidates.

skops refuses unknown types on load. These are the ones our own pipelines contain (tree
structures, and a partial of ``check_array`` inside gradient boosting); the list is
reviewed and pinned, and a test fails when a candidate needs anything else.
"""
