"""Exact filters for third-party messages that tell a churnops user nothing.

Each filter names one message, its category or logger, and why it is safe to hide;
nothing is silenced globally. ``run.py`` installs them before it imports a library.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import warnings

MLFLOW_TRACKER_LOGGER = "zenml.integrations.mlflow.experiment_trackers.mlflow_experiment_tracker"


class _DropMessages(logging.Filter):
    def __init__(self, *starts: str) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.starts)


def quiet_libraries() -> None:
    # kfp needs google-cloud-storage; GX imports it when present, and google.api_core warns
    # that Python 3.11 reaches its end of life in 2027.
    warnings.filterwarnings("ignore", category=FutureWarning,
                            module=r"google\.api_core\._python_version_support")
    # Deprecations inside libraries that Feast, once imported, shows anyway (it puts a
    # "once" filter for every DeprecationWarning in front of ours): dropped where they are
    # shown instead.
    _drop_when_shown(
        # Evidently's legacy test helpers reach into `numpy.core`, which NumPy 2 renamed.
        (DeprecationWarning, r"numpy\.core is deprecated", "/evidently/"),
        # A docstring with a `\d` in Evidently, seen when its bytecode is first compiled.
        (DeprecationWarning, r"invalid escape sequence", "/evidently/"),
        # Evidently's UI service (imported with its reports) uses litestar 2 APIs that
        # litestar 3 will drop.
        (DeprecationWarning, r"Call to deprecated function 'Dependency'", "/litestar/"),
        (DeprecationWarning, r"Use of deprecated class 'DependencyKwarg'", "/litestar/"),
    )
    # GX imports `sre_parse` and `sre_constants`, ZenML's passlib imports `crypt`: standard
    # modules that warn once, on first import, that they are deprecated. Feast turns every
    # DeprecationWarning on when it is imported, so a filter would not hold; importing them
    # here, silenced, leaves nothing to warn about.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"('crypt'|module 'sre_\w+') is deprecated",
                                category=DeprecationWarning)
        for module in ("sre_constants", "sre_parse", "crypt"):
            importlib.import_module(module)
    # ZenML's MLflow tracker disables autologging for a list of frameworks after each step;
    # MLflow 3 has no fastai flavour, so that one always "fails".
    logging.getLogger(MLFLOW_TRACKER_LOGGER).addFilter(_DropMessages(
        "Failed to disable MLflow autologging for the following frameworks: ['fastai']"))
    # Feast logs this on every uncached registry read, expired or not.
    logging.getLogger("feast.infra.registry.registry").addFilter(
        _DropMessages("Registry cache expired, so refreshing"))
    # ZenML's model deployer prints its whole service config as a dict; the deployment
    # step logs the version, endpoint and readiness instead.
    logging.getLogger("zenml.model_deployers.base_model_deployer").addFilter(
        _DropMessages("Deploying model server for "))
    # APScheduler logs a failed scheduled run with its traceback; `run.py schedule` reports
    # the failure in one line (`-v` shows the traceback).
    logging.getLogger("apscheduler.executors.default").addFilter(
        _DropMessages('Job "'))
    # httpx logs every request at INFO (the status check's health probes).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A progress bar for downloading one small model file.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # A tracking server registers a model version asynchronously; MLflow says it waits.
    logging.getLogger("mlflow.store.model_registry.abstract_store").addFilter(
        _DropMessages("Waiting up to "))
    # First-run set-up chatter: MLflow creating its SQLite tables, matplotlib its font cache.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("matplotlib.font_manager").setLevel(logging.WARNING)


def _drop_when_shown(*rules: tuple[type[Warning], str, str]) -> None:
    """Drop warnings of a category whose message matches and whose file path contains the
    given part, at the point they are shown, whatever filters came later: through
    ``warnings.showwarning``, or the ``py.warnings`` logger once ZenML captures warnings."""
    compiled = [(category, re.compile(pattern), part) for category, pattern, part in rules]

    def dropped(category: type[Warning], text: str, filename: str) -> bool:
        return any(issubclass(category, kind) and pattern.search(text) and part in filename
                   for kind, pattern, part in compiled)

    show = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if not dropped(category, str(message), filename):
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning

    class _DropCaptured(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            text = record.getMessage()  # "<file>:<line>: <Category>: <message>"
            return not any(pattern.search(text) and part in text and f"{kind.__name__}: " in text
                           for kind, pattern, part in compiled)

    logging.getLogger("py.warnings").addFilter(_DropCaptured())
