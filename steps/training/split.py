from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import step

from churnops import data, schema


@step
def split_dataset(frame: pd.DataFrame) -> tuple[
    Annotated[pd.DataFrame, "train_set"], Annotated[pd.DataFrame, "holdout_set"]
]:
    """Hold out the customers of the reference pool; train on the rest."""
    train, holdout = holdout_split(frame)
    return train, holdout  # a tuple literal: ZenML reads it as two outputs


def holdout_split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, holdout)``: the holdout is every row of a reference-pool customer.

    The pool follows from the customer id alone (``churnops.data.pool_of``), so no version
    ever trains on a customer that any version is scored on: neither the first training's
    reference pool nor the production customers a retraining holds out.
    """
    holdout = data.in_pools(frame, "reference", column=schema.ENTITY_KEY)
    if holdout.all() or not holdout.any():
        raise ValueError(f"{len(frame)} rows, {int(holdout.sum())} of them of reference-pool "
                         "customers: a holdout needs both kinds")
    return frame[~holdout], frame[holdout]
