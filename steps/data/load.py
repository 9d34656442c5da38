from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from churnops import data, paths


@step(enable_cache=False)
def fingerprint_raw_data(path: str) -> Annotated[str, "data_version"]:
    """The sha256 of the raw file: the data version, and the cache key of everything after.

    Never cached, so an edited file always invalidates the downstream cache.
    """
    return data.content_hash(paths.PROJECT_ROOT / path)


@step
def load_raw_data(path: str, data_version: str) -> Annotated[pd.DataFrame, "raw_customers"]:
    """Read the raw customer CSV (a relative path is taken from the project root)."""
    resolved = paths.PROJECT_ROOT / path
    raw = data.load_raw(resolved)
    log_metadata({"source": str(resolved), "sha256": data_version, "rows": len(raw)},
                 artifact_name="raw_customers", infer_artifact=True)
    return raw
