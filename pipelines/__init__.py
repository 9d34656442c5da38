"""Pipelines: wiring only. One file per pipeline."""
