"""Prometheus metrics of one app instance, in their own registry (served at ``/metrics``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

SEVERITY_LEVELS = ("info", "warn", "act")

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "churnops_requests", "HTTP requests by endpoint, status code and answering variant.",
            ["endpoint", "status", "variant"], registry=r,
        )
        self.latency = Histogram(
            "churnops_request_latency_seconds", "Time to answer a request, by endpoint.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.errors = Counter(
            "churnops_errors", "Requests answered with an error, by endpoint and kind.",
            ["endpoint", "kind"], registry=r,
        )
        self.model_latency = Histogram(
            "churnops_model_call_latency_seconds", "Model-server calls, by variant.",
            ["variant"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.model_failures = Counter(
            "churnops_model_server_failures",
            "Failed model-server calls (unreachable, timeout, bad answer), by variant.",
            ["variant"], registry=r,
        )
        self.probability = Histogram(
            "churnops_predicted_probability", "Churn probabilities answered, by variant.",
            ["variant"], buckets=PROBABILITY_BUCKETS, registry=r,
        )
        self.shadow_predictions = Counter(
            "churnops_shadow_predictions", "Shadow predictions logged, by variant and status.",
            ["variant", "status"], registry=r,
        )
        self.canary_error_rate = Gauge(
            "churnops_canary_error_rate", "Canary error rate over the current window.",
            registry=r,
        )
        self.canary_agreement = Gauge(
            "churnops_canary_agreement",
            "Share of canary requests where canary and primary decided alike (window).",
            registry=r,
        )
        self.rollbacks = Counter(
            "churnops_canary_rollbacks", "Canaries rolled back automatically.", registry=r,
        )


class MonitoringCollector(Collector):
    """The latest continuous-training run's monitoring figures, read from the deployment
    record at each scrape: what the Grafana dashboard (deploy/grafana) draws over time."""

    def __init__(self, latest_run: Callable[[], dict | None], controller: str) -> None:
        self.latest_run = latest_run
        self.controller = controller

    def collect(self) -> Iterator[GaugeMetricFamily]:
        run = self.latest_run()
        if not run or "severity" not in run:
            return
        labels = {"controller": self.controller}
        figures = run.get("figures", {})
        yield _gauge("churnops_monitoring_run", "Number of the latest continuous-training run.",
                     labels, run["run"])
        yield _gauge("churnops_monitoring_severity",
                     "Its most severe finding: 0 info, 1 warn, 2 act.", labels,
                     SEVERITY_LEVELS.index(run["severity"]))
        for name, key, text in (
                ("live_roc_auc", "live_roc_auc", "Live ROC-AUC on the outcomes received."),
                ("features_moved", "features_moved", "Features named by drift findings."),
                ("prediction_drift_p", "prediction_drift_p", "p-value of the p(churn) test."),
                ("live_outcomes", "live_labelled_rows", "Outcomes behind the live ROC-AUC.")):
            if figures.get(key) is not None:
                yield _gauge(f"churnops_monitoring_{name}", text, labels, figures[key])
        estimated = GaugeMetricFamily(
            "churnops_monitoring_estimated_roc_auc",
            "ROC-AUC expected from the latest window's predictions, before outcomes, and its "
            "95 % interval.", labels=["controller", "bound"])
        for bound, key in (("estimate", "estimated_roc_auc"), ("low", "estimated_roc_auc_low"),
                           ("high", "estimated_roc_auc_high")):
            if figures.get(key) is not None:
                estimated.add_metric([self.controller, bound], figures[key])
        yield estimated


def _gauge(name: str, documentation: str, labels: dict[str, str], value: float
           ) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=list(labels))
    gauge.add_metric(list(labels.values()), float(value))
    return gauge
