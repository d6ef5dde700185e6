"""`POST /admin/offers/bulk`: many offers from one CSV or JSON-lines upload, answered in NDJSON.

The upload is read as it streams and the answer is written as the rows are done: one line a
row, the offer or the row's error, then a summary line (``issuer/services/bulk.py`` says what
a row is). What can refuse the whole upload is checked before the answer starts: the token
(before a byte of the body is read), the Content-Type, the certificate type, a CSV header.

Most HTTP/1.1 clients send the whole body before they read a byte of the answer. Were result
lines written straight to the socket, a large upload would fill the socket buffers both ways
and both sides would wait for ever. So the rows' worker never waits for the client: its lines
queue in memory up to ``SPOOL_MEMORY_BYTES``, then in a temporary file, and a second task
sends them as fast as the client takes them.
"""

from __future__ import annotations

import json
import tempfile
from collections import deque
from contextlib import aclosing
from typing import IO, Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from issuer.api.deps import DeploymentDep, bearer_token
from issuer.errors import AdminError, AdminErrorCode
from issuer.services import bulk
from issuer.services.admin import AgencyPrincipal, authenticate
from servicekit.db import session_scope
from servicekit.http_errors import NO_STORE

router = APIRouter(prefix="/admin", tags=["Agency admin"])

NDJSON = "application/x-ndjson"
SPOOL_MEMORY_BYTES = 256 * 1024
_SEND_BYTES = 64 * 1024


def _uploader(request: Request, deployment: DeploymentDep) -> AgencyPrincipal:
    """The calling agency, as for every admin route, but from a session closed at once: one
    held open for the whole upload would keep a transaction (on SQLite, the write lock) while
    every row commits its own."""
    with session_scope(deployment.read_engine) as session:
        return authenticate(session, bearer_token(request))


UploaderDep = Annotated[AgencyPrincipal, Depends(_uploader)]


class _UploadBody:
    """The request body a chunk at a time, as it arrives (ASGI ``receive``)."""

    def __init__(self, receive: Receive) -> None:
        self._receive, self._done = receive, False

    def __aiter__(self) -> _UploadBody:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                # Not the end of the upload: its last record may be cut anywhere.
                self._done = True
                raise AdminError(
                    AdminErrorCode.INVALID_REQUEST, "the client left before the upload ended"
                )
            if message["type"] == "http.request":
                self._done = not message.get("more_body", False)
                if message.get("body"):
                    return bytes(message["body"])
        raise StopAsyncIteration


class _Spool:
    """Bytes from the rows' worker to the response; writing never waits."""

    def __init__(self, memory_bytes: int) -> None:
        self._memory: deque[bytes] = deque()
        self._memory_bytes, self._memory_limit = 0, memory_bytes
        self._file: IO[bytes] | None = None  # once in use, every write goes there until read
        self._written = self._read = 0
        self._ended = False
        self._ready = anyio.Event()

    def write(self, data: bytes) -> None:
        if self._file is None and self._memory_bytes + len(data) <= self._memory_limit:
            self._memory.append(data)
            self._memory_bytes += len(data)
        else:
            if self._file is None:
                self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by take/close
            # Small writes to a local file: not worth a thread hop each.
            self._file.seek(self._written)
            self._file.write(data)
            self._written += len(data)
        self._ready.set()

    def end(self) -> None:
        self._ended = True
        self._ready.set()

    async def take(self) -> bytes | None:
        """The next bytes to send, once there are some; None when all is sent."""
        while True:
            if self._memory:
                data = b"".join(self._memory)
                self._memory.clear()
                self._memory_bytes = 0
                return data
            if self._file is not None:
                self._file.seek(self._read)
                data = self._file.read(min(_SEND_BYTES, self._written - self._read))
                self._read += len(data)
                if self._read == self._written:
                    self.close()
                if data:
                    return data
                continue
            if self._ended:
                return None
            await self._ready.wait()
            self._ready = anyio.Event()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._written, self._read = None, 0, 0


def _line(result: bulk.BulkResult) -> bytes:
    body: dict[str, Any]
    if isinstance(result, bulk.RowCreated):
        offer = result.offer
        body = {
            "row": result.row,
            "offer_id": offer.offer_id,
            "credential_offer_uri": offer.offer_uri,
            "credential_offer_reference_uri": offer.offer_reference_uri,
            "tx_code": offer.tx_code,
            "expires_at": offer.expires_at,
        }
    elif isinstance(result, bulk.RowFailed):
        body = {"row": result.row, "error": str(result.code), "error_description": result.detail}
        if result.reason is not None:
            body["reason"] = str(result.reason)
    else:
        body = {
            "summary": {
                "rows": result.rows,
                "created": result.created,
                "failed": result.failed,
                "complete": result.complete,
            }
        }
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


class _NdjsonResults(Response):
    """The upload's results as NDJSON, sent while the upload is still being read."""

    media_type = NDJSON

    def __init__(self, upload: bulk.BulkUpload) -> None:
        # Not Response.__init__, which would declare a Content-Length for an empty body.
        self._upload = upload
        self.status_code = 200
        self.background = None
        self.init_headers(NO_STORE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        spool = _Spool(SPOOL_MEMORY_BYTES)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._produce, spool)
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status_code,
                        "headers": self.raw_headers,
                    }
                )
                while (data := await spool.take()) is not None:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            spool.close()

    async def _produce(self, spool: _Spool) -> None:
        try:
            async with aclosing(self._upload.results()) as results:
                async for result in results:
                    spool.write(_line(result))
        finally:
            spool.end()


_UPLOAD_BODY = {
    "required": True,
    "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}}
        for media_type in bulk.MEDIA_TYPES
    },
}


@router.post(
    "/offers/bulk",
    response_class=Response,
    responses={200: {"content": {NDJSON: {}}, "description": "One line a row, then a summary"}},
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def bulk_offers(
    request: Request,
    principal: UploaderDep,
    deployment: DeploymentDep,
    credential_type: Annotated[str, Query(max_length=64)],
    tx_code: bool = True,
    approval_required: bool = False,
) -> Response:
    """Offers for many citizens from one upload: CSV with a header row, or JSON lines
    (`{"claims": {...}, "subject": "..."}`). Each row is its own offer, committed alone."""
    upload = await bulk.open_upload(
        deployment,
        principal,
        type_id=credential_type,
        upload_format=bulk.upload_format(request.headers.get("content-type")),
        options=bulk.BulkOptions(tx_code=tx_code, approval_required=approval_required),
        chunks=_UploadBody(request.receive),
    )
    return _NdjsonResults(upload)
