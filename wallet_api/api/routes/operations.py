"""For the operator's probes and scrapers: ``/health``, ``/ready``, ``/metrics``."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from servicekit.http_errors import RETRY_AFTER_SECONDS, ServiceErrorCode, error_response
from wallet_api import metrics
from wallet_api.api.deps import DeploymentDep
from wallet_api.readiness import NotReadyError, check_ready

__all__ = ["router"]

router = APIRouter(tags=["Operations"])
_logger = logging.getLogger("jigap.wallet.ready")
_PROBE_HEADERS = {"Cache-Control": "no-store"}


@router.get("/health", summary="Liveness: the process answers")
def health() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=_PROBE_HEADERS)


@router.get(
    "/ready",
    summary="Readiness: database reachable at the schema head, the sealing keys open",
    responses={503: {"description": "Not ready: `temporarily_unavailable`"}},
)
def ready(deployment: DeploymentDep) -> JSONResponse:
    try:
        check_ready(deployment)
    except NotReadyError as exc:
        _logger.warning("not ready", extra={"event": "not_ready", "reason": str(exc.reason)})
        return error_response(
            503,
            ServiceErrorCode.TEMPORARILY_UNAVAILABLE,
            f"not ready: {exc.reason}",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JSONResponse({"status": "ready"}, headers=_PROBE_HEADERS)


@router.get("/metrics", summary="Prometheus metrics (text format 0.0.4)")
def prometheus_metrics() -> Response:
    return Response(
        metrics.render(),
        media_type=metrics.CONTENT_TYPE,
        headers=_PROBE_HEADERS,
    )
