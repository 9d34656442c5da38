"""Features steps."""
