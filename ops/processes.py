"""Processes this checkout runs: free ports, waiting for a server, and stopping them all.

The tests and the benchmarks start their servers with the same helpers. Services started
with ``run.py serve`` leave a pid file in ``<state>/run/``, so ``run.py down`` can find and
stop them together with the model servers the stack's model deployer runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from churnops import paths

STARTUP_BOUND_S = 90.0
"""How long a server may take to answer its health check before we give up."""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def wait_for_http(url: str, process: subprocess.Popen | None = None,
                  bound_s: float = STARTUP_BOUND_S) -> float:
    """Poll ``url`` until it answers 200; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < bound_s:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - start
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {bound_s:.0f} s")


@contextlib.contextmanager
def server_process(command: list[str], health_url: str, log_file: Path,
                   bound_s: float = STARTUP_BOUND_S, **popen: Any
                   ) -> Iterator[tuple[subprocess.Popen, float]]:
    """Start a server, wait until ``health_url`` answers, and stop it on exit.

    Yields the process and its start-up time. A server that dies or never answers fails
    with the tail of its log.
    """
    with log_file.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
        try:
            try:
                startup = wait_for_http(health_url, process, bound_s)
            except (RuntimeError, TimeoutError) as error:
                raise RuntimeError(f"{error}\n{log_file.read_text()[-3000:]}") from None
            yield process, startup
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Services started by `run.py serve` -------------------------------------------------------------


def _run_dir() -> Path:
    path = paths.state_dir() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def pid_file(name: str) -> Iterator[Path]:
    """Record this process as ``<state>/run/<name>.pid`` while it runs."""
    path = _run_dir() / f"{name}.pid"
    path.write_text(str(os.getpid()))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def stop_recorded_services(timeout: float = 20) -> list[str]:
    """SIGTERM every process with a pid file in ``<state>/run``; returns their names."""
    stopped = []
    for path in sorted(_run_dir().glob("*.pid")):
        pid = int(path.read_text().strip() or 0)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(path.stem)
        path.unlink(missing_ok=True)
    return stopped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers signal 0; reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True
