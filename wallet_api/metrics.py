"""Prometheus metrics of the wallet service (``GET /metrics``), prefix ``jigap_wallet``.

The request counter and latency histogram are ``servicekit.metrics``'s; what is the wallet's
own is here. Labels are closed sets (route templates, DPoP refusal reasons): nothing a client
sends becomes a label as it is. Under `jigap wallet serve` they run in prometheus-client's
multiprocess mode, so a scrape that reaches any worker sees the sum of all.
"""

from __future__ import annotations

from prometheus_client import Counter

from servicekit import metrics as servicekit_metrics
from servicekit.metrics import CONTENT_TYPE

__all__ = [
    "CONTENT_TYPE",
    "CREDENTIALS_RECEIVED",
    "CREDENTIALS_REFUSED",
    "DPOP_REFUSALS",
    "HTTP_METRICS",
    "PRESENTATIONS",
    "render",
]

HTTP_METRICS = servicekit_metrics.http_metrics("jigap_wallet")
DPOP_REFUSALS = Counter(
    "jigap_wallet_dpop_refusals",
    "Requests refused for their DPoP proof, by reason (use_dpop_nonce ones included)",
    ["reason"],
    registry=None,
)

CREDENTIALS_RECEIVED = Counter(
    "jigap_wallet_credentials_received",
    "Credential copies verified and stored, by certificate type (a registry id)",
    ["credential_type"],
    registry=None,
)
CREDENTIALS_REFUSED = Counter(
    "jigap_wallet_credentials_refused",
    "Credentials an issuer sent that the wallet's verifier refused (nothing stored), by code",
    ["code"],
    registry=None,
)


PRESENTATIONS = Counter(
    "jigap_wallet_presentations",
    "Presentations ended, by outcome (answered, submitted, refused) and response mode",
    ["outcome", "response_mode"],
    registry=None,
)


def render() -> bytes:
    return servicekit_metrics.render(
        (
            *HTTP_METRICS.collectors,
            DPOP_REFUSALS,
            CREDENTIALS_RECEIVED,
            CREDENTIALS_REFUSED,
            PRESENTATIONS,
        )
    )
