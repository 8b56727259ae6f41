"""Prometheus metrics of the reply service.

Each app gets its own registry (tests build many apps in one process). Under gunicorn
with several workers, `backend.web.serve` sets PROMETHEUS_MULTIPROC_DIR before anything
imports prometheus_client; then every worker writes its values to files there and
/metrics, whichever worker answers, adds up all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServiceMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "doppel_http_requests", "HTTP requests by route, method and status",
            ["route", "method", "status"], registry=self.registry)
        self.reply_latency = Histogram(
            "doppel_reply_latency_seconds", "time to answer a successful POST /api/reply",
            buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.batch_size = Histogram(
            "doppel_batch_size", "requests decoding together as more were taken (a micro-batch, "
            "or a running beam search)",
            buckets=BATCH_BUCKETS, registry=self.registry)
        self.model_info = Gauge(
            "doppel_model_info", "the served model bundle (1 when loaded and ready)",
            ["name", "kind", "format_version"], registry=self.registry,
            multiprocess_mode="liveall")

    def exposition(self) -> tuple[bytes, str]:
        """(body, content type) for GET /metrics."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
