"""Deployment steps: resolve versions, start model servers, smoke-test, publish."""
