"""The Prometheus plumbing of a service's ``GET /metrics``, the same from whichever worker
answers.

Each service names its own metrics; what is here is what every service has: the HTTP request
counter and latency histogram (``http_metrics``, under the service's name prefix), and the
scrape registry. Under a `serve` command the process metrics run in prometheus-client's
multiprocess mode (a directory of per-process files that any worker sums at scrape time; see
``servicekit.observability.metrics_directory``), so a scrape that reaches any worker sees the
sum of all of them; a process started otherwise (tests, an embedding) keeps them in memory.
Collectors that read the database at scrape time are added beside them, in every mode.

Labels are closed sets: route templates (never a raw path), methods, status codes. Nothing a
client sends becomes a label as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from servicekit.observability import MULTIPROCESS_ENV

__all__ = ["CONTENT_TYPE", "HttpMetrics", "http_metrics", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class HttpMetrics:
    """What ``servicekit.telemetry.RequestTelemetry`` counts for every request."""

    requests: Counter
    request_seconds: Histogram

    @property
    def collectors(self) -> tuple[Collector, ...]:
        return (self.requests, self.request_seconds)


def http_metrics(prefix: str) -> HttpMetrics:
    """The request metrics named ``{prefix}_http_requests`` and
    ``{prefix}_http_request_duration_seconds``; made once per service, at import."""
    # registry=None: each app's scrape registry adds them (render), or multiprocess mode sums them.
    return HttpMetrics(
        requests=Counter(
            f"{prefix}_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=None,
        ),
        request_seconds=Histogram(
            f"{prefix}_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=None,
        ),
    )


def render(process_metrics: Iterable[Collector], scraped: Iterable[Collector] = ()) -> bytes:
    """The exposition text (Prometheus text format 0.0.4) of the service's ``process_metrics``
    (summed over workers in multiprocess mode) and of collectors ``scraped`` at this call."""
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in process_metrics:
            registry.register(collector)
    for collector in scraped:
        registry.register(collector)
    return generate_latest(registry)
