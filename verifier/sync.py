"""The verifier's one online step: fetch trust and status lists, check them, save them.

A source is an http(s) URL or a local file; what it holds is told by its JWS `typ`. Nothing
reaches the trust store directory unless it verified: the pinned anchor signs the trust list,
a trust list never goes back in sequence, and each status list is signed by a listed issuer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from keys.encoding import b64url_decode, json_dumps, json_loads_object
from keys.errors import KeyErrorCode, KeyManagementError, TrustListError
from keys.jwk import PublicKey, public_key_from_jwk
from keys.jws import decode_compact
from keys.store import write_atomically
from keys.trust_list import MAX_TRUST_LIST_LENGTH, TRUST_LIST_TYP, TrustList, verify_trust_list
from verifier.status_list import MAX_STATUS_LIST_TOKEN_LENGTH, STATUS_LIST_TYP
from verifier.trust_store import (
    ANCHOR_FILE,
    PUBLIC_FILE,
    STATUS_LISTS_FILE,
    TRUST_LIST_FILE,
    TrustStore,
)

# What the readers accept, and no more: the limits follow from theirs.
MAX_SOURCE_BYTES = max(MAX_TRUST_LIST_LENGTH, MAX_STATUS_LIST_TOKEN_LENGTH)
FETCH_TIMEOUT_SECONDS = 20.0


class SyncError(Exception):
    """A source that could not be fetched or read."""

    code = "sync_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def fetch_source(source: str) -> str:
    """The text at ``source``, bounded in size: a URL (http, https) or a file path."""
    if source.startswith(("http://", "https://")):
        try:
            with httpx.stream("GET", source, timeout=FETCH_TIMEOUT_SECONDS) as response:
                response.raise_for_status()
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_SOURCE_BYTES:
                        raise SyncError(f"{source}: over {MAX_SOURCE_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise SyncError(f"{source}: {exc}") from exc
        data = bytes(body)
    else:
        path = Path(source)
        try:
            if path.stat().st_size > MAX_SOURCE_BYTES:
                raise SyncError(f"{source}: over {MAX_SOURCE_BYTES} bytes")
            data = path.read_bytes()
        except OSError as exc:
            raise SyncError(f"{source}: {exc.strerror}") from exc
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise SyncError(f"{source}: not a compact JWS") from exc


def _typ(token: str, source: str) -> str:
    try:
        typ = json_loads_object(b64url_decode(token.split(".", 1)[0])).get("typ")
    except KeyManagementError as exc:
        raise SyncError(f"{source}: not a compact JWS ({exc.code})") from exc
    if typ not in (TRUST_LIST_TYP, STATUS_LIST_TYP):
        raise SyncError(f"{source}: typ {typ!r} is neither a trust list nor a status list")
    return str(typ)


def sync_trust_store(
    sources: Sequence[str],
    into: str | os.PathLike[str],
    *,
    anchor_file: str | os.PathLike[str] | None = None,
    now: int | None = None,
) -> list[tuple[str, str, str]]:
    """Fetch ``sources``, check them, and write the trust store; returns report rows."""
    now = int(time.time()) if now is None else now
    root = Path(into)
    root.mkdir(parents=True, exist_ok=True)
    pinned_path = root / ANCHOR_FILE
    anchor_jwk = _pin_anchor(pinned_path, anchor_file)
    anchor = public_key_from_jwk(anchor_jwk)

    tokens = [(source, fetch_source(source)) for source in sources]
    trust_lists = [(s, t) for s, t in tokens if _typ(t, s) == TRUST_LIST_TYP]
    status_lists = [(s, t) for s, t in tokens if _typ(t, s) == STATUS_LIST_TYP]
    if len(trust_lists) > 1:
        raise SyncError("more than one trust list among the sources")

    held, held_list = _held(root, anchor, now)
    if trust_lists:
        source, token = trust_lists[0]
        store = TrustStore.from_trust_list(
            token,
            anchor,
            now=now,
            held_sequence=held_list.sequence if held_list else None,
            held_digest=held_list.digest if held_list else None,
        )
        trust_token = token
    elif held is not None:
        store, trust_token = held, (root / TRUST_LIST_FILE).read_text("ascii")
    elif held_list is not None:
        raise SyncError("the trust list held has expired: give a current one among the sources")
    else:
        raise SyncError("no trust list among the sources and none held")

    rows: list[tuple[str, str, str]] = []
    if trust_lists and store.trust_list is not None:
        rows.append(
            (
                "trust list",
                trust_lists[0][0],
                f"sequence {store.trust_list.sequence}, {len(store.issuers)} issuers",
            )
        )
    # Status lists held before and not refreshed now stay, if their issuer is still trusted.
    if held is not None:
        for uri in held.status_list_uris:
            previous = held.status_list(uri)
            if previous is not None and store.issuer(previous.issuer_id) is not None:
                store.add_status_list(uri, previous.token, previous.fetched_at)
    for source, token in status_lists:
        claims = decode_compact(
            token, expected_typ=STATUS_LIST_TYP, max_length=MAX_STATUS_LIST_TOKEN_LENGTH
        ).unverified_claims()
        status_uri = claims.get("sub")
        if not isinstance(status_uri, str):
            raise SyncError(f"{source}: status list has no `sub`")
        if source.startswith(("http://", "https://")) and status_uri != source:
            raise SyncError(f"{source}: status list says it lives at {status_uri}")
        store.add_status_list(status_uri, token, now)
        rows.append(("status list", source, status_uri))

    write_atomically(root / TRUST_LIST_FILE, trust_token.encode("ascii"), mode=PUBLIC_FILE)
    store.save_status_lists(root)
    if not pinned_path.exists():
        write_atomically(pinned_path, json_dumps(anchor_jwk), mode=PUBLIC_FILE)
    rows.append(("saved", str(root), f"{STATUS_LISTS_FILE}: {len(store.status_list_uris)} lists"))
    return rows


def _held(root: Path, anchor: PublicKey, now: int) -> tuple[TrustStore | None, TrustList | None]:
    """The store synced before, and its trust list, which guards against rollback.

    A held list that has expired since (a counter offline for weeks) vouches for nothing any
    more, so its store is dropped; but its sequence still guards against rollback, so it is
    read, signature checked, as of its own issue time.
    """
    if not (root / TRUST_LIST_FILE).exists():
        return None, None
    try:
        held = TrustStore.load(root, now=now)
    except TrustListError as exc:
        if exc.code is not KeyErrorCode.TRUST_LIST_EXPIRED:
            raise
    else:
        return held, held.trust_list
    token = (root / TRUST_LIST_FILE).read_text("ascii")
    claims = decode_compact(token, expected_typ=TRUST_LIST_TYP).unverified_claims()
    unverified_iat = claims.get("iat")
    if type(unverified_iat) is not int:
        raise SyncError(f"{root / TRUST_LIST_FILE}: no issue time")
    return None, verify_trust_list(token, anchor, now=unverified_iat)


def _pin_anchor(pinned_path: Path, anchor_file: str | os.PathLike[str] | None) -> dict[str, object]:
    pinned = json_loads_object(pinned_path.read_bytes()) if pinned_path.exists() else None
    given = json_loads_object(Path(anchor_file).read_bytes()) if anchor_file else None
    if pinned is None and given is None:
        raise SyncError(f"no trust anchor pinned in {pinned_path.parent}; pass --anchor")
    if pinned and given and public_key_from_jwk(pinned).kid != public_key_from_jwk(given).kid:
        raise SyncError("--anchor differs from the anchor already pinned; refusing")
    anchor = pinned if pinned is not None else given
    assert anchor is not None  # noqa: S101 - one of them is set, checked above
    return anchor
