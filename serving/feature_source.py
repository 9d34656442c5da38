"""Online features from the Feast store, as plain Python values ready for JSON."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from churnops import features


class OnlineFeatureSource:
    """The store is opened once; lookups are serialized (one SQLite connection inside)."""

    def __init__(self, repo_path: Path) -> None:
        self._store = features.open_store(repo_path)
        self._lock = threading.Lock()

    def lookup(self, customer_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Each customer's features, or ``None`` for a customer the store does not know."""
        with self._lock:
            return features.online_feature_rows(self._store, customer_ids)

    def ping(self) -> None:
        """Raise if the online store cannot be read."""
        self.lookup(["__readiness_probe__"])

