#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (Playwright drives the system browser).
# Does nothing when chromium is already there; needs root or sudo otherwise.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found and this is not a Debian/Ubuntu system: the browser tests will skip." >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "chromium not found; run 'sudo apt-get install chromium' for the browser tests." >&2
    exit 0
  fi
fi
echo "Installing chromium for the browser tests ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
