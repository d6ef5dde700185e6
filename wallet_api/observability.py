"""The wallet service's log lines: their format variable and the only fields they may carry.

Kept apart from ``wallet_api.api`` (which imports prometheus-client): `jigap wallet serve`
configures logging before the metrics' multiprocess mode is fixed.
"""

from __future__ import annotations

import logging

from servicekit.observability import LogFormat
from servicekit.observability import configure_logging as servicekit_logging
from wallet_api.settings import ENV_PREFIX

__all__ = ["LOG_FIELDS", "LOG_FORMAT_ENV", "configure_logging"]

LOG_FORMAT_ENV = ENV_PREFIX + "LOG_FORMAT"
# The only extra fields a log line may carry: no claim, code, proof or key ever.
LOG_FIELDS = ("event", "reason", "route", "method", "status", "duration_ms", "request_id")


def configure_logging(log_format: LogFormat | None = None) -> None:
    servicekit_logging(log_format, format_env=LOG_FORMAT_ENV, fields=LOG_FIELDS)
    # httpx logs each request's URL at INFO, and an offer's reference URL answers its
    # pre-authorized code: the service's calls to issuers are logged by its own lines only.
    logging.getLogger("httpx").setLevel(logging.WARNING)
