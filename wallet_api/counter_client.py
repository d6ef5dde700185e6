"""The wallet's side of OpenID4VP 1.0 cross-device presenting, over HTTP to a counter's server.

Two calls, both to a relying party the trust list registers, both bounded: fetching a signed
request by reference (§5.7 ``request_uri``, GET with ``Accept: application/oauth-authz-req+jwt``)
and posting the answer or the refusal to its ``response_uri`` (§8.2 ``direct_post``:
``application/x-www-form-urlencoded``; a 200 with a JSON object, whose ``redirect_uri`` the
wallet passes on). Redirects are never followed (§14.8: treated as an error), and what a
counter sends back is outside data: its whole answer within the timeout, at most a few KiB.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from keys.encoding import json_loads
from keys.errors import KeyManagementError

__all__ = [
    "MAX_REQUEST_BYTES",
    "REQUEST_MEDIA_TYPE",
    "CounterClient",
    "CounterError",
    "Submitted",
    "origin",
]

REQUEST_MEDIA_TYPE = "application/oauth-authz-req+jwt"  # RFC 9101 §10.2
MAX_REQUEST_BYTES = 16 * 1024  # a request object is at most 8 KiB (verifier.openid4vp)
_MAX_ANSWER_BYTES = 16 * 1024  # §8.2: a JSON object, perhaps a redirect_uri
_MAX_REDIRECT_URI = 2048
_TIMEOUT_SECONDS = 10.0


class CounterError(Exception):
    """The counter's server did not answer, answered too slowly, or answered nonsense."""


@dataclass(frozen=True, slots=True)
class Submitted:
    """The counter took the answer (§8.2); where it asks the phone's browser to go next."""

    redirect_uri: str | None


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class CounterClient:
    def __init__(self, http: httpx.Client, *, timeout_seconds: float = _TIMEOUT_SECONDS) -> None:
        self._http = http
        self._timeout = timeout_seconds

    def _exchange(self, method: str, url: str, limit: int, **options: Any) -> tuple[int, bytes]:
        """One request; its status and whole body, read within the deadline and the bound
        (httpx bounds each read only: a body trickled a byte at a time is refused)."""
        deadline = time.monotonic() + self._timeout
        try:
            with self._http.stream(
                method, url, timeout=self._timeout, follow_redirects=False, **options
            ) as response:
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise CounterError(f"{url}: an answer over {limit} bytes")
                    if time.monotonic() > deadline:
                        raise CounterError(f"{url}: no whole answer in time")
        except httpx.HTTPError as exc:
            raise CounterError(f"{url}: {type(exc).__name__}") from exc
        return response.status_code, bytes(data)

    def fetch_request(self, request_uri: str) -> str:
        """The request object at ``request_uri`` (§5.7, RFC 9101 §5.2): the compact JWS text."""
        status, content = self._exchange(
            "GET", request_uri, MAX_REQUEST_BYTES, headers={"Accept": REQUEST_MEDIA_TYPE}
        )
        if status != 200:
            raise CounterError(f"{request_uri}: answered {status}")
        try:
            return content.decode("ascii").strip()
        except UnicodeDecodeError:
            raise CounterError(f"{request_uri}: the request is not a compact JWS") from None

    def post_response(self, response_uri: str, form: Mapping[str, str]) -> Submitted:
        """Post an answer (``vp_token``, ``state``) or a refusal (``error``, ``state``)."""
        status, content = self._exchange("POST", response_uri, _MAX_ANSWER_BYTES, data=dict(form))
        if status != 200:
            raise CounterError(f"{response_uri}: answered {status}")
        try:
            body = json_loads(content) if content else {}
        except KeyManagementError:
            raise CounterError(f"{response_uri}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise CounterError(f"{response_uri}: the answer is not a JSON object")
        redirect = body.get("redirect_uri")
        if redirect is not None and not (
            isinstance(redirect, str)
            and len(redirect) <= _MAX_REDIRECT_URI
            and urlsplit(redirect).scheme in ("https", "http")
        ):
            raise CounterError(f"{response_uri}: redirect_uri is not a URL")
        return Submitted(redirect)
