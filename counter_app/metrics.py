"""Prometheus metrics of the counter app (``GET /metrics``), prefix ``jigap_counter``.

Labels are closed sets: the verifier's codes, the image kinds and why an image held nothing
to judge. A verdict is counted, never described: no claim, type or issuer becomes a label.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from servicekit import metrics as servicekit_metrics
from servicekit.metrics import CONTENT_TYPE

__all__ = ["CONTENT_TYPE", "HTTP_METRICS", "IMAGES", "READ_SECONDS", "VERDICTS", "render"]

HTTP_METRICS = servicekit_metrics.http_metrics("jigap_counter")
VERDICTS = Counter(
    "jigap_counter_verdicts",
    "Verdicts given, by outcome and the verifier's code (none when valid)",
    ["verdict", "code"],
    registry=None,
)
IMAGES = Counter(
    "jigap_counter_images",
    "Images read (camera frames, photos), by kind and outcome (verdict, no_qr, busy, ...)",
    ["kind", "outcome"],
    registry=None,
)
READ_SECONDS = Histogram(
    "jigap_counter_read_seconds",
    "Time to decode an image's QR code, and to verify the certificate it held",
    ["step"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=None,
)


def render() -> bytes:
    return servicekit_metrics.render((*HTTP_METRICS.collectors, VERDICTS, IMAGES, READ_SECONDS))
