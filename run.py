"""churnops command line: the model's life cycle, one command per step of it.

    python run.py pipeline training              # validate, features, train, register, gate
    python run.py pipeline all                   # feature, training, inference, deployment
    python run.py pipeline deployment --strategy canary --canary-share 0.2
    python run.py model history | promote N | rollback
    python run.py deploy status | promote | rollback | canary-share 0.5
    python run.py serve [--port 8080]
    python run.py loop --days 20 --scenario concept_drift
    python run.py schedule continuous_training   # on its cron: KFP, or here in the foreground
    python run.py compile-kfp all build/kfp
    python run.py down                           # stop the servers this checkout started

``python run.py --pipeline training`` (and the other flags of earlier releases) still work.
Heavy libraries are imported by the commands that need them, so help and the read-only
commands start at once.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import click

from churnops.settings import SCENARIOS

PIPELINE_NAMES = ("feature", "training", "inference", "deployment", "monitoring", "retraining",
                  "continuous_training")
CONFIG = click.Path(exists=True, dir_okay=False, path_type=Path)


class LifeCycleGroup(click.Group):
    """Lists commands in the order they were declared: the life cycle's order."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=LifeCycleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and library logs.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """churnops: a churn model's life cycle as ZenML pipelines on swappable stacks."""
    ctx.obj = {"verbose": verbose}
    _configure_logging(verbose)


@cli.command("pipeline")
@click.argument("name", type=click.Choice([*PIPELINE_NAMES, "all"]))
@click.option("--config", type=CONFIG, help="Run config YAML (default: configs/<name>.yaml).")
@click.option("--no-cache", is_flag=True, help="Run every step even if a cached result exists.")
@click.option("--strategy", type=click.Choice(["basic", "shadow", "canary"]),
              help="deployment: how the candidate goes live (default from its config).")
@click.option("--canary-share", type=click.FloatRange(0, 1),
              help="deployment: share of traffic the canary answers.")
@click.option("--model-version", metavar="N",
              help="deployment: the version to serve (basic) or to try (shadow/canary).")
def pipeline_command(name: str, config: Path | None, no_cache: bool, strategy: str | None,
                     canary_share: float | None, model_version: str | None) -> None:
    """Run one pipeline on the active stack ('all': feature, training, inference,
    deployment)."""
    from ops import pipelines

    overrides = {k: v for k, v in {"strategy": strategy, "canary_share": canary_share,
                                   "model_version": model_version}.items() if v is not None}
    if overrides and name != "deployment":
        raise click.UsageError("--strategy, --canary-share and --model-version apply to "
                               "the deployment pipeline only.")
    if config and name == "all":
        raise click.UsageError("--config applies to one pipeline; 'all' uses configs/<name>.yaml.")
    client = pipelines.start_zenml()
    for each in pipelines.ORDER_OF_ALL if name == "all" else (name,):
        pipelines.run_and_report(client, each, config, overrides, no_cache, echo=click.echo)


@cli.group("model", cls=LifeCycleGroup)
def model_group() -> None:
    """The registry's champion alias: history, promote, rollback."""


@model_group.command("history")
def model_history() -> None:
    """Print the promotion history of churn-model."""
    from ops import model

    click.echo(model.history())


@model_group.command("promote")
@click.argument("version")
def model_promote(version: str) -> None:
    """Give @champion to VERSION by hand (skips the gate; recorded)."""
    from ops import model

    event = model.promote(version)
    click.echo(f"churn-model v{event.version} is now @champion (was "
               f"v{event.previous_champion}). Serve it: python run.py pipeline deployment")


@model_group.command("rollback")
def model_rollback() -> None:
    """Give @champion back to the previous champion (recorded)."""
    from ops import model

    event = model.rollback()
    click.echo(f"Rolled back: churn-model v{event.version} is @champion again "
               f"(was v{event.previous_champion}).")


@cli.group("deploy", cls=LifeCycleGroup)
def deploy_group() -> None:
    """The live deployment: status, and the fate of a shadow or canary candidate."""


@deploy_group.command("status")
def deploy_status() -> None:
    """What is live: versions, slots, traffic shares, endpoints, server health."""
    from ops.deployment import status

    click.echo(status())


@deploy_group.command("promote")
def deploy_promote() -> None:
    """The live candidate becomes @champion and answers all traffic."""
    live = _act_on_candidate("promote_candidate")
    click.echo(f"churn-model v{live.primary.version} now answers all traffic.")


