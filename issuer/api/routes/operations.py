"""For the operator's probes and scrapers: ``/health``, ``/ready``, ``/metrics``
(``servicekit.operations``).

``/ready`` says it can issue now: the database answers at this code's schema and every agency's
signing key opens.
"""

from __future__ import annotations

from fastapi import Request

from issuer import metrics
from issuer.readiness import check_ready
from issuer.services.deployment import Deployment
from servicekit.operations import operations_router

__all__ = ["router"]


def _deployment(request: Request) -> Deployment:
    deployment: Deployment = request.app.state.deployment
    return deployment


def _render_metrics(request: Request) -> bytes:
    deployment = _deployment(request)
    return metrics.render(
        deployment.read_engine,
        database_cache_seconds=deployment.settings.metrics_database_seconds,
    )


router = operations_router(
    check_ready=lambda request: check_ready(_deployment(request)),
    content_type=metrics.CONTENT_TYPE,
    render_metrics=_render_metrics,
    ready_summary="Readiness: database reachable at the schema head, every agency's key opens",
    logger_name="jigap.issuer.ready",
)
