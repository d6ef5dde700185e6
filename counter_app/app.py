"""``create_app``: the counter app's HTTP face, on loopback, over one ``Desk``.

The page (``static/``) and its API are served by the app itself, with a Content Security
Policy that lets the page reach nothing but the app: no asset, font or script comes from
off the machine. Every response says ``Cache-Control: no-store``, so a verdict is never kept
by the browser. Because any web page the browser opens could try to reach a local app:
requests must name a loopback host (no DNS rebinding), and every call that changes
something carries the ``X-Jigap-Counter`` header, which a page of another origin cannot send
without a CORS preflight this app never grants.

Routes: ``GET /`` the page; ``GET /api/counter`` who this counter is and what it may check;
``POST /api/checks`` a new check; ``POST /api/checks/{id}/frames`` a camera frame and
``/photos`` a photo (the image's bytes as the body); ``DELETE /api/checks/{id}``;
``GET /api/trust``, ``POST /api/sync``; ``GET /api/log``; ``/health``, ``/ready``,
``/metrics``; ``/docs`` (assets served offline).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from counter_app import metrics
from counter_app.desk import Desk, DeskError
from counter_app.frames import BOUNDS, ImageKind
from servicekit.asgi import ASGIApp, Message, Receive, Scope, Send
from servicekit.telemetry import RequestTelemetry

__all__ = ["CSRF_HEADER", "create_app"]

STATIC = Path(__file__).parent / "static"
CSRF_HEADER = "x-jigap-counter"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"})
_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The page reaches only the app; the camera's stream stays in the page (blob:, mediastream:).
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " media-src 'self' blob: mediastream:; connect-src 'self'; form-action 'none';"
    " frame-ancestors 'none'; base-uri 'none'"
)
logger = logging.getLogger("jigap.counter")


def create_app(desk: Desk) -> FastAPI:
    app = FastAPIOffline(
        title="jigap counter",
        summary="The counter app: scan a citizen's answer QR with the webcam, decide offline",
        version="0.1.0",
        static_url="/docs-assets",
    )
    app.state.desk = desk
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(
            STATIC / "index.html", headers={"Content-Security-Policy": _PAGE_POLICY}
        )

    @app.get("/api/counter", tags=["counter"])
    def counter() -> JSONResponse:
        """This counter's registered names and the purposes it may check."""
        return _answer(lambda: _counter_view(desk))

    @app.post("/api/checks", tags=["counter"])
    def start(purpose_id: Annotated[str, Body(embed=True, max_length=64)]) -> JSONResponse:
        """A new check for a registered purpose: the request QR (two-way) or none (preset)."""
        return _answer(lambda: desk.start(purpose_id))

    @app.delete("/api/checks/{check_id}", tags=["counter"])
    def end(check_id: str) -> JSONResponse:
        """The clerk moved on: the check, and its request, are forgotten."""
        desk.end(check_id)
        return _no_store({})

    @app.post("/api/checks/{check_id}/frames", tags=["counter"])
    async def frame(check_id: str, request: Request) -> JSONResponse:
        """One camera frame (JPEG, PNG or WebP bytes): a verdict, or why there is none yet."""
        return await _read(desk, check_id, request, ImageKind.CAMERA)

    @app.post("/api/checks/{check_id}/photos", tags=["counter"])
    async def photo(check_id: str, request: Request) -> JSONResponse:
        """A photo or an image file of the citizen's QR code, as the body."""
        return await _read(desk, check_id, request, ImageKind.PHOTO)

    @app.get("/api/trust", tags=["trust"])
    def trust() -> JSONResponse:
        """When the trust list and each status list were synced, and whether one is too old."""
        return _no_store(desk.trust_state())

    @app.post("/api/sync", tags=["trust"])
    async def sync() -> JSONResponse:
        """Fetch the trust list and status lists again (needs the network)."""
        return await run_in_threadpool(lambda: _answer(desk.sync_now))

    @app.get("/api/log", tags=["counter"])
    def counter_log() -> JSONResponse:
        """This run's latest verdicts: times, purposes and codes, no personal data."""
        return _no_store({"entries": [asdict(entry) for entry in desk.log.recent()]})

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers")
    def health() -> JSONResponse:
        return _no_store({"status": "ok"})

    @app.get("/ready", tags=["operations"], summary="Ready: a current trust list names it")
    def ready() -> JSONResponse:
        try:
            desk.registration()
        except DeskError as exc:
            logger.warning("not ready", extra={"event": "not_ready", "reason": exc.code.value})
            return _refusal(exc)
        return _no_store({"status": "ready"})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (text format 0.0.4)")
    def prometheus_metrics() -> Response:
        return Response(
            metrics.render(),
            media_type=metrics.CONTENT_TYPE,
            headers={"Cache-Control": "no-store"},
        )

    app.add_middleware(LocalOnly)
    app.add_middleware(
        RequestTelemetry, metrics=metrics.HTTP_METRICS, logger_name="jigap.counter.requests"
    )
    return app


