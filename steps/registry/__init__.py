"""Registry steps."""
