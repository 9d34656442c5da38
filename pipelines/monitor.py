"""The monitoring stage that the monitoring and continuous-training pipelines share."""

from __future__ import annotations

from typing import Any

from churnops.settings import MonitoringSettings, MonitoringWindow
from steps.monitoring.decide import decide_on_action
from steps.monitoring.drift import detect_drift
from steps.monitoring.performance import estimate_performance, evaluate_live_performance
from steps.monitoring.production import load_production_window
from steps.monitoring.reference import load_reference_data
from steps.monitoring.validate import validate_production_inputs


def monitor(settings: MonitoringSettings, window: MonitoringWindow,
            model_version: str | None = None, inference_log_url: str | None = None) -> Any:
    """Drift, input validation (of the logged inputs, and the requests refused), live and
    estimated performance of the deployed version -> decision."""
    reference, calibration, deployed = load_reference_data(model_version)
    current, labelled, refused = load_production_window(deployed, window, inference_log_url)
    _, drift = detect_drift(reference, current, settings)
    validation = validate_production_inputs(current)
    performance = evaluate_live_performance(labelled, calibration, deployed, settings)
    estimated = estimate_performance(calibration, current, labelled, deployed, settings)
    return decide_on_action(drift, performance, estimated, validation, refused, deployed,
                            settings)
