"""Running pipelines on the active stack, and saying where to look afterwards.

ZenML is imported when a pipeline runs, never when this module is imported, so commands
that only read state start in a second.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churnops import paths, settings
from ops.errors import UserError

if TYPE_CHECKING:
    from zenml.client import Client
    from zenml.models import PipelineRunResponse

logger = logging.getLogger(__name__)

PIPELINES = {  # name -> (module, pipeline function), imported only when run
    "feature": ("pipelines.feature", "feature_pipeline"),
    "training": ("pipelines.training", "training_pipeline"),
    "inference": ("pipelines.inference", "inference_pipeline"),
    "deployment": ("pipelines.deployment", "deployment_pipeline"),
    "monitoring": ("pipelines.monitoring", "monitoring_pipeline"),
    "retraining": ("pipelines.retraining", "retraining_pipeline"),
    "continuous_training": ("pipelines.continuous_training", "continuous_training_pipeline"),
}
ORDER_OF_ALL = ("feature", "training", "inference", "deployment")
"""What ``pipeline all`` runs: the life cycle up to a served model."""

MLFLOW_UI = "http://127.0.0.1:5000"
LOCAL_DASHBOARD = "http://127.0.0.1:8237"


def default_config(name: str) -> Path:
    return paths.CONFIG_DIR / f"{name}.yaml"


def start_zenml() -> Client:
    """Point ZenML at the project, register the local stack if needed, and return a client."""
    os.environ.setdefault("CHURNOPS_HOME", str(paths.state_dir()))
    os.environ.setdefault("ZENML_AUTO_OPEN_DASHBOARD", "false")
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    # Processes ZenML starts (model server daemons) load the stack, and with it the
    # project's flavors, from whatever directory run.py was started in.
    path = [str(paths.PROJECT_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(
        os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
    from zenml.client import Client
    from zenml.utils import source_utils

    from stacks.local import ensure_local_stack

    source_utils.set_custom_source_root(str(paths.PROJECT_ROOT))
    client = Client()
    logger.info("Active stack: %s", ensure_local_stack(client))
    return client


def load(name: str) -> Any:
    """The pipeline function called ``name``."""
    module, function = PIPELINES[name]
    return getattr(importlib.import_module(module), function)


def run(client: Client, name: str, config_path: Path | None = None,
        parameters: Mapping[str, Any] | None = None, no_cache: bool = False,
        ) -> PipelineRunResponse:
    """Run pipeline ``name`` with its run config and ``parameters`` merged in; raise
    ``PipelineFailed`` (with the reason a user can act on) when the run fails."""
    pipeline, options = _prepared(client, name, config_path, parameters)
    if no_cache:
        options["enable_cache"] = False
    try:
        result = pipeline.with_options(**options)()
    except RuntimeError as error:
        raise explain_failure(client, pipeline.name, error) from error
    return client.get_pipeline_run(result.id)


def schedule_on_orchestrator(client: Client, name: str, config_path: Path, cron: str) -> None:
    """Have the stack's orchestrator run pipeline ``name`` on ``cron`` (five fields, UTC):
    on Kubeflow, a recurring run in KFP's six-field cron."""
    from stacks.kubeflow.schedule import kfp_cron

    pipeline, options = _prepared(client, name, config_path, None)
    options["schedule"] = {"cron_expression": kfp_cron(cron), "catchup": False}
    pipeline.with_options(**options)()


