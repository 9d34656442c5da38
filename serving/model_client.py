"""Calls to MLflow scoring servers (``POST /invocations``), over one keep-alive client."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from churnops import schema


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
        payload = {"dataframe_split": {
            "columns": list(schema.FEATURE_NAMES),
            "data": [[row[name] for name in schema.FEATURE_NAMES] for row in rows],
        }}
        try:
            response = await self._http.post(endpoint, json=payload)
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
        return _probabilities(endpoint, response, len(rows))

    async def ping(self, endpoint: str) -> None:
        """Raise ``ModelServerError`` unless the server's health check (``/ping``) passes."""
        url = endpoint.removesuffix("/invocations") + "/ping"
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as error:
            raise ModelServerError(f"{url} unreachable: {error}") from error
        if response.status_code != 200:
            raise ModelServerError(f"{url} answered {response.status_code}")

    async def aclose(self) -> None:
        await self._http.aclose()


def _probabilities(endpoint: str, response: httpx.Response, expected: int) -> list[float]:
    """The positive-class column of ``{"predictions": [[p0, p1], ...]}``, checked."""
    try:
        rows = response.json()["predictions"]
        values = [float(row[1]) for row in rows]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise ModelServerError(
            f"model server {endpoint} sent no class probabilities: {response.text[:200]}"
        ) from error
    if len(values) != expected:
        raise ModelServerError(f"model server {endpoint} sent {len(values)} rows for {expected}")
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        raise ModelServerError(f"model server {endpoint} sent probabilities outside [0, 1]")
    return values
