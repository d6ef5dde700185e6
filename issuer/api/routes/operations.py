"""For the operator's probes and scrapers: ``/health``, ``/ready``, ``/metrics``.

``/health`` says the process answers (a liveness probe restarts it otherwise). ``/ready`` says
it can issue now: the database answers at this code's schema and every agency's signing key
opens (a load balancer sends it no traffic otherwise). Neither says why to the public beyond
a stable code; the reason goes to the log.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from issuer import metrics
from issuer.api.deps import DeploymentDep
from issuer.readiness import NotReadyError, check_ready
from servicekit.http_errors import RETRY_AFTER_SECONDS, ServiceErrorCode, error_response

router = APIRouter(tags=["Operations"])
_logger = logging.getLogger("jigap.issuer.ready")
_PROBE_HEADERS = {"Cache-Control": "no-store"}


@router.get("/health", summary="Liveness: the process answers")
def health() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=_PROBE_HEADERS)


@router.get(
    "/ready",
    summary="Readiness: database reachable at the schema head, every agency's key opens",
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
def prometheus_metrics(deployment: DeploymentDep) -> Response:
    return Response(
        metrics.render(
            deployment.read_engine,
            database_cache_seconds=deployment.settings.metrics_database_seconds,
        ),
        media_type=metrics.CONTENT_TYPE,
        headers=_PROBE_HEADERS,
    )