def _counter_view(desk: Desk) -> dict[str, Any]:
    party = desk.registration()
    return {
        "client_id": party.id,
        "name_ko": party.names.get("ko", party.id),
        "name_en": party.names.get("en", party.id),
        "two_way": desk.signer is not None,
        "purposes": desk.purposes(),
    }


def _answer(make: Callable[[], dict[str, Any]]) -> JSONResponse:
    try:
        return _no_store(make())
    except DeskError as exc:
        return _refusal(exc)


def _no_store(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status, headers={"Cache-Control": "no-store"})


def _refusal(exc: DeskError) -> JSONResponse:
    return _no_store({"error": exc.code.value, "error_description": exc.detail}, exc.status)


async def _read(desk: Desk, check_id: str, request: Request, kind: ImageKind) -> JSONResponse:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _IMAGE_TYPES:
        metrics.IMAGES.labels(kind=kind.value, outcome="not_an_image").inc()
        return _no_store(
            {"error": "not_an_image", "error_description": "send the image's bytes"}, 415
        )
    limit = BOUNDS[kind].max_bytes
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            metrics.IMAGES.labels(kind=kind.value, outcome="too_large").inc()
            return _no_store(
                {"error": "too_large", "error_description": f"over {limit} bytes"}, 413
            )
    try:
        outcome = await run_in_threadpool(desk.read, check_id, bytes(body), kind)
    except DeskError as exc:
        metrics.IMAGES.labels(kind=kind.value, outcome=exc.code.value).inc()
        return _refusal(exc)
    metrics.IMAGES.labels(kind=kind.value, outcome=outcome["outcome"]).inc()
    timings = outcome["timings"]
    metrics.READ_SECONDS.labels(step="decode").observe(timings["decode_ms"] / 1000)
    verdict = outcome.get("verdict")
    if verdict is not None:
        metrics.READ_SECONDS.labels(step="verify").observe(timings["verify_ms"] / 1000)
        valid = verdict["valid"]
        metrics.VERDICTS.labels(
            verdict="valid" if valid else "refused", code="" if valid else verdict["code"]
        ).inc()
    return _no_store(outcome)


def _image_refused(kind: ImageKind, status: int, code: str, detail: str) -> JSONResponse:
    metrics.IMAGES.labels(kind=kind.value, outcome=code).inc()
    return _no_store({"error": code, "error_description": detail}, status)


class LocalOnly:
    """Loopback hosts only, the change header on every change, and the page's own headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if hostname not in _LOOPBACK_HOSTS:
            await _plain(send, 421, "misdirected: the counter app answers on loopback only")
            return
        if scope["method"] in _CHANGING and CSRF_HEADER.encode() not in headers:
            await _plain(send, 403, f"forbidden: a change needs the {CSRF_HEADER} header")
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = message.get("headers", [])
                extra = (
                    []
                    if any(name == b"cache-control" for name, _ in given)
                    else [
                        (b"cache-control", b"no-store")  # a verdict is never kept by the browser
                    ]
                )
                extra += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
