"""A bound on every request body, checked before a route reads it into memory.

A body over its limit is refused ``413 too_large`` whether its length was declared or it was
sent chunked: no route can be made to hold more than the limit, whatever the client claims.
Routes that stream large uploads (the issuer's bulk offers) have their own, larger limit.
"""

from __future__ import annotations

import contextlib

from servicekit.asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "BodyTooLargeError"]


class BodyTooLargeError(Exception):
    """What a body read raises once the body is over its limit, unless the service names its
    own."""

    def __init__(self) -> None:
        super().__init__("request body over its limit")


class BodyLimit:
    """Refuse a request body over the limit (413) before a route reads it into memory.

    Declared lengths are checked up front; a chunked body is counted as it streams. The paths
    in ``upload_paths`` have ``upload_limit`` instead: exactly those, as the text guard's
    ``binary_paths`` (a prefix would give ``/intakes/photo-x/accept``, an id beginning like the
    photo path, the photo's limit for its JSON). ``body_error``: what
    the body's next read raises once over, a class the service's streaming routes catch (made
    with no arguments) so that a route that has begun its answer can report it there.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        upload_limit: int | None = None,
        upload_paths: tuple[str, ...] = (),
        body_error: type[Exception] = BodyTooLargeError,
    ) -> None:
        self.app, self.limit = app, limit
        self.upload_limit = limit if upload_limit is None else upload_limit
        self.upload_paths = upload_paths
        self.body_error = body_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"] in self.upload_paths else self.limit
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
                    raise self.body_error
            return message

        async def send_unless_over(message: Message) -> None:
            # FastAPI turns any error while it parses a form or model body into its own 400:
            # once the body is over the limit, that answer is dropped and the 413 goes out.
            nonlocal started
            if over and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(self.body_error):
            await self.app(scope, counted, send_unless_over)
        if over and not started:
            await _too_large(send, limit)


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
