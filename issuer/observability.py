"""What the issuer tells its operators: log lines, and the events behind its metrics.

Every log line is one line: text for people, or JSON objects (``--log-format json`` or
``JIGAP_ISSUER_LOG_FORMAT=json``) for a log pipeline; the formatting is
``servicekit.observability``'s, shared with the wallet service. What a line may carry is
decided here, not at each call: the fields below are names, codes, counts and identifiers
the agency already knows (agency slug, credential type, kid, credential id). A claim, a
token, a code, a passphrase or a request path (offer ids travel in paths) is never a field.

The services call one function per event (``credentials_issued``, ``transaction_code_refused``
…): one line in their code, while the log line and the counter live here. Metrics themselves
are in ``issuer.metrics`` (the ``server`` extra's prometheus-client), imported only when an
event first happens, so that `jigap` stays light.
"""

from __future__ import annotations

import logging
from functools import cache
from types import ModuleType

from servicekit.observability import LogFormat
from servicekit.observability import configure_logging as servicekit_logging

__all__ = [
    "LOG_FORMAT_ENV",
    "configure_logging",
    "credential_status_changed",
    "credentials_issued",
    "key_event",
    "protocol_refused",
    "status_list_signed",
    "transaction_code_refused",
]

LOG_FORMAT_ENV = "JIGAP_ISSUER_LOG_FORMAT"
_EVENTS = logging.getLogger("jigap.issuer.events")
# The only extra fields a line may carry; anything else given to a logger is dropped.
_FIELDS = (
    "event", "request_id", "method", "route", "status", "duration_ms", "agency",
    "credential_type", "count", "credential_id", "action", "list_id", "kid", "store", "reason",
    "from", "to", "error",
)  # fmt: skip


def configure_logging(log_format: LogFormat | None = None) -> None:
    """Root logging to stderr, one line per record, with the issuer's fields
    (``servicekit.observability``); run again in each worker (``create_served_app``)."""
    servicekit_logging(log_format, format_env=LOG_FORMAT_ENV, fields=_FIELDS)


@cache
def _metrics() -> ModuleType:
    from issuer import metrics

    return metrics


# --- Events: one call each from the services -------------------------------------------------


def credentials_issued(agency: str, credential_type: str, count: int) -> None:
    """Credentials signed for one offer (counted from the database at scrape time)."""
    _EVENTS.info(
        "credentials issued",
        extra={
            "event": "credentials_issued",
            "agency": agency,
            "credential_type": credential_type,
            "count": count,
        },
    )


def credential_status_changed(agency: str, credential_id: int, action: str) -> None:
    """Revoked, suspended or unsuspended by the agency."""
    _EVENTS.info(
        "credential status changed",
        extra={
            "event": "credential_status_changed",
            "agency": agency,
            "credential_id": credential_id,
            "action": action,
        },
    )


def transaction_code_refused(agency: str) -> None:
    """A wrong transaction code spent one of an offer's attempts."""
    _metrics().TX_CODE_REFUSALS.labels(agency=agency).inc()
    _EVENTS.info(
        "transaction code refused",
        extra={"event": "transaction_code_refused", "agency": agency},
    )


def protocol_refused(route: str, error: str) -> None:
    """The token or a protected endpoint refused what it was given (from the error handler)."""
    _metrics().PROTOCOL_REFUSALS.labels(route=route, error=error).inc()


def status_list_signed(agency: str, list_id: int) -> None:
    """A status list token (re-)signed: stale, changed, or signed by a retired key."""
    _metrics().STATUS_LIST_SIGNATURES.labels(agency=agency).inc()
    _EVENTS.info(
        "status list signed",
        extra={"event": "status_list_signed", "agency": agency, "list_id": list_id},
    )


def key_event(action: str, *, kid: str, store: str) -> None:
    """A key generated, retired, or opened for the first time by this process."""
    _EVENTS.info(f"key {action}", extra={"event": f"key_{action}", "kid": kid, "store": store})
