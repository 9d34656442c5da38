"""A pipeline's schedule as Kubeflow Pipelines runs it: a recurring run with a cron trigger.

Run configs hold the cron in the five fields everyone writes (``0 6 * * *``: daily at 06:00
UTC). KFP's backend parses cron with robfig/cron v1: six fields, seconds first, in UTC; a
five-field line given to it unchanged fires every hour (docs/stack-notes.md, "Schedules on
Kubeflow"). ``kfp_cron`` converts, and ``recurring_run`` writes the body that
``kfp.Client.create_recurring_run`` sends, so a compiled pipeline can be scheduled by hand
(``POST /apis/v2beta1/recurringruns``) or reviewed before ZenML submits it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class CronError(ValueError):
    """A schedule's cron line is not five fields."""


def kfp_cron(cron: str) -> str:
    """``0 6 * * *`` -> ``0 0 6 * * *``: KFP's six-field cron, firing at second 0."""
    fields = cron.split()
    if len(fields) != 5:
        raise CronError(f"{cron!r} is not a five-field cron line: a schedule's cron line has "
                        "five fields (minute hour day month weekday)")
    return " ".join(["0", *fields])


def pipeline_spec(ir_path: Path) -> dict[str, Any]:
    """The compiled file as the KFP API takes it inline: the pipeline spec, and the platform
    spec beside it when the file has one (as ``kfp.Client`` reads a package)."""
    docs = [doc for doc in yaml.safe_load_all(Path(ir_path).read_text()) if doc]
    if len(docs) == 1:
        return docs[0]
    platform: dict[str, Any] = {}
    for doc in docs[1:]:
        platform.update(doc)
    return {"pipeline_spec": docs[0], "platform_spec": platform}


def recurring_run(name: str, ir_path: Path, cron: str, catchup: bool = False
                  ) -> dict[str, Any]:
    """The ``V2beta1RecurringRun`` body for compiled pipeline ``ir_path`` on ``cron``.

    As ZenML's Kubeflow orchestrator creates it: no catch-up, one run at a time, caching off.
    """
    from kfp_server_api import (
        ApiClient,
        RecurringRunMode,
        V2beta1CronSchedule,
        V2beta1RecurringRun,
        V2beta1RuntimeConfig,
        V2beta1Trigger,
    )

    body = V2beta1RecurringRun(
        display_name=name, description=f"{name} on cron {cron!r} (UTC)",
        pipeline_spec=pipeline_spec(ir_path), runtime_config=V2beta1RuntimeConfig(),
        trigger=V2beta1Trigger(cron_schedule=V2beta1CronSchedule(cron=kfp_cron(cron))),
        mode=RecurringRunMode.ENABLE, max_concurrency=1, no_catchup=not catchup,
    )
    return ApiClient().sanitize_for_serialization(body)


def write_recurring_run(name: str, ir_path: Path, cron: str, catchup: bool = False) -> Path:
    """Write ``recurring_run`` beside the compiled file as ``<pipeline>.schedule.yaml``."""
    path = Path(ir_path).with_suffix(".schedule.yaml")
    body = recurring_run(name, ir_path, cron, catchup)
    path.write_text(f"# Recurring run of {name}: POST /apis/v2beta1/recurringruns with this "
                    "body (an experiment_id added), or let ZenML create it.\n"
                    + yaml.safe_dump(body, sort_keys=False))
    return path
