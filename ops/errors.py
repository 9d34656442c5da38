"""Failures a user can act on: each carries the next thing to do."""

from __future__ import annotations


class UserError(Exception):
    """An expected failure (no champion yet, a port in use, data that fails validation).

    The CLI prints ``str(error)`` and the ``hint`` on one line each, without a traceback.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
