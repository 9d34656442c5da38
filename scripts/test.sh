#!/usr/bin/env bash
# Set up .venv with the test tools and run every test tier (unit, integration, e2e).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the fast tier.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
scripts/install-browser.sh
exec .venv/bin/python -m pytest "$@"
