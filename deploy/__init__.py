"""Deployment manifests for the production stack and their offline validation."""
