from __future__ import annotations

from zenml import pipeline

from churnops.settings import MonitoringSettings, MonitoringWindow
from pipelines.monitor import monitor
from steps.monitoring.challenger import judge_candidate


@pipeline(name="churn_monitoring")
def monitoring_pipeline(settings: MonitoringSettings, window: MonitoringWindow,
                        model_version: str | None = None,
                        inference_log_url: str | None = None) -> None:
    """Compare a window of production traffic with the deployed version's reference data,
    and judge the live candidate on its outcomes."""
    monitor(settings, window, model_version, inference_log_url)
    judge_candidate(settings, inference_log_url)