def _prepared(client: Client, name: str, config_path: Path | None,
              parameters: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    """The pipeline and its run options on the active stack, for one run now."""
    from churnops import tracking
    from stacks.kubeflow import settings as kubeflow_settings

    pipeline = load(name)
    tracker = client.active_stack.experiment_tracker
    if tracker is not None:
        tracking.ensure_experiment(tracker.get_tracking_uri(), pipeline.name)
    options = settings.run_config(config_path or default_config(name), parameters)
    return pipeline, kubeflow_settings.for_active_stack(pipeline, options)


def output(run: PipelineRunResponse, step: str, artifact: str) -> Any:
    """The loaded value of one output artifact of one step of ``run``."""
    return run.steps[step].outputs[artifact][0].load()


class PipelineFailed(UserError):
    """A pipeline run failed; the message says why, the hint what to do."""


def explain_failure(client: Client, pipeline_name: str, error: Exception) -> PipelineFailed:
    """The validation report when bad data stopped the run, else the failed run's error."""
    run = client.get_pipeline(pipeline_name).runs[0]
    step = run.steps.get("validate_raw_data")
    report = step.outputs["raw_data_validation"][0].load() if step and step.outputs else None
    if report is not None and not report.success:
        return PipelineFailed(
            f"{report.to_text()}\nThe data failed validation, so nothing was trained or "
            f"registered. HTML report: {paths.reports_dir() / 'raw_data_validation.html'}",
            hint="fix the data (or, if the data is right and the rule is wrong, the schema "
                 "in churnops/schema.py) and run the pipeline again")
    return PipelineFailed(f"the {pipeline_name} run {run.name} failed: {error}",
                          hint="read the step logs above or in the dashboard "
                               "(`zenml login --local`)")


def where_to_look(client: Client, run: PipelineRunResponse) -> list[str]:
    """Lines that say where to look: dashboard URL, MLflow run, version, reports."""
    from zenml.utils.dashboard_utils import get_run_url

    url = get_run_url(run)
    lines = ["Where to look:"]
    if url:
        lines.append(f"  ZenML run:       {url}")
    else:
        lines += [f"  ZenML run:       {run.name} (id {run.id})",
                  f"                   dashboard: `zenml login --local`, then "
                  f"{LOCAL_DASHBOARD}/projects/{run.project.name}/runs/{run.id}"]
    steps = run.steps
    if "log_model" in steps:
        from churnops.tracking import run_url

        mlflow_run_id = output(run, "log_model", "mlflow_run_id")
        tracking_uri = client.active_stack.experiment_tracker.get_tracking_uri()
        from mlflow import MlflowClient

        experiment_id = MlflowClient(tracking_uri).get_run(mlflow_run_id).info.experiment_id
        served = tracking_uri.startswith(("http://", "https://"))  # a tracking server's UI
        lines.append("  MLflow run:      "
                     + run_url(experiment_id, mlflow_run_id, tracking_uri if served else MLFLOW_UI))
        if not served:
            lines.append(f"                   (UI: `mlflow ui --backend-store-uri {tracking_uri}`)")
    if "promotion_gate" in steps:
        gate = output(run, "promotion_gate", "promotion_decision")
        lines += [f"  Model version:   churn-model v{gate.model_version} ({gate.verdict}); "
                  f"champion is v{gate.champion_after}",
                  "                   " + "; ".join(gate.reasons)]
    if "score_customers" in steps:
        predictions = steps["score_customers"].outputs["batch_predictions"][0]
        lines.append(f"  Predictions:     {predictions.run_metadata['path']} "
                     f"({predictions.run_metadata['rows']} customers, artifact "
                     f"'batch_predictions' v{predictions.version})")
    if "publish_live_deployment" in steps:
        from ops.deployment import status

        lines += ["  Live deployment:", *("                   " + line
                                          for line in status().splitlines()),
                  "                   serve it with `python run.py serve`"]
    if "decide_on_action" in steps:
        decision = output(run, "decide_on_action", "monitoring_decision")
        lines.append(f"  Decision:        {decision.recommended_action} (most severe finding: "
                     f"{decision.severity})")
        lines += [f"                   - {reason}" for reason in decision.reasons]
        lines.append(f"  Drift report:    {paths.reports_dir() / 'drift_report.html'} (and "
                     "the 'drift_report' artifact in the dashboard)")
    if "finish_run" in steps:
        actions = output(run, "finish_run", "actions")
        lines += ["  Loop actions:    " + ("; ".join(actions) or "none"),
                  "                   the controller's runs: `python run.py deploy status`",
                  "  Trend:           the 'monitoring_trend' artifact in the dashboard (and "
                  f"{paths.reports_dir()}/monitoring-trend-<controller>.html)"]
    lines.append(f"  Reports:         {paths.reports_dir()}")
    return lines


def run_and_report(client: Client, name: str, config_path: Path | None = None,
                   parameters: Mapping[str, Any] | None = None, no_cache: bool = False,
                   echo: Any = print) -> PipelineRunResponse:
    """``run``, with a line before, the time taken after, and where to look."""
    echo(f"Running the {name} pipeline with {config_path or default_config(name)} ...")
    started = time.monotonic()
    result = run(client, name, config_path, parameters, no_cache)
    echo(f"\n{name} pipeline finished in {time.monotonic() - started:.0f} s.")
    echo("\n".join(where_to_look(client, result)))
    return result


def compile_kfp(name: str, config_path: Path | None, out_dir: Path) -> list[Path]:
    """The KFP v2 IR the kubeflow stack would submit for pipeline ``name``, and its
    recurring-run schedule when the run config has one; runs nothing."""
    from ops.schedule import configured_cron, cron_of
    from stacks.kubeflow.compile import NoKubeflowStackError, compile_pipeline
    from stacks.kubeflow.schedule import write_recurring_run

    config_path = config_path or default_config(name)
    cron = configured_cron(config_path)
    if cron is not None:
        cron_of(name, config_path, cron)  # a bad cron line stops before compiling
    pipeline = load(name)
    try:
        compiled = compile_pipeline(pipeline, config_path, out_dir)
    except NoKubeflowStackError as error:
        raise UserError(str(error), hint="python -m stacks.kubeflow.register "
                        "(see docs/production.md)") from error
    if cron is None:
        return [compiled]
    return [compiled, write_recurring_run(pipeline.name, compiled, cron)]
