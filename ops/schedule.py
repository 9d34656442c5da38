"""A pipeline on a cron schedule: a KFP recurring run on ``kubeflow``, the foreground here.

The schedule is the run config's ``schedule.cron_expression`` (five fields, UTC), unless one
is given. On the ``kubeflow`` stack ZenML creates the recurring run (in KFP's six-field form,
``stacks.kubeflow.schedule.kfp_cron``) and returns. On ``local`` the pipeline runs in this
process, on the same cron, until interrupted: APScheduler's cron trigger, one run at a time
and missed runs coalesced into one, as KFP does with ``max_concurrency=1, no_catchup``.
"""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnops import paths, settings
from ops.errors import UserError
from stacks.kubeflow.schedule import CronError, kfp_cron

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

logger = logging.getLogger(__name__)


def configured_cron(config_path: Path) -> str | None:
    """The run config's ``schedule.cron_expression``, if it has one."""
    schedule = settings.run_config(config_path, with_schedule=True).get("schedule") or {}
    return schedule.get("cron_expression")


def cron_of(name: str, config_path: Path, cron: str | None) -> str:
    """The cron line to use, checked: the one given, else the run config's."""
    cron = cron or configured_cron(config_path)
    if not cron:
        raise UserError(f"{config_path} has no schedule.cron_expression.",
                        hint=f"python run.py schedule {name} --cron '0 6 * * *'")
    try:
        kfp_cron(cron)  # the one check of a cron line, for both stacks
    except CronError as error:
        raise UserError(str(error), hint="for example --cron '0 6 * * *' (daily, 06:00 UTC)"
                        ) from error
    return cron


def crontab_line(name: str, cron: str) -> str:
    """The crontab entry that would do the same from cron(8) (which runs in local time)."""
    command = " ".join(shlex.quote(part) for part in (
        sys.executable, str(paths.PROJECT_ROOT / "run.py"), "pipeline", name))
    return f"CRON_TZ=UTC\n{cron} cd {shlex.quote(str(paths.PROJECT_ROOT))} && {command}"


def cron_trigger(cron: str) -> BaseTrigger:
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(cron, timezone="UTC")


def run_in_foreground(job: Callable[[], Any], trigger: BaseTrigger, runs: int | None = None,
                      echo: Callable[[str], None] = print) -> int:
    """Call ``job`` on ``trigger`` until interrupted, or ``runs`` times; returns the count.

    A run that fails is reported and the schedule goes on, as a recurring run does.
    """
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")
    done = {"runs": 0, "failed": 0}

    def finished(event: Any) -> None:
        done["runs"] += 1
        if event.exception is not None:
            done["failed"] += 1
            echo(f"error: scheduled run {done['runs']} failed: {event.exception}")
        if runs is not None and done["runs"] >= runs:
            scheduler.shutdown(wait=False)
        else:
            after = trigger.get_next_fire_time(None, datetime.now(UTC))
            echo(f"Next run: {after:%Y-%m-%d %H:%M:%S %Z}.")

    scheduler.add_listener(finished, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.add_job(job, trigger, id="pipeline", max_instances=1, coalesce=True,
                      misfire_grace_time=None)
    first = trigger.get_next_fire_time(None, datetime.now(UTC))
    echo(f"First run: {first:%Y-%m-%d %H:%M:%S %Z}. Ctrl-C stops the schedule.")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        echo("Schedule stopped.")
    return done["runs"]
