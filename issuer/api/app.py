"""``create_app``: the issuer service as an ASGI app, built from settings (never at import).

The OpenAPI pages (``/docs``, ``/redoc``) load their scripts and styles from the service
itself (fastapi-offline's copies of Swagger UI and ReDoc): agencies and counters run
air-gapped, and a page that needs a CDN shows nothing there.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from credential_schemas import Registry
from issuer.api.errors import install_error_handlers
from issuer.api.routes import admin, bulk, oid4vci, operations, public
from issuer.db import migrate
from issuer.errors import AdminError, AdminErrorCode
from issuer.metrics import HTTP_METRICS
from issuer.observability import configure_logging
from issuer.services.deployment import Deployment
from issuer.services.offers import seal_legacy_claims
from issuer.settings import ENV_PREFIX, Settings
from servicekit.body_limit import BodyLimit
from servicekit.db import make_engine
from servicekit.telemetry import RequestTelemetry
from servicekit.text_guard import NUL_IN_BODY, TextGuard
from servicekit.timeouts import BodyTimeout, SlowClientProtocol

__all__ = ["IssuerSlowClientProtocol", "create_app", "create_served_app", "make_deployment"]

# Bulk uploads (routes/bulk.py) have their own, larger body limit.
BULK_UPLOAD_PATH = "/admin/offers/bulk"


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
        upload_paths=(BULK_UPLOAD_PATH,),
        body_error=_BodyTooLargeError,
    )
    # A NUL anywhere in a request: 400 (servicekit.text_guard).
    app.add_middleware(TextGuard, body_error=_NulInBodyError)
    app.add_middleware(BodyTimeout, env_prefix=ENV_PREFIX)
    # Outermost: it sees every answer, 413 and 408 too.
    app.add_middleware(RequestTelemetry, metrics=HTTP_METRICS, logger_name="jigap.issuer.requests")
    return app


def create_served_app() -> FastAPI:
    """What `jigap issuer serve` runs in each worker: settings from the environment, and no
    migration (the command checked the schema before forking; workers never race to migrate)."""
    configure_logging()
    return create_app(deployment=make_deployment(Settings.from_env(), run_migrations=False))


class IssuerSlowClientProtocol(SlowClientProtocol):
    """What `jigap issuer serve` gives uvicorn: the slow-client bounds from ``JIGAP_ISSUER_*``
    (servicekit.timeouts)."""

    env_prefix = ENV_PREFIX


class _BodyTooLargeError(AdminError):
    # An AdminError, so that a route answering as the body streams in (the bulk upload) can
    # report it in its own answer.
    def __init__(self) -> None:
        super().__init__(AdminErrorCode.TOO_LARGE, "request body over its limit")


class _NulInBodyError(AdminError):
    # An AdminError for the same reason: the bulk upload reports it as one of its lines.
    def __init__(self) -> None:
        super().__init__(AdminErrorCode.INVALID_REQUEST, NUL_IN_BODY)
