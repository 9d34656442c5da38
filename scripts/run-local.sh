#!/usr/bin/env bash
# Set up .venv and run the whole life cycle on the local stack.
# Extra arguments go to run.py (default: pipeline all).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt
[ $# -gt 0 ] || set -- pipeline all
exec .venv/bin/python run.py "$@"
