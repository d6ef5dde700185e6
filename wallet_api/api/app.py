"""``create_app``: the wallet service as an ASGI app, built from settings (never at import).

Built on ``servicekit`` as the issuer is (body limit, NUL guard, slow-client timeouts,
request telemetry under ``jigap_wallet``, one error shape, 503 for a database that cannot
answer), and never on the issuer itself. The OpenAPI pages load their assets from the service
(fastapi-offline), as the issuer's do.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from servicekit.body_limit import BodyLimit
from servicekit.telemetry import RequestTelemetry
from servicekit.text_guard import TextGuard
from servicekit.timeouts import BodyTimeout, SlowClientProtocol
from wallet_api.api.errors import install_error_handlers
from wallet_api.api.routes import accounts, credentials, operations
from wallet_api.deployment import WalletDeployment, make_deployment
from wallet_api.metrics import HTTP_METRICS
from wallet_api.observability import configure_logging
from wallet_api.settings import ENV_PREFIX, Settings

__all__ = ["WalletSlowClientProtocol", "create_app", "create_served_app"]


def create_app(
    settings: Settings | None = None,
    *,
    deployment: WalletDeployment | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The service; with no arguments, configured from ``JIGAP_WALLET_*`` variables."""
    if deployment is None:
        deployment = make_deployment(settings or Settings.from_env(), clock=clock)
    app = FastAPIOffline(
        title="jigap wallet",
        summary="The wallet service: accounts bound to the phone's device key (DPoP)",
        version="0.1.0",
        static_url="/docs-assets",
    )
    app.state.deployment = deployment
    install_error_handlers(app)
    app.include_router(accounts.router)
    app.include_router(credentials.router)
    app.include_router(operations.router)
    app.add_middleware(
        BodyLimit,
        limit=deployment.settings.max_body_bytes,
        upload_limit=credentials.MAX_PHOTO_BYTES,
        upload_paths=(credentials.PHOTO_PATH,),
    )
    app.add_middleware(TextGuard, binary_paths=(credentials.PHOTO_PATH,))
    app.add_middleware(BodyTimeout, env_prefix=ENV_PREFIX)
    app.add_middleware(RequestTelemetry, metrics=HTTP_METRICS, logger_name="jigap.wallet.requests")
    return app


def create_served_app() -> FastAPI:
    """What `jigap wallet serve` runs in each worker: settings from the environment, and no
    migration (the command checked the schema before listening)."""
    configure_logging()
    return create_app(deployment=make_deployment(Settings.from_env(), run_migrations=False))


class WalletSlowClientProtocol(SlowClientProtocol):
    """What `jigap wallet serve` gives uvicorn: the slow-client bounds from ``JIGAP_WALLET_*``."""

    env_prefix = ENV_PREFIX
