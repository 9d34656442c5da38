"""Batch inference steps."""
