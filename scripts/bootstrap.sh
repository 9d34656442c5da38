#!/usr/bin/env bash
# Create or reuse .venv and install an exact-pinned lock into it.
#   scripts/bootstrap.sh requirements.txt        (runtime)
#   scripts/bootstrap.sh requirements-dev.txt    (runtime + test tools)
# Needs only Python 3.11 and access to the package index.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK="${1:-requirements.txt}"
VENV="${CHURNOPS_VENV:-.venv}"
UV_VERSION="0.13.9"

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)." >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY="$(find_python)"
  echo "Creating $VENV with $("$PY" --version) ..."
  "$PY" -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
stamp="$VENV/.installed-$(basename "$LOCK")-$(sha256sum "$LOCK" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing $LOCK into $VENV ..."
  "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -r "$LOCK"
  rm -f "$VENV"/.installed-"$(basename "$LOCK")"-*
  touch "$stamp"
fi
