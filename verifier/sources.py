"""Reading what a sync names: a file, or a URL fetched under a size bound, conditionally.

A list already held is asked for with If-None-Match and the ETag it came with, so that an
unchanged list costs a 304. Every failure is a ``SyncError`` whose detail is one line: the
source and the reason, without the HTTP library's own help text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from keys.encoding import json_dumps, json_loads_object
from keys.errors import KeyManagementError
from keys.store import write_atomically
from verifier.status_list_aggregation import is_http_url
from verifier.trust_store import MAX_STORE_FILE_BYTES, PUBLIC_FILE

__all__ = ["EtagCache", "Fetched", "SyncError", "compact_text", "fetch", "json_document"]


class SyncError(Exception):
    """A source that could not be fetched or read."""

    code = "sync_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes | None  # None: 304 Not Modified, the copy held is current
    etag: str | None


def fetch(client: httpx.Client, source: str, *, max_bytes: int, etag: str | None = None) -> Fetched:
    """GET ``source`` (or read the file), never holding more than ``max_bytes``."""
    if not is_http_url(source):
        path = Path(source)
        try:
            if path.stat().st_size > max_bytes:
                raise SyncError(f"{source}: over {max_bytes} bytes")
            return Fetched(path.read_bytes(), None)
        except OSError as exc:
            raise SyncError(f"{source}: {exc.strerror}") from None
    headers = {"If-None-Match": etag} if etag else {}
    try:
        with client.stream("GET", source, headers=headers) as response:
            if response.status_code == httpx.codes.NOT_MODIFIED and etag:
                return Fetched(None, etag)
            if response.status_code != httpx.codes.OK:
                raise SyncError(f"{source}: HTTP {response.status_code} {response.reason_phrase}")
            body = bytearray()
            for chunk in response.iter_bytes():  # decoded: a compressed bomb is bounded too
                body += chunk
                if len(body) > max_bytes:
                    raise SyncError(f"{source}: over {max_bytes} bytes")
            return Fetched(bytes(body), response.headers.get("etag"))
    except httpx.HTTPError as exc:
        raise SyncError(f"{source}: {_one_line(exc)}") from None


def _one_line(exc: httpx.HTTPError) -> str:
    """The library's message without its help links or the lines after the first."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    reason = lines[0] if lines else ""
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def compact_text(body: bytes, source: str) -> str:
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise SyncError(f"{source}: not a compact JWS") from None


def json_document(body: bytes, source: str) -> dict[str, Any]:
    try:
        return json_loads_object(body)
    except KeyManagementError as exc:
        raise SyncError(f"{source}: not a JSON object ({exc.code})") from None


class EtagCache:
    """The ETag of each list held, by URL (the store's etags.json).

    Only a list whose token is held is fetched conditionally: a 304 says no more than "keep
    yours".
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.trust_list: dict[str, str] = {}
        self.status_lists: dict[str, str] = {}
        try:
            if path.stat().st_size > MAX_STORE_FILE_BYTES:
                return
            held = json_loads_object(path.read_bytes())
        except (OSError, KeyManagementError):
            return  # a lost or damaged cache costs full downloads, nothing else
        self.trust_list = _str_map(held.get("trust_list"))
        self.status_lists = _str_map(held.get("status_lists"))

    def save(self) -> None:
        data = {"trust_list": self.trust_list, "status_lists": self.status_lists}
        write_atomically(self.path, json_dumps(data), mode=PUBLIC_FILE)


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
