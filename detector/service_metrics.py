"""The service's Prometheus metrics (``GET /metrics``): decisions, responses, errors, latency per stage."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets (seconds): a 1-photo listing takes about a second on 2 shared cores (BENCHMARKS.md,
# "Speed"); queueing adds multiples of that.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
STAGES = ("read_body", "queue", "load", "ocr", "logos", "rules", "text_rules", "audit")


class Metrics:
    """Prometheus metrics in a registry of their own (several apps in one process don't collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "detector_decisions", "Listing decisions returned, by decision", ["decision"], registry=r
        )
        self.responses = Counter(
            "detector_http_responses", "Responses of the check endpoint, by HTTP status", ["status"], registry=r
        )
        self.errors = Counter("detector_errors", "Refused or failed checks, by error code", ["error"], registry=r)
        self.latency = Histogram(
            "detector_request_duration_seconds", "Check latency, arrival to answer", buckets=LATENCY_BUCKETS, registry=r
        )
        self.stage = Histogram(
            "detector_stage_duration_seconds",
            "Time per stage of a check (image stages summed over a listing's images)",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("detector_in_flight", "Listings being analysed now", registry=r)
        self.waiting = Gauge("detector_waiting", "Listings admitted and waiting for a worker", registry=r)
        self.ready = Gauge("detector_ready", "1 once the models are loaded", registry=r)
        for d in ("allow", "review", "block"):
            self.decisions.labels(d)
        for s in STAGES:
            self.stage.labels(s)