@deploy_group.command("rollback")
def deploy_rollback() -> None:
    """Stop the live candidate; the primary answers all traffic."""
    live = _act_on_candidate("rollback_candidate")
    click.echo(f"churn-model v{live.primary.version} answers all traffic again.")


@deploy_group.command("canary-share")
@click.argument("share", type=click.FloatRange(0.01, 0.99))
def deploy_canary_share(share: float) -> None:
    """Give the live canary SHARE of the requests (0.01-0.99), to ramp it up or down."""
    live = _act_on_candidate("set_canary_share", share)
    click.echo(f"Canary churn-model v{live.candidate.version} answers {share:.0%} of requests.")


def _act_on_candidate(action: str, *args: object):  # noqa: ANN202 - a LiveDeployment
    from churnops.deployment_record import StaleDeploymentError
    from ops import deployment, pipelines

    pipelines.start_zenml()
    return _user_errors(lambda: getattr(deployment, action)(*args),
                        (deployment.NoCandidateError, StaleDeploymentError),
                        "python run.py deploy status")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Run the prediction service in the foreground until SIGTERM (see serving/)."""
    from ops.errors import UserError
    from ops.processes import pid_file, port_in_use

    if port_in_use(host, port):
        raise UserError(f"{host}:{port} is already in use.",
                        hint=f"python run.py serve --port {port + 1}, or python run.py down")
    from serving.server import serve as serve_forever

    with pid_file(f"serve-{port}"):
        serve_forever(host, port)


@cli.command("loop")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1))
@click.option("--scenario", default="none", show_default=True, type=click.Choice(SCENARIOS),
              help="What changes in production from the onset day.")
@click.option("--strength", type=click.FloatRange(0),
              help="The scenario's strength, in its unit (default: its documented default; "
              "see simulation/scenarios.py).")
@click.option("--seed", default=0, show_default=True, help="Simulator seed.")
@click.option("--timeline-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Timeline CSV (a PNG plot is written beside it).")
@click.option("--config", type=CONFIG, help="Loop config (default: configs/continuous.yaml).")
def loop(days: int, scenario: str, strength: float | None, seed: int,
         timeline_out: Path | None, config: Path | None) -> None:
    """The closed loop over simulated days of production traffic."""
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")  # the loop prints a timeline
    from ops import loop as closed_loop
    from ops import pipelines

    closed_loop.simulate(pipelines.start_zenml(), days, scenario, seed, timeline_out, config,
                         strength=strength, echo=click.echo)


@cli.command("schedule")
@click.argument("name", type=click.Choice(PIPELINE_NAMES))
@click.option("--config", type=CONFIG, help="Run config YAML (default: configs/<name>.yaml).")
@click.option("--cron", help="Five-field cron line in UTC (default: the config's schedule).")
@click.option("--runs", type=click.IntRange(1), help="local: stop after this many runs.")
def schedule(name: str, config: Path | None, cron: str | None, runs: int | None) -> None:
    """Run a pipeline on a cron schedule: a recurring run on kubeflow, here in the
    foreground on local."""
    from ops import pipelines
    from ops import schedule as scheduling

    config_path = config or pipelines.default_config(name)
    cron = scheduling.cron_of(name, config_path, cron)
    client = pipelines.start_zenml()
    if client.active_stack.orchestrator.flavor == "kubeflow":
        pipelines.schedule_on_orchestrator(client, name, config_path, cron)
        click.echo(f"{name} is scheduled on '{cron}' (UTC) as a Kubeflow recurring run; "
                   "see its runs in the Kubeflow and ZenML dashboards.")
        return
    click.echo(f"Running {name} on '{cron}' (UTC) in the foreground. The same from cron:\n"
               f"{scheduling.crontab_line(name, cron)}")
    scheduling.run_in_foreground(
        lambda: pipelines.run_and_report(client, name, config_path, echo=click.echo),
        scheduling.cron_trigger(cron), runs, echo=click.echo)


@cli.command("compile-kfp")
@click.argument("name", type=click.Choice([*PIPELINE_NAMES, "all"]))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--config", type=CONFIG, help="Run config YAML (default: configs/<name>.yaml).")
def compile_kfp(name: str, out_dir: Path, config: Path | None) -> None:
    """Write the KFP v2 IR the kubeflow stack would submit; runs nothing."""
    from ops import pipelines
    from stacks.kubeflow.compile import store_warning

    pipelines.start_zenml()
    for each in PIPELINE_NAMES if name == "all" else (name,):
        written = pipelines.compile_kfp(each, config, out_dir)
        click.echo(f"{each}: " + ", ".join(str(path) for path in written))
    if warning := store_warning():
        click.echo(f"warning: {warning}", err=True)


@cli.command("down")
def down() -> None:
    """Stop every model server and service this checkout started."""
    from ops import pipelines, processes
    from stacks.access import stop_all_servers

    services = processes.stop_recorded_services()
    pipelines.start_zenml()
    servers = stop_all_servers()
    click.echo(f"Stopped {len(services)} service(s) and {len(servers)} model server(s).")


# Errors, logging and the flags of earlier releases ----------------------------------------------


def _user_errors(action, kinds, hint):  # noqa: ANN001, ANN202
    from ops.errors import UserError

    try:
        return action()
    except kinds as error:
        raise UserError(str(error), hint=hint) from error


def _configure_logging(verbose: bool) -> None:
    if not verbose:
        from ops.quiet import quiet_libraries

        quiet_libraries()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("ops", "stacks"):  # ZenML logs the pipelines' own lines
        project_logger = logging.getLogger(name)
        project_logger.setLevel(logging.DEBUG if verbose else logging.INFO)
        project_logger.addHandler(handler)
        project_logger.propagate = False


LEGACY_FLAGS = {  # flag of earlier releases -> the command it maps to
    "--history": ["model", "history"], "--rollback": ["model", "rollback"],
    "--status": ["deploy", "status"], "--promote-canary": ["deploy", "promote"],
    "--rollback-canary": ["deploy", "rollback"],
}


def translate_legacy(argv: list[str]) -> list[str] | None:
    """The command for a command line of earlier releases (``--pipeline training``), or None.

    ``--pipeline NAME`` with its options maps to ``pipeline NAME``, ``--compile-kfp DIR`` to
    ``compile-kfp``, ``--pipeline continuous`` to ``loop``, and the other flags to the
    commands in ``LEGACY_FLAGS``, ``--promote N`` and ``--serve``.
    """
    if not argv or not argv[0].startswith("--") or argv[0] in ("--help", "--verbose"):
        return None
    args, flags = list(argv), {}
    for flag in ("--pipeline", "--config", "--compile-kfp", "--promote", "--host", "--port",
                 "--strategy", "--canary-share", "--model-version", "--days", "--scenario",
                 "--strength", "--seed", "--timeline-out"):
        if flag in args:
            at = args.index(flag)
            flags[flag] = args[at + 1] if at + 1 < len(args) else ""
            del args[at:at + 2]
    for flag, command in LEGACY_FLAGS.items():
        if flag in args:
            return command
    if "--promote" in flags:
        return ["model", "promote", flags["--promote"]]
    if "--serve" in args:
        return ["serve", *_pass(flags, "--host", "--port")]
    name = flags.get("--pipeline")
    if name == "continuous":
        return ["loop", *_pass(flags, "--days", "--scenario", "--strength", "--seed",
                               "--timeline-out", "--config")]
    if name and "--compile-kfp" in flags:
        return ["compile-kfp", name, flags["--compile-kfp"], *_pass(flags, "--config")]
    if name:
        return ["pipeline", name, *_pass(flags, "--config", "--strategy", "--canary-share",
                                         "--model-version"), *args]
    return None


def _pass(flags: dict[str, str], *names: str) -> list[str]:
    return [part for name in names if name in flags for part in (name, flags[name])]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; expected failures print one line and what to do next, not a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv
    rest = [a for a in argv if a not in ("-v", "--verbose")]
    translated = translate_legacy(rest)
    if translated is not None:
        if rest[:1] != ["--pipeline"] or translated[0] != "pipeline":
            click.echo(f"note: `run.py {' '.join(rest)}` is now "
                       f"`run.py {' '.join(translated)}`", err=True)
        rest = translated
    try:
        cli.main(args=(["-v"] if verbose else []) + rest, prog_name="run.py",
                 standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except Exception as error:  # noqa: BLE001 - the one place errors become messages
        return _report(error, verbose)
    return 0


def _report(error: Exception, verbose: bool) -> int:
    from ops.errors import UserError

    if verbose:
        traceback.print_exception(error)
    if isinstance(error, UserError):
        click.echo(f"error: {error}", err=True)
        if error.hint:
            click.echo(f"next:  {error.hint}", err=True)
    else:
        click.echo(f"error: {type(error).__name__}: {error}", err=True)
        if not verbose:
            click.echo("next:  run the same command with -v to see the traceback", err=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
