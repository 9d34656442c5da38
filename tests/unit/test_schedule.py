"""Schedules: the cron line, KFP's form of it, and the local foreground scheduler.

The foreground scheduler is APScheduler itself, driven by a trigger that fires every
second so the test takes seconds; the command uses the same function with the run
config's cron.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger

from churnops import paths
from ops.errors import UserError
from ops.schedule import cron_of, cron_trigger, crontab_line, run_in_foreground
from stacks.kubeflow.schedule import CronError, kfp_cron


def test_the_continuous_training_config_runs_daily_at_six() -> None:
    cron = cron_of("continuous_training", paths.CONFIG_DIR / "continuous_training.yaml", None)
    assert cron == "0 6 * * *"
    fire = cron_trigger(cron).get_next_fire_time(None, datetime(2026, 3, 1, 7, tzinfo=UTC))
    assert fire == datetime(2026, 3, 2, 6, tzinfo=UTC)


def test_kfp_gets_six_fields_seconds_first() -> None:
    assert kfp_cron("0 6 * * *") == "0 0 6 * * *"
    assert kfp_cron("*/15 * * * 1-5") == "0 */15 * * * 1-5"
    with pytest.raises(CronError, match="five fields"):
        kfp_cron("0 0 6 * * *")


def test_a_config_without_a_schedule_or_a_bad_cron_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "x.yaml"
    config.write_text(yaml.safe_dump({"parameters": {}}))
    with pytest.raises(UserError, match="no schedule.cron_expression") as error:
        cron_of("training", config, None)
    assert error.value.hint == "python run.py schedule training --cron '0 6 * * *'"
    with pytest.raises(UserError, match="not a five-field cron line"):
        cron_of("training", config, "0 6 * *")
    assert cron_of("training", config, "30 2 * * 0") == "30 2 * * 0"


def test_the_crontab_line_runs_the_same_command_in_utc() -> None:
    line = crontab_line("continuous_training", "0 6 * * *")
    assert line.splitlines()[0] == "CRON_TZ=UTC"
    assert line.splitlines()[1].startswith("0 6 * * * cd ")
    assert line.endswith("run.py pipeline continuous_training")


def test_the_foreground_schedule_runs_on_its_trigger_and_survives_a_failed_run() -> None:
    calls: list[float] = []
    printed: list[str] = []

    def job() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise RuntimeError("the pipeline failed")

    runs = run_in_foreground(job, CronTrigger(second="*", timezone="UTC"), runs=3,
                             echo=printed.append)
    assert runs == 3 and len(calls) == 3
    gaps = [later - earlier for earlier, later in zip(calls, calls[1:], strict=False)]
    assert all(0.5 < gap < 1.5 for gap in gaps), gaps
    assert "error: scheduled run 2 failed: the pipeline failed" in printed
    assert printed[0].startswith("First run: ")


def test_a_run_still_going_is_not_started_again() -> None:
    """max_instances=1: a run longer than the interval is not overlapped (KFP's
    max_concurrency=1); the missed firings are coalesced."""
    running, overlaps, calls = threading.Lock(), [], []

    def slow_job() -> None:
        if not running.acquire(blocking=False):
            overlaps.append(time.monotonic())
            return
        try:
            calls.append(time.monotonic())
            time.sleep(2.5)
        finally:
            running.release()

    run_in_foreground(slow_job, CronTrigger(second="*", timezone="UTC"), runs=2,
                      echo=lambda _: None)
    assert overlaps == [] and len(calls) == 2
    assert calls[1] - calls[0] >= 2.5
