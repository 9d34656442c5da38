"""The ZenML dashboard, as a user opens it: the local server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.processes import free_port

ZENML = str(Path(sys.executable).parent / "zenml")


@pytest.fixture()
def dashboard(training_run) -> Iterator[str]:
    """``zenml login --local`` against the session's store; logged out afterwards."""
    port = free_port()
    env = {**os.environ, "ZENML_AUTO_OPEN_DASHBOARD": "false"}
    started = subprocess.run(
        [ZENML, "login", "--local", "--ip-address", "127.0.0.1", "--port", str(port)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([ZENML, "logout", "--local"], env=env, capture_output=True, timeout=300)
