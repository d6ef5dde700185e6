"""For the operator's probes and scrapers: ``/health``, ``/ready``, ``/metrics``, in each service.

``/health`` says the process answers (a liveness probe restarts it otherwise). ``/ready`` says
it can serve now (a load balancer sends it no traffic otherwise). Neither says why to the
public beyond a stable code; the reason goes to the log. What "ready" means and which metrics
there are is the service's: it hands in ``check_ready`` and ``render_metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from servicekit.http_errors import RETRY_AFTER_SECONDS, ServiceErrorCode, error_response
from servicekit.readiness import NotReadyError

__all__ = ["operations_router"]

_PROBE_HEADERS = {"Cache-Control": "no-store"}


def operations_router(
    *,
    check_ready: Callable[[Request], object],
    render_metrics: Callable[[Request], bytes],
    content_type: str,
    ready_summary: str,
    logger_name: str,
) -> APIRouter:
    """The three routes; ``check_ready`` raises ``NotReadyError`` when the service is not."""
    router = APIRouter(tags=["Operations"])
    logger = logging.getLogger(logger_name)

    @router.get("/health", summary="Liveness: the process answers")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers=_PROBE_HEADERS)

    @router.get(
        "/ready",
        summary=ready_summary,
        responses={503: {"description": "Not ready: `temporarily_unavailable`"}},
    )
    def ready(request: Request) -> JSONResponse:
        try:
            check_ready(request)
        except NotReadyError as exc:
            logger.warning("not ready", extra={"event": "not_ready", "reason": str(exc.reason)})
            return error_response(
                503,
                ServiceErrorCode.TEMPORARILY_UNAVAILABLE,
                f"not ready: {exc.reason}",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return JSONResponse({"status": "ready"}, headers=_PROBE_HEADERS)

    @router.get("/metrics", summary="Prometheus metrics (text format 0.0.4)")
    def prometheus_metrics(request: Request) -> Response:
        return Response(render_metrics(request), media_type=content_type, headers=_PROBE_HEADERS)

    return router
