#!/usr/bin/env bash
# Set up .venv with the test tools, check lint and the import-layer contracts, then run every
# test tier (unit, integration, e2e).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the fast tier.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
scripts/install-browser.sh
.venv/bin/ruff check .
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
