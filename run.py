"""churnops command line: run the pipelines and manage the champion model.

    python run.py --pipeline training          # validate, features, train, register, gate
    python run.py --pipeline feature           # validate and publish features to Feast
    python run.py --pipeline inference         # score every customer with the champion
    python run.py --pipeline monitoring        # drift and live performance -> a decision
    python run.py --pipeline all               # feature, training, inference, deployment
    python run.py --pipeline continuous --days 30 --scenario concept_drift [--seed S]
    python run.py --pipeline all --compile-kfp build/kfp   # KFP v2 IR for the kubeflow stack
    python run.py --pipeline deployment [--strategy basic|shadow|canary] [--canary-share F]
    python run.py --pipeline deployment --status | --promote-canary | --rollback-canary
    python run.py --serve [--host 127.0.0.1] [--port 8080]
    python run.py --history | --promote N | --rollback
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import click

from churnops import paths

PIPELINES = {  # name -> (module, pipeline function), imported only when run
    "feature": ("pipelines.feature", "feature_pipeline"),
    "training": ("pipelines.training", "training_pipeline"),
    "inference": ("pipelines.inference", "inference_pipeline"),
    "deployment": ("pipelines.deployment", "deployment_pipeline"),
    "monitoring": ("pipelines.monitoring", "monitoring_pipeline"),
    "retraining": ("pipelines.retraining", "retraining_pipeline"),
}
ORDER_OF_ALL = ("feature", "training", "inference", "deployment")
MLFLOW_UI = "http://127.0.0.1:5000"
LOCAL_DASHBOARD = "http://127.0.0.1:8237"

def _setup() -> None:
    """Quiet third-party chatter and make ZenML resolve sources from the project root."""
    os.environ.setdefault("CHURNOPS_HOME", str(paths.state_dir()))
    os.environ.setdefault("ZENML_AUTO_OPEN_DASHBOARD", "false")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for noisy in ("great_expectations", "feast", "alembic", "mlflow.store"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    stacks_logger = logging.getLogger("stacks")  # stack registration happens before ZenML logs
    stacks_logger.setLevel(logging.INFO)
    stacks_logger.addHandler(handler)
    stacks_logger.propagate = False
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(paths.PROJECT_ROOT))


def _client():
    from zenml.client import Client

    from stacks.local import ensure_local_stack

    client = Client()
    stack = ensure_local_stack(client)
    click.echo(f"Active stack: {stack}")
    return client


def _mlflow_client(client):
    registry = client.active_stack.model_registry
    if registry is None:
        raise click.ClickException("The active stack has no model registry.")
    return registry.mlflow_client


def _pipeline(name: str):
    module, function = PIPELINES[name]
    return getattr(importlib.import_module(module), function)


def _options(name: str, config: Path | None, deployment: dict) -> dict:
    """Run options: the config file, with the deployment flags merged into it."""
    config_path = config or paths.CONFIG_DIR / f"{name}.yaml"
    click.echo(f"Running the {name} pipeline with {config_path} ...")
    if name != "deployment":
        return {"config_path": str(config_path)}
    from pipelines.deployment import build_run_config

    return build_run_config(config_path=config_path, **deployment)


def _run(client, name: str, config: Path | None, no_cache: bool, deployment: dict) -> None:
    from churnops import tracking

    pipeline = _pipeline(name)
    tracker = client.active_stack.experiment_tracker
    if tracker is not None:
        tracking.ensure_experiment(tracker.get_tracking_uri(), pipeline.name)
    started = time.monotonic()
    options = _options(name, config, deployment)
    from stacks.kubeflow import settings as kubeflow_settings

    options = kubeflow_settings.for_active_stack(pipeline, options)  # image, resources
    if no_cache:
        options["enable_cache"] = False
    try:
        run = pipeline.with_options(**options)()
    except RuntimeError as error:
        _explain_failure(client, pipeline.name, error)
        raise SystemExit(1) from error
    click.echo(f"\n{name} pipeline finished in {time.monotonic() - started:.0f} s.")
    _where_to_look(client, run)


def _explain_failure(client, pipeline_name: str, error: Exception) -> None:
    """Show the validation report when bad data stopped the run, else the error itself."""
    run = client.get_pipeline(pipeline_name).runs[0]
    step = run.steps.get("validate_raw_data")
    report = step.outputs["raw_data_validation"][0].load() if step and step.outputs else None
    if report is not None and not report.success:
        click.echo("\n" + report.to_text(), err=True)
        click.echo(
            f"\nThe data failed validation, so nothing was trained or registered.\n"
            f"HTML report: {paths.reports_dir() / 'raw_data_validation.html'}\n"
            "Fix the data (or, if the data is right and the rule is wrong, the schema in "
            "churnops/schema.py) and run again.", err=True)
    else:
        click.echo(f"\nThe {pipeline_name} run {run.name} failed: {error}\n"
                   "The step logs above say why; the dashboard shows them too.", err=True)


def _where_to_look(client, run) -> None:
    """Print the dashboard URL, the MLflow run, the registered version and report paths."""
    from zenml.utils.dashboard_utils import get_run_url

    run = client.get_pipeline_run(run.id)
    url = get_run_url(run)
    click.echo("\nWhere to look:")
    if url:
        click.echo(f"  ZenML run:       {url}")
    else:
        click.echo(f"  ZenML run:       {run.name} (id {run.id})")
        click.echo(f"                   start the dashboard with `zenml login --local`, then "
                   f"{LOCAL_DASHBOARD}/projects/{run.project.name}/runs/{run.id}")
    steps = run.steps
    if "log_model" in steps:
        mlflow_run_id = steps["log_model"].outputs["mlflow_run_id"][0].load()
        experiment_id = _mlflow_client(client).get_run(mlflow_run_id).info.experiment_id
        from churnops.tracking import run_url

        click.echo(f"  MLflow run:      {run_url(experiment_id, mlflow_run_id, MLFLOW_UI)}")
        click.echo(f"                   (start the UI with `mlflow ui --backend-store-uri "
                   f"{client.active_stack.experiment_tracker.get_tracking_uri()}`)")
    if "promotion_gate" in steps:
        decision = steps["promotion_gate"].outputs["promotion_decision"][0].load()
        verdict = ("promoted to @champion" if decision["promoted"]
                   else "approved: promote it after its canary" if decision.get("approved")
                   else "registered, not promoted")
        click.echo(f"  Model version:   churn-model v{decision['model_version']} ({verdict}); "
                   f"champion is v{decision['champion_after']}")
        click.echo("                   " + "; ".join(decision["reasons"]))
    if "score_customers" in steps:
        predictions = steps["score_customers"].outputs["batch_predictions"][0]
        click.echo(f"  Predictions:     {predictions.run_metadata['path']} "
                   f"({predictions.run_metadata['rows']} customers, artifact "
                   f"'batch_predictions' v{predictions.version})")
    if "publish_live_deployment" in steps:
        from steps.deployment.commands import status

        click.echo("  Live deployment:\n" + _indent(status(), 19))
        click.echo("                   serve it with `python run.py --serve`")
    if "decide_on_action" in steps:
        decision = steps["decide_on_action"].outputs["monitoring_decision"][0].load()
        click.echo(f"  Decision:        {decision['recommended_action']} (drift detected: "
                   f"{decision['drift_detected']}, performance degraded: "
                   f"{decision['performance_degraded']})")
        for reason in decision["reasons"]:
            click.echo(f"                   - {reason}")
        click.echo(f"  Drift report:    {paths.reports_dir() / 'drift_report.html'} (and the "
                   "'drift_report' artifact in the dashboard)")
    click.echo(f"  Reports:         {paths.reports_dir()}")


def _indent(text: str, width: int) -> str:
    return "\n".join(" " * width + line for line in text.splitlines())


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--pipeline", "pipeline_name",
              type=click.Choice([*PIPELINES, "all", "continuous"]),
              help="Pipeline to run; 'all' runs feature, training, inference and deployment; "
              "'continuous' runs the closed loop over simulated days.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Run config YAML (default: configs/<pipeline>.yaml).")
@click.option("--no-cache", is_flag=True, help="Run every step even if a cached result exists.")
@click.option("--promote", "promote_version", metavar="VERSION",
              help="Give the champion alias to this version (skips the gate; recorded).")
@click.option("--rollback", is_flag=True, help="Give the alias back to the previous champion.")
@click.option("--history", "show_history", is_flag=True, help="Print the promotion history.")
@click.option("--strategy", type=click.Choice(["basic", "shadow", "canary"]),
              help="Deployment strategy (default from configs/deployment.yaml).")
@click.option("--canary-share", type=click.FloatRange(0, 1),
              help="Share of traffic the canary answers.")
@click.option("--model-version", metavar="N",
              help="Version to deploy (basic) or to try as the candidate (shadow/canary).")
@click.option("--status", "show_status", is_flag=True,
              help="Show what is live: versions, strategy, traffic shares, endpoints.")
@click.option("--promote-canary", is_flag=True,
              help="Make the live shadow/canary candidate the champion.")
@click.option("--rollback-canary", is_flag=True,
              help="Stop the live shadow/canary candidate; the champion serves alone.")
@click.option("--serve", is_flag=True, help="Run the prediction service in the foreground.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for --serve.")
@click.option("--port", default=8080, show_default=True, help="Port for --serve.")
@click.option("--compile-kfp", type=click.Path(file_okay=False, path_type=Path),
              metavar="OUT_DIR", help="Write the KFP v2 IR YAML that the kubeflow stack would "
              "submit for --pipeline (all: every pipeline) to OUT_DIR; runs nothing.")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1),
              help="continuous: simulated days.")
@click.option("--scenario", default="none", show_default=True,
              type=click.Choice(["none", "data_drift", "concept_drift", "mixed"]),
              help="continuous: what changes in production from the onset day.")
@click.option("--seed", default=0, show_default=True, help="continuous: simulator seed.")
@click.option("--timeline-out", type=click.Path(dir_okay=False, path_type=Path),
              help="continuous: timeline CSV (a PNG plot is written beside it).")
def main(pipeline_name: str | None, config: Path | None, no_cache: bool,
         promote_version: str | None, rollback: bool, show_history: bool,
         strategy: str | None, canary_share: float | None, model_version: str | None,
         show_status: bool, promote_canary: bool, rollback_canary: bool,
         serve: bool, host: str, port: int, compile_kfp: Path | None, days: int,
         scenario: str, seed: int, timeline_out: Path | None) -> None:
    """Run churnops pipelines on the active ZenML stack (the local stack by default)."""
    if not (pipeline_name or promote_version or rollback or show_history or show_status
            or promote_canary or rollback_canary or serve):
        raise click.UsageError("Nothing to do: see --help.")
    if config and pipeline_name == "all":
        raise click.UsageError(
            "--config applies to one pipeline; 'all' uses configs/<name>.yaml.")
    if serve:
        _serve(host, port)
        return
    if pipeline_name == "continuous":  # the loop prints a timeline; keep ZenML's logs short
        os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")
    _setup()
    if compile_kfp:
        _compile_kfp(pipeline_name, config, compile_kfp)
        return
    client = _client()
    from churnops import registry

    if promote_version:
        event = registry.promote(_mlflow_client(client), promote_version)
        click.echo(f"churn-model v{event.version} is now @champion "
                   f"(was v{event.previous_champion}).")
    if rollback:
        try:
            event = registry.rollback(_mlflow_client(client))
        except RuntimeError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"Rolled back: churn-model v{event.version} is @champion again "
                   f"(was v{event.previous_champion}).")
    if show_history:
        mlflow_client = _mlflow_client(client)
        registry.ensure_registered_model(mlflow_client)
        click.echo(registry.format_history(registry.history(mlflow_client)))
    if promote_canary or rollback_canary:
        from steps.deployment import commands

        try:
            live = commands.promote_canary() if promote_canary else commands.rollback_canary()
        except RuntimeError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"churn-model v{live.champion.version} now serves all traffic.")
    deployment = {"strategy": strategy, "canary_share": canary_share,
                  "model_version": model_version}
    if pipeline_name == "continuous":
        _continuous(client, days, scenario, seed, timeline_out, config)
    elif pipeline_name and not (show_status and pipeline_name == "deployment"):
        for name in ORDER_OF_ALL if pipeline_name == "all" else (pipeline_name,):
            _run(client, name, config, no_cache, deployment)
    if show_status:
        from steps.deployment.commands import status

        click.echo(status())


def _compile_kfp(pipeline_name: str | None, config: Path | None, out_dir: Path) -> None:
    """KFP v2 IR for the kubeflow stack (see stacks/kubeflow/README.md); submits nothing."""
    if pipeline_name not in (*PIPELINES, "all"):
        raise click.UsageError(f"--compile-kfp needs --pipeline {'|'.join([*PIPELINES, 'all'])}.")
    from stacks.kubeflow.compile import compile_pipeline

    for name in PIPELINES if pipeline_name == "all" else (pipeline_name,):
        config_path = config or paths.CONFIG_DIR / f"{name}.yaml"
        click.echo(f"{name}: {compile_pipeline(_pipeline(name), config_path, out_dir)}")


def _continuous(client, days: int, scenario: str, seed: int, timeline_out: Path | None,
                config_path: Path | None = None) -> None:
    """The closed loop (churnops/continuous.py), each stage a pipeline run on this stack."""
    from data.simulator import SimulationConfig

    from churnops import continuous, registry
    from churnops.deployment import read_live
    from pipelines.deployment import build_run_config
    from steps.deployment import commands

    if registry.champion_version(_mlflow_client(client)) is None:
        raise click.ClickException("No champion yet: run `python run.py --pipeline training`.")
    if read_live() is None:
        _run(client, "deployment", None, False, {})
    simulation, settings = continuous.load_config(config_path or continuous.CONFIG)
    config = SimulationConfig(scenario=scenario, seed=seed, **simulation)

    def deploy_canary(version: str, share: float, bounds) -> None:
        options = build_run_config("canary", share, version)
        options["parameters"]["bounds"] = bounds.model_dump()
        _run_pipeline(client, "deployment", options)

    stages = continuous.Stages(
        monitor=lambda params: _output(_run_pipeline(client, "monitoring", _with(
            "monitoring", params)), "decide_on_action", "monitoring_decision"),
        retrain=lambda params: _output(_run_pipeline(client, "retraining", _with(
            "retraining", params)), "promotion_gate", "promotion_decision"),
        deploy_canary=deploy_canary,
        promote_canary=commands.promote_canary,
    )
    click.echo(f"Closed loop: {days} days, scenario {scenario}, seed {seed}, "
               f"{config.requests_per_day} requests a day, drift from day {config.onset_day}, "
               f"outcomes after {config.label_delay_days} days. (* = drifting)")
    rows = continuous.run(days, config, settings, stages, echo=click.echo)
    csv_path = timeline_out or paths.reports_dir() / f"continuous-{scenario}-seed{seed}.csv"
    png = continuous.write_timeline(rows, csv_path, f"{scenario}, seed {seed}")
    click.echo(f"\nTimeline: {csv_path}\nPlot:     {png}")
    click.echo("Live deployment:\n" + _indent(commands.status(), 2))


def _with(name: str, parameters: dict) -> dict:
    """The pipeline's config file with ``parameters`` merged into its own (one level deep)."""
    import yaml

    config = yaml.safe_load((paths.CONFIG_DIR / f"{name}.yaml").read_text()) or {}
    merged = dict(config.get("parameters") or {})
    for key, value in parameters.items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) and isinstance(
            merged.get(key), dict) else value
    return {**config, "parameters": merged}


def _run_pipeline(client, name: str, options: dict):
    """One quiet run (the loop prints its own timeline); raises on failure."""
    from stacks.kubeflow import settings as kubeflow_settings

    pipeline = _pipeline(name)
    run = pipeline.with_options(**kubeflow_settings.for_active_stack(pipeline, options))()
    return client.get_pipeline_run(run.id)


def _output(run, step: str, artifact: str):
    return run.steps[step].outputs[artifact][0].load()


def _serve(host: str, port: int) -> None:
    """The prediction service, configured from the environment (see serving/settings.py)."""
    os.environ.setdefault("CHURNOPS_HOME", str(paths.state_dir()))
    from serving.server import serve

    serve(host, port)


if __name__ == "__main__":
    sys.exit(main())
