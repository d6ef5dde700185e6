"""``create_app``: the wallet service as an ASGI app, built from settings (never at import).

Built on ``servicekit`` as the issuer is (body limit, NUL guard, slow-client timeouts,
request telemetry under ``jigap_wallet``, one error shape, 503 for a database that cannot
answer), and never on the issuer itself. The OpenAPI pages load their assets from the service
(fastapi-offline), as the issuer's do.

While it serves, a daemon thread looks every ``status_refresh_seconds`` for something in the
trust store that is due (the trust list past its refresh age, a status list past its
``ttl``) and syncs it, so a revocation reaches the citizen's list without a request waiting on
an issuer. Each worker runs one; the trust store's file lock makes one of them fetch at a time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from servicekit.body_limit import BodyLimit
from servicekit.telemetry import RequestTelemetry
from servicekit.text_guard import TextGuard
from servicekit.timeouts import BodyTimeout, SlowClientProtocol
from wallet_api.api.errors import install_error_handlers
from wallet_api.api.routes import accounts, credentials, operations, presentations
from wallet_api.deployment import WalletDeployment, make_deployment
from wallet_api.metrics import HTTP_METRICS
from wallet_api.observability import configure_logging
from wallet_api.settings import ENV_PREFIX, Settings
from wallet_api.trust import TrustUnavailableError, WalletTrust

__all__ = ["WalletSlowClientProtocol", "create_app", "create_served_app"]

logger = logging.getLogger("jigap.wallet.trust")
# At shutdown the refresh thread is waited for this long; a sync still waiting on an issuer
# past it is left to die with the process (the thread is a daemon).
_STOP_SECONDS = 5.0


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
        lifespan=_lifespan,
    )
    app.state.deployment = deployment
    install_error_handlers(app)
    app.include_router(accounts.router)
    app.include_router(credentials.router)
    app.include_router(presentations.router)
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


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    deployment: WalletDeployment = app.state.deployment
    settings = deployment.settings
    refresh: _StatusRefresh | None = None
    # Without a trust list URL there is nothing to sync from: the thread would only log.
    if settings.status_refresh_seconds > 0 and settings.trust_list_url is not None:
        refresh = _StatusRefresh(deployment.trust, settings.status_refresh_seconds)
    try:
        yield
    finally:
        if refresh is not None:
            await asyncio.to_thread(refresh.stop)


class _StatusRefresh:
    """``trust.refresh()`` every ``period`` seconds (it fetches only what is due) until
    stopped. An error never ends the thread: it is one log line, and the next tick tries
    again (after a failed sync, ``WalletTrust`` itself waits a while)."""

    def __init__(self, trust: WalletTrust, period: float) -> None:
        self._trust = trust
        self._period = period
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="jigap-wallet-status-refresh", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._period):
            try:
                self._trust.refresh()
            except TrustUnavailableError as exc:
                # A failed sync was logged by refresh() itself, in one line.
                logger.debug("status refresh: %s", exc)
            except Exception as exc:
                logger.warning(
                    "status refresh failed: %s: %s", type(exc).__name__, " ".join(str(exc).split())
                )

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(_STOP_SECONDS)


def create_served_app() -> FastAPI:
    """What `jigap wallet serve` runs in each worker: settings from the environment, and no
    migration (the command checked the schema before listening)."""
    configure_logging()
    app = create_app(deployment=make_deployment(Settings.from_env(), run_migrations=False))
    # Everything made so far (modules, the app, the registry) lives as long as the worker:
    # out of the collector's sight, a full collection no longer walks it on some request's
    # time (70-150 ms every few hundred lists before; docs/benchmarks.md).
    gc.freeze()
    return app


class WalletSlowClientProtocol(SlowClientProtocol):
    """What `jigap wallet serve` gives uvicorn: the slow-client bounds from ``JIGAP_WALLET_*``."""

    env_prefix = ENV_PREFIX
