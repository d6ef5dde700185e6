"""What the issuer tells its operators: log lines, and the events behind its metrics.

Every log line is one line: text for people, or JSON objects (``--log-format json`` or
``JIGAP_ISSUER_LOG_FORMAT=json``) for a log pipeline. What a line may carry is decided here,
not at each call: the fields below are names, codes, counts and identifiers the agency
already knows (agency slug, credential type, kid, credential id). A claim, a token, a code,
a passphrase or a request path (offer ids travel in paths) is never a field.

The services call one function per event (``credentials_issued``, ``transaction_code_refused``
…): one line in their code, while the log line and the counter live here. Metrics themselves
are in ``issuer.metrics`` (the ``server`` extra's prometheus-client), imported only when an
event first happens, so that `jigap` stays light.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from enum import StrEnum
from functools import cache
from types import ModuleType
from typing import Any

from rich.console import Console

__all__ = [
    "LOG_FORMAT_ENV",
    "LogFormat",
    "configure_logging",
    "console",
    "credential_status_changed",
    "credentials_issued",
    "key_event",
    "metrics_directory",
    "protocol_refused",
    "status_list_signed",
    "transaction_code_refused",
]

LOG_FORMAT_ENV = "JIGAP_ISSUER_LOG_FORMAT"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable
_EVENTS = logging.getLogger("jigap.issuer.events")
# The only extra fields a line may carry; anything else given to a logger is dropped.
_FIELDS = (
    "event", "request_id", "method", "route", "status", "duration_ms", "agency",
    "credential_type", "count", "credential_id", "action", "list_id", "kid", "store", "reason",
    "from", "to", "error",
)  # fmt: skip


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _TextLines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802, ARG002
        return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{name}={value}" for name, value in _fields(record).items())
        return f"{text} {fields}" if fields else text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: record.__dict__[name] for name in _FIELDS if name in record.__dict__}


def configure_logging(log_format: LogFormat | None = None) -> None:
    """Root logging to stderr, one line per record; uvicorn's loggers go the same way.

    Run in the command before uvicorn starts and again in each worker (``create_served_app``)
    since a spawned worker starts with Python's defaults.
    """
    chosen = log_format or LogFormat(os.environ.get(LOG_FORMAT_ENV) or LogFormat.TEXT)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines() if chosen is LogFormat.JSON else _TextLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # raw paths: offer ids
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its per-connection chatter


def console() -> Console:
    """Rich output for people; piped or redirected, lines are never wrapped at 80 columns."""
    terminal = Console()
    return terminal if terminal.is_terminal else Console(width=10_000, soft_wrap=True)


@contextlib.contextmanager
def metrics_directory() -> Iterator[None]:
    """A directory for prometheus-client's multiprocess mode, for the life of one `serve`.

    Every worker writes its counters there and any worker answers a scrape with the sum of
    all, so that the numbers do not depend on which worker the load balancer picked. Kept if
    the operator set one (``PROMETHEUS_MULTIPROC_DIR``): then clearing it is theirs.
    """
    if os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="jigap-metrics-") as directory:
        os.environ[MULTIPROCESS_ENV] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_ENV]


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
