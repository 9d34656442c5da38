from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import step

from churnops import data
from churnops.modeling.tuning import split
from churnops.settings import TrainingSettings


@step
def split_dataset(frame: pd.DataFrame, settings: TrainingSettings) -> tuple[
    Annotated[pd.DataFrame, "train_set"], Annotated[pd.DataFrame, "holdout_set"]
]:
    """Stratified train/holdout split of the training frame, with the configured seed."""
    train, holdout, _, _ = split(frame, data.label(frame), settings.test_size, settings.seed)
    return train, holdout
