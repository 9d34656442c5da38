"""Debian's chromium, driven by Playwright, and the dashboard's REST session, for the tests of
what people look at."""

from __future__ import annotations

import os
import shutil

import pytest
import requests

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """The browser's path; skips the test without it (fails under CHURNOPS_REQUIRE_SERVICES)."""
    path = shutil.which("chromium")
    if path is None:
        reason = "chromium is not installed (scripts/install-browser.sh installs it)"
        if os.environ.get("CHURNOPS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; CHURNOPS_REQUIRE_SERVICES=1 requires it")
        pytest.skip(reason)
    return path


def api_session(dashboard: str) -> requests.Session:
    """A REST session of the dashboard's default user, with the first-visit survey answered
    (as a person would), so that the dashboard opens on its pages."""
    session = requests.Session()
    token = session.post(f"{dashboard}/api/v1/login",
                         data={"username": "default", "password": ""}, timeout=30)
    assert token.ok, token.text
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    answered = session.put(f"{dashboard}/api/v1/current-user", timeout=30, json={
        "email_opted_in": False, "user_metadata": {"finished_onboarding_survey": True}})
    assert answered.ok, answered.text
    return session
