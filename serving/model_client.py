"""Calls to model servers, over one keep-alive client.

The protocol follows from the endpoint URL (``churnops/protocols.py``): MLflow's
``.../invocations`` locally, the Open Inference Protocol's ``.../v2/models/<name>/infer``
behind Seldon Core (MLServer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import httpx

from churnops.protocols import Protocol, ProtocolError, protocol_for_endpoint


class ModelServerError(Exception):
    """The model server could not be reached, timed out, or answered something unusable."""


class ModelClient:
    """Asynchronous; one connection pool for every model server the service talks to.

    The service's prediction path runs on the event loop, so a model call costs no thread
    hand-off: with a thread pool, the loop and the worker contend for the GIL and the tail
    latency grows by up to the interpreter's switch interval (5 ms) per hand-off.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def churn_probabilities(self, endpoint: str, rows: Sequence[Mapping[str, Any]]
                                  ) -> list[float]:
        """p(churn) for each row (a dict of every feature), in order."""
        protocol, base = _protocol(endpoint)
        try:
            path, payload = protocol.encode(rows)
        except ProtocolError as error:
            raise ModelServerError(f"cannot call {endpoint}: {error}") from error
        try:
            response = await self._http.post(base + path, json=payload)
        except httpx.TimeoutException as error:
            raise ModelServerError(
                f"model server {endpoint} timed out after {self.timeout_s} s"
            ) from error
        except httpx.HTTPError as error:
            raise ModelServerError(f"model server {endpoint} unreachable: {error}") from error
        if response.status_code != 200:
            raise ModelServerError(
                f"model server {endpoint} answered {response.status_code}: {response.text[:200]}"
            )
        try:
            return protocol.decode(response.json(), len(rows))
        except (ValueError, ProtocolError) as error:
            raise ModelServerError(f"model server {endpoint}: {error}") from error

    async def ping(self, endpoint: str) -> None:
        """Raise ``ModelServerError`` unless the server's health check passes."""
        protocol, base = _protocol(endpoint)
        url = base + protocol.health_path
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as error:
            raise ModelServerError(f"{url} unreachable: {error}") from error
        if response.status_code != 200:
            raise ModelServerError(f"{url} answered {response.status_code}")

    async def aclose(self) -> None:
        await self._http.aclose()


@lru_cache(maxsize=64)
def _protocol(endpoint: str) -> tuple[Protocol, str]:
    try:
        return protocol_for_endpoint(endpoint)
    except ProtocolError as error:
        raise ModelServerError(str(error)) from error
