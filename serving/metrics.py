"""Prometheus metrics of one app instance, in their own registry (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
