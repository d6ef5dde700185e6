"""For the operator's probes and scrapers: ``/health``, ``/ready``, ``/metrics``
(``servicekit.operations``)."""

from __future__ import annotations

from fastapi import Request

from servicekit.operations import operations_router
from wallet_api import metrics
from wallet_api.deployment import WalletDeployment
from wallet_api.readiness import check_ready

__all__ = ["router"]


def _check_ready(request: Request) -> None:
    deployment: WalletDeployment = request.app.state.deployment
    check_ready(deployment)


router = operations_router(
    check_ready=_check_ready,
    content_type=metrics.CONTENT_TYPE,
    render_metrics=lambda _request: metrics.render(),
    ready_summary=(
        "Readiness: database reachable at the schema head, the sealing keys open, a current "
        "trust list held"
    ),
    logger_name="jigap.wallet.ready",
)
