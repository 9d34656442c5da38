"""The ingest-and-validate stage that every data-consuming pipeline starts with."""

from __future__ import annotations

from typing import Any

from steps.data.clean import clean_customers
from steps.data.load import fingerprint_raw_data, load_raw_data
from steps.data.validate import require_valid_data, validate_raw_data


def ingest(data_path: str) -> tuple[Any, Any]:
    """Fingerprint, load, validate (stop on failure) and clean. Returns (clean, data_version)."""
    data_version = fingerprint_raw_data(data_path)
    raw = load_raw_data(data_path, data_version)
    report = validate_raw_data(raw)
    clean = clean_customers(raw, require_valid_data(report))
    return clean, data_version
