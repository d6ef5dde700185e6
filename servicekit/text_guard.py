"""Text no database column can hold: a NUL character anywhere in a request is bad input.

PostgreSQL's ``text`` and ``json`` types cannot store U+0000, so a NUL that reached a query
(a path or query parameter, a JSON or form field, a key nested in the claims, a cell of a
bulk upload) failed there, as a 500. No route has a use for it, so it is refused before any
route runs, in one place that sees everything a route can parse:

- the path and the query string, percent-decoded;
- the body as it streams in (never held whole: bulk uploads are large): a raw NUL byte in
  any body, ``%00`` in a form body, and the JSON escape ``\\u0000`` (not ``\\\\u0000``, an
  escaped backslash) in every other body, as JSON, JSON lines and the JSON cells of a CSV
  upload are all read by a JSON parser. A CSV text cell holding the six characters
  ``\\u0000`` is refused too: the price of reading the stream without parsing it twice.

The answer is the service's ``400 invalid_request``. A route that has already begun its
answer when the NUL arrives (the issuer's bulk upload, which answers row by row) reports it
itself: the body's next read raises the service's ``body_error`` (the issuer's is an
``AdminError``), which the route turns into its own "invalid_request" line.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import unquote_to_bytes

from servicekit.asgi import ASGIApp, Message, Receive, Scope, Send
from servicekit.http_errors import ServiceErrorCode, error_response

__all__ = ["NUL_IN_BODY", "NulInBodyError", "NulScanner", "TextGuard"]

NUL_IN_BODY = "a NUL character in the request body"

_FORM = b"application/x-www-form-urlencoded"
_JSON_NUL_ESCAPE = re.compile(rb"(\\+)u0000")  # a NUL if the run of backslashes is odd
_ESCAPE_LENGTH = len(rb"\u0000")


class NulScanner:
    """Finds a NUL in a body that arrives in chunks, split anywhere; keeps a few bytes."""

    def __init__(self, *, form: bool) -> None:
        self._form = form
        self._tail = b""  # the end of what was read, where a split escape may begin
        self._odd_before_tail = False  # an odd run of backslashes ends where _tail begins

    def feed(self, chunk: bytes) -> bool:
        """Whether the body read so far, ending with ``chunk``, holds a NUL."""
        if b"\x00" in chunk:
            return True
        data = self._tail + chunk
        if self._form:
            self._tail = data[-2:]
            return b"%00" in data
        for match in _JSON_NUL_ESCAPE.finditer(data):
            run = len(match.group(1)) + (self._odd_before_tail and match.start() == 0)
            if run % 2 == 1:
                return True
        # An escape not yet complete starts in the last five bytes: keep them, and the
        # parity of the backslashes just before them.
        keep = _ESCAPE_LENGTH - 1
        if len(data) > keep:
            head = data[:-keep]
            run = len(head) - len(head.rstrip(b"\\"))
            if run == len(head):
                run += self._odd_before_tail
            self._odd_before_tail = run % 2 == 1
            self._tail = data[-keep:]
        else:
            self._tail = data
        return False


class NulInBodyError(Exception):
    """What a body read raises once a NUL was found, unless the service names its own."""

    def __init__(self) -> None:
        super().__init__(NUL_IN_BODY)


class TextGuard:
    """Refuse (400 invalid_request) a request whose URL or body holds a NUL character.

    ``body_error``: what the body's next read raises once a NUL is found; a class the
    service's streaming routes catch (made with no arguments). ``binary_paths``: routes whose
    body is binary (a photo), read by a decoder and never stored as text: their URL is checked,
    their body is not.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        body_error: type[Exception] = NulInBodyError,
        binary_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.body_error = body_error
        self.binary_paths = binary_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope["query_string"]):
            await _refuse(scope, receive, send, "a NUL character in the URL")
            return
        if scope["path"] in self.binary_paths:
            await self.app(scope, receive, send)
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        scanner = NulScanner(form=content_type.lower().startswith(_FORM))
        found, started = False, False

        async def checked() -> Message:
            nonlocal found
            if found:
                raise self.body_error
            message = await receive()
            if message["type"] == "http.request" and scanner.feed(message.get("body", b"")):
                found = True
                raise self.body_error
            return message

        async def send_unless_found(message: Message) -> None:
            # A route that failed to read its body answers its own error: once a NUL was
            # found, that answer is dropped and ours goes out, unless it had already begun.
            nonlocal started
            if found and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(self.body_error):
            await self.app(scope, checked, send_unless_found)
        if found and not started:
            await _refuse(scope, receive, send, NUL_IN_BODY)


async def _refuse(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    response = error_response(400, ServiceErrorCode.INVALID_REQUEST, detail)
    await response(scope, receive, send)
