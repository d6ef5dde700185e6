"""How a service's log lines look, and where its worker processes keep their metrics.

Every log line is one line: text for people, or JSON objects for a log pipeline. What a line
may carry is decided by the service, not at each call: it names its allowed ``fields`` (names,
codes, counts and identifiers its operators already know) and anything else given to a logger
is dropped, so that a claim, a token, a code or a request path never becomes a field by
accident. The service's own events (the issuer's ``credentials_issued`` …) stay in the
service. Nothing here imports prometheus-client, so that `jigap` stays light.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console

__all__ = [
    "MULTIPROCESS_ENV",
    "LogFormat",
    "configure_logging",
    "console",
    "metrics_directory",
]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class _JsonLines(logging.Formatter):
    def __init__(self, fields: Sequence[str]) -> None:
        super().__init__()
        self._fields = tuple(fields)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record, self._fields))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class _TextLines(logging.Formatter):
    def __init__(self, fields: Sequence[str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._fields = tuple(fields)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802, ARG002
        return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = _fields(record, self._fields)
        fields = " ".join(f"{name}={value}" for name, value in extra.items())
        return f"{text} {fields}" if fields else text


def _fields(record: logging.LogRecord, allowed: Sequence[str]) -> dict[str, Any]:
    return {name: record.__dict__[name] for name in allowed if name in record.__dict__}


def configure_logging(
    log_format: LogFormat | None = None, *, format_env: str, fields: Sequence[str]
) -> None:
    """Root logging to stderr, one line per record; uvicorn's loggers go the same way.

    ``log_format`` or else the variable ``format_env`` (text by default); ``fields``: the only
    extra fields a line may carry. Run in the command before uvicorn starts and again in each
    worker, since a spawned worker starts with Python's defaults.
    """
    chosen = log_format or LogFormat(os.environ.get(format_env) or LogFormat.TEXT)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines(fields) if chosen is LogFormat.JSON else _TextLines(fields))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # raw paths: ids travel in them
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
