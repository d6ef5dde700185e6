"""One log line and the request metrics for every HTTP request, named by route template.

Each service gives its own metrics (``servicekit.metrics.http_metrics``) and logger name.

The line says the request id, method, route template (``/agencies/{slug}/offers/{offer_id}``,
never the path itself: offer ids and codes travel in paths and query strings), status and
duration. The request id is the caller's ``X-Request-Id`` when it is a short plain token (a
reverse proxy's), a new one otherwise, and goes back in the response's ``X-Request-Id``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from servicekit.asgi import ASGIApp, Message, Receive, Scope, Send
from servicekit.metrics import HttpMetrics

__all__ = ["RequestTelemetry", "route_template"]

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_UNMATCHED = "unmatched"  # a path no route serves: its text is the client's, not a label
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED


class RequestTelemetry:
    """Counts every request in ``metrics`` and logs one line to ``logger_name``."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics, logger_name: str) -> None:
        self.app = app
        self.metrics = metrics
        self._logger = logging.getLogger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = given.decode("ascii") if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what the server answers if the app fails before starting a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.request_seconds.labels(method=method, route=route).observe(seconds)
            self._logger.info(
                "request",
                extra={
                    "event": "request",
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
