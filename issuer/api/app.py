"""``create_app``: the issuer service as an ASGI app, built from settings (never at import).

The OpenAPI pages (``/docs``, ``/redoc``) load their scripts and styles from the service
itself (fastapi-offline's copies of Swagger UI and ReDoc): agencies and counters run
air-gapped, and a page that needs a CDN shows nothing there.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from credential_schemas import Registry
from issuer.api.asgi import ASGIApp, Message, Receive, Scope, Send
from issuer.api.errors import install_error_handlers
from issuer.api.routes import admin, bulk, oid4vci, operations, public
from issuer.api.telemetry import RequestTelemetry
from issuer.api.text_guard import TextGuard
from issuer.api.timeouts import BodyTimeout
from issuer.db import make_engine, migrate
from issuer.errors import AdminError, AdminErrorCode
from issuer.observability import configure_logging
from issuer.services.deployment import Deployment
from issuer.services.offers import seal_legacy_claims
from issuer.settings import Settings

__all__ = ["create_app", "create_served_app", "make_deployment"]


def make_deployment(
    settings: Settings, *, clock: Callable[[], float] = time.time, run_migrations: bool = True
) -> Deployment:
    engine = make_engine(settings.database_url, busy_seconds=settings.database_busy_seconds)
    if run_migrations:
        migrate(engine)
    deployment = Deployment(settings=settings, engine=engine, registry=Registry.load(), clock=clock)
    if run_migrations:
        # Opens the sealing keys at start (a wrong passphrase stops it here) and seals the
        # plain claims of offers written before migration 0003 (a migration has no key).
        seal_legacy_claims(deployment)
    return deployment


def create_app(
    settings: Settings | None = None, *, deployment: Deployment | None = None
) -> FastAPI:
    """The service; with no arguments, configured from ``JIGAP_ISSUER_*`` variables."""
    if deployment is None:
        deployment = make_deployment(settings or Settings.from_env())
    app = FastAPIOffline(
        title="jigap issuer",
        summary="OpenID4VCI 1.0 issuance, agency admin API and status lists",
        version="0.1.0",
        static_url="/docs-assets",
    )
    app.state.deployment = deployment
    install_error_handlers(app)
    app.include_router(oid4vci.router)
    app.include_router(public.router)
    app.include_router(admin.router)
    app.include_router(bulk.router)
    app.include_router(operations.router)
    app.add_middleware(
        BodyLimit,
        limit=deployment.settings.max_body_bytes,
        upload_limit=deployment.settings.max_upload_bytes,
    )
    app.add_middleware(TextGuard)  # a NUL anywhere in a request: 400 (issuer.api.text_guard)
    app.add_middleware(BodyTimeout)
    app.add_middleware(RequestTelemetry)  # outermost: it sees every answer, 413 and 408 too
    return app


def create_served_app() -> FastAPI:
    """What `jigap issuer serve` runs in each worker: settings from the environment, and no
    migration (the command checked the schema before forking; workers never race to migrate)."""
    configure_logging()
    return create_app(deployment=make_deployment(Settings.from_env(), run_migrations=False))


class BodyLimit:
    """Refuse a request body over the limit (413) before a route reads it into memory.

    Declared lengths are checked up front; a chunked body is counted as it streams. Bulk
    uploads (``/admin/offers/bulk``) have their own, larger limit.
    """

    def __init__(self, app: ASGIApp, *, limit: int, upload_limit: int) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"].startswith("/admin/offers/bulk") else self.limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        received, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _BodyTooLargeError
            return message

        async def send_unless_over(message: Message) -> None:
            # FastAPI turns any error while it parses a form or model body into its own 400:
            # once the body is over the limit, that answer is dropped and the 413 goes out.
            nonlocal started
            if over and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_BodyTooLargeError):
            await self.app(scope, counted, send_unless_over)
        if over and not started:
            await _too_large(send, limit)


class _BodyTooLargeError(AdminError):
    # An AdminError, so that a route answering as the body streams in (the bulk upload) can
    # report it in its own answer.
    def __init__(self) -> None:
        super().__init__(AdminErrorCode.TOO_LARGE, "request body over its limit")


async def _too_large(send: Send, limit: int) -> None:
    body = b'{"error":"too_large","error_description":"request body over %d bytes"}' % limit
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})
