"""The verifier's one online step: fetch trust and status lists, check them, save them.

A source is an http(s) URL or a local file; what it holds is told by its JWS `typ`. Nothing
reaches the trust store directory unless it verified: the pinned anchor signs the trust list,
a trust list never goes back in sequence, and each status list is signed by a listed issuer.

Given only the trust list's URL, sync finds the status lists itself: each issuer on the list
is asked for its metadata, which names its Status List Aggregation, which lists every status
list it publishes (``verifier.status_list_aggregation``); a list found this way must be signed
by the issuer that lists it. Requests for lists already held are conditional: their ETags are
kept in ``DIR/etags.json`` and sent as If-None-Match, so an unchanged list costs a 304.
Every response is read under a size bound, and a network error is one line.

The sources of the last sync that succeeded are kept in ``DIR/sources.json``, so the next
one may be asked for without naming them (``remembered_sources``): a counter's "sync now".
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx

from keys.encoding import b64url_decode, json_dumps, json_loads, json_loads_object
from keys.errors import KeyErrorCode, KeyManagementError, TrustListError
from keys.jwk import PublicKey, public_key_from_jwk
from keys.jws import decode_compact
from keys.store import write_atomically
from keys.trust_list import MAX_TRUST_LIST_LENGTH, TRUST_LIST_TYP, TrustList, verify_trust_list
from verifier.errors import VerificationError
from verifier.sources import (
    EtagCache,
    Fetched,
    SyncError,
    compact_text,
    fetch,
    json_document,
)
from verifier.status_list import MAX_STATUS_LIST_TOKEN_LENGTH, STATUS_LIST_TYP
from verifier.status_list_aggregation import (
    AggregationError,
    aggregation_endpoint,
    credential_issuer_metadata_url,
    is_http_url,
    status_list_uris,
)
from verifier.trust_store import (
    ANCHOR_FILE,
    PUBLIC_FILE,
    TRUST_LIST_FILE,
    TrustStore,
)

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_SOURCE_BYTES",
    "Outcome",
    "SyncError",
    "SyncReport",
    "SyncRow",
    "remembered_sources",
    "sync_trust_store",
]

# What the readers accept, and no more: the limits follow from theirs.
MAX_SOURCE_BYTES = max(MAX_TRUST_LIST_LENGTH, MAX_STATUS_LIST_TOKEN_LENGTH)
MAX_DOCUMENT_BYTES = 1024 * 1024  # issuer metadata, an aggregation: small JSON documents
FETCH_TIMEOUT_SECONDS = 20.0
ETAGS_FILE = "etags.json"
SOURCES_FILE = "sources.json"
_TRUST_LIST, _STATUS_LIST, _ISSUER = "trust list", "status list", "issuer"


class Outcome(StrEnum):
    """What one sync did to one list."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # the same token again, or 304 Not Modified
    FAILED = "failed"  # the list held before, if any, stays


@dataclass(frozen=True, slots=True)
class SyncRow:
    what: str  # "trust list", "status list" or "issuer"
    source: str
    outcome: Outcome
    detail: str


@dataclass(frozen=True, slots=True)
class SyncReport:
    rows: tuple[SyncRow, ...]
    status_lists_held: int

    @property
    def failed(self) -> bool:
        return any(row.outcome is Outcome.FAILED for row in self.rows)


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
    discover: bool | None = None,
    client: httpx.Client | None = None,
) -> SyncReport:
    """Fetch ``sources``, check them, and write the trust store.

    ``discover`` follows the trust list to each issuer's status lists (see the module's
    docstring); by default it does when a trust list is fetched over http(s) and no status
    list is among the sources. A trust list that fails its checks, or a source named that
    cannot be read, refuses the whole sync and writes nothing; a discovered list that fails
    is reported as failed and the copy held before, if any, stays. ``client``: the HTTP client
    to fetch with (a service's own, with its transport and limits); by default a new one.
    """
    now = int(time.time()) if now is None else now
    root = Path(into)
    root.mkdir(parents=True, exist_ok=True)
    pinned_path = root / ANCHOR_FILE
    anchor_jwk = _pin_anchor(pinned_path, anchor_file)
    anchor = public_key_from_jwk(anchor_jwk)
    held, held_list = _held(root, anchor, now)
    etags = EtagCache(root / ETAGS_FILE)
    held_trust_token = (root / TRUST_LIST_FILE).read_text("ascii") if held is not None else None

    with (
        httpx.Client(timeout=FETCH_TIMEOUT_SECONDS) if client is None else nullcontext(client)
    ) as client:
        tokens: list[tuple[str, str, Fetched]] = []
        for source in sources:
            held_token, etag = _held_copy(source, held, held_trust_token, etags)
            fetched = fetch(client, source, max_bytes=MAX_SOURCE_BYTES, etag=etag)
            token = held_token if fetched.body is None else compact_text(fetched.body, source)
            assert token is not None  # noqa: S101 - an ETag is sent only for a held copy
            tokens.append((source, token, fetched))
        trust_lists = [t for t in tokens if _typ(t[1], t[0]) == TRUST_LIST_TYP]
        status_lists = [t for t in tokens if _typ(t[1], t[0]) == STATUS_LIST_TYP]
        if len(trust_lists) > 1:
            raise SyncError("more than one trust list among the sources")

        rows: list[SyncRow] = []
        if trust_lists:
            source, trust_token, fetched = trust_lists[0]
            store = TrustStore.from_trust_list(
                trust_token,
                anchor,
                now=now,
                held_sequence=held_list.sequence if held_list else None,
                held_digest=held_list.digest if held_list else None,
            )
            rows.append(_trust_list_row(source, store, held_list, fetched))
            etags.trust_list = {source: fetched.etag} if fetched.etag else {}
        elif held is not None and held_trust_token is not None:
            store, trust_token = held, held_trust_token
        elif held_list is not None:
            raise SyncError("the trust list held has expired: give a current one among the sources")
        else:
            raise SyncError("no trust list among the sources and none held")

        # Status lists held before and not refreshed now stay, if their issuer is still trusted
        # with the key that signed them; one whose key left the trust list is dropped, not
        # allowed to stop the sync that would fetch its successor.
        if held is not None:
            for uri in held.status_list_uris:
                previous = held.status_list(uri)
                if previous is not None and store.issuer(previous.issuer_id) is not None:
                    try:
                        store.add_status_list(uri, previous.token, previous.fetched_at)
                    except (VerificationError, KeyManagementError):
                        continue
        for source, token, fetched in status_lists:
            rows.append(_take_status_list(store, held, etags, source, token, fetched, now))
        if discover is None:
            discover = bool(trust_lists) and is_http_url(trust_lists[0][0]) and not status_lists
        if discover:
            rows.extend(_discover(client, store, held, etags, now))

    write_atomically(root / TRUST_LIST_FILE, trust_token.encode("ascii"), mode=PUBLIC_FILE)
    store.save_status_lists(root)
    etags.save()
    write_atomically(root / SOURCES_FILE, json_dumps(list(sources)), mode=PUBLIC_FILE)
    if not pinned_path.exists():
        write_atomically(pinned_path, json_dumps(anchor_jwk), mode=PUBLIC_FILE)
    return SyncReport(tuple(rows), len(store.status_list_uris))


def remembered_sources(directory: str | os.PathLike[str]) -> list[str]:
    """The sources the last successful sync into ``directory`` was given; [] if none."""
    path = Path(directory) / SOURCES_FILE
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            return []
        sources = json_loads(path.read_bytes())
    except (OSError, KeyManagementError):
        return []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        return []
    return sources


def _held_copy(
    source: str, held: TrustStore | None, held_trust_token: str | None, etags: EtagCache
) -> tuple[str | None, str | None]:
    """The token held for ``source`` and the ETag to send for it, if both are known."""
    if held is None:
        return None, None
    if source in etags.trust_list and held_trust_token is not None:
        return held_trust_token, etags.trust_list[source]
    previous = held.status_list(source)
    if previous is not None and source in etags.status_lists:
        return previous.token, etags.status_lists[source]
    return None, None


def _trust_list_row(
    source: str, store: TrustStore, held_list: TrustList | None, fetched: Fetched
) -> SyncRow:
    assert store.trust_list is not None  # noqa: S101 - built from a trust list
    detail = f"sequence {store.trust_list.sequence}, {len(store.issuers)} issuers"
    if held_list is None:
        outcome = Outcome.NEW
    elif fetched.body is None:
        outcome, detail = Outcome.UNCHANGED, f"{detail}; 304 not modified"
    elif held_list.digest == store.trust_list.digest:
        outcome = Outcome.UNCHANGED
    else:
        outcome = Outcome.CHANGED
    return SyncRow(_TRUST_LIST, source, outcome, detail)


def _take_status_list(
    store: TrustStore,
    held: TrustStore | None,
    etags: EtagCache,
    source: str,
    token: str,
    fetched: Fetched,
    now: int,
) -> SyncRow:
    """Check a status list named among the sources and hold it; any failure refuses the sync."""
    claims = decode_compact(
        token, expected_typ=STATUS_LIST_TYP, max_length=MAX_STATUS_LIST_TOKEN_LENGTH
    ).unverified_claims()
    status_uri = claims.get("sub")
    if not isinstance(status_uri, str):
        raise SyncError(f"{source}: status list has no `sub`")
    if is_http_url(source) and status_uri != source:
        raise SyncError(f"{source}: status list says it lives at {status_uri}")
    store.add_status_list(status_uri, token, now)
    _remember(etags, status_uri, fetched)
    return _status_list_row(status_uri, store, held, fetched)


def _remember(etags: EtagCache, uri: str, fetched: Fetched) -> None:
    if fetched.etag:
        etags.status_lists[uri] = fetched.etag
    else:
        etags.status_lists.pop(uri, None)


def _status_list_row(
    uri: str, store: TrustStore, held: TrustStore | None, fetched: Fetched
) -> SyncRow:
    now_held = store.status_list(uri)
    previous = held.status_list(uri) if held is not None else None
    assert now_held is not None  # noqa: S101 - just added
    detail = f"signed by {now_held.issuer_id}"
    if previous is None:
        outcome = Outcome.NEW
    elif fetched.body is None:
        outcome, detail = Outcome.UNCHANGED, f"{detail}; 304 not modified"
    elif previous.token == now_held.token:
        outcome = Outcome.UNCHANGED
    else:
        outcome = Outcome.CHANGED
    return SyncRow(_STATUS_LIST, uri, outcome, detail)


def _discover(
    client: httpx.Client, store: TrustStore, held: TrustStore | None, etags: EtagCache, now: int
) -> list[SyncRow]:
    """Each issuer's metadata, its aggregation, and every status list it names."""
    rows: list[SyncRow] = []
    for issuer_id in sorted(store.issuers):
        try:
            metadata_url = credential_issuer_metadata_url(issuer_id)
            metadata = fetch(client, metadata_url, max_bytes=MAX_DOCUMENT_BYTES).body
            assert metadata is not None  # noqa: S101 - no ETag sent
            endpoint = aggregation_endpoint(json_document(metadata, metadata_url), issuer_id)
            aggregation = fetch(client, endpoint, max_bytes=MAX_DOCUMENT_BYTES).body
            assert aggregation is not None  # noqa: S101 - no ETag sent
            uris = status_list_uris(json_document(aggregation, endpoint), endpoint)
        except (SyncError, AggregationError) as exc:
            rows.append(SyncRow(_ISSUER, issuer_id, Outcome.FAILED, exc.detail))
            continue
        for uri in uris:
            rows.append(_discovered_status_list(client, store, held, etags, issuer_id, uri, now))
    return rows


def _discovered_status_list(
    client: httpx.Client,
    store: TrustStore,
    held: TrustStore | None,
    etags: EtagCache,
    issuer_id: str,
    uri: str,
    now: int,
) -> SyncRow:
    """Fetch, check and hold one list an issuer's aggregation names; a failure is a row.

    Token Status List draft 20: a relying party that meets an invalid list in an aggregation
    SHOULD go on with the others.
    """
    held_token, etag = _held_copy(uri, held, None, etags)
    try:
        fetched = fetch(client, uri, max_bytes=MAX_SOURCE_BYTES, etag=etag)
        token = held_token if fetched.body is None else compact_text(fetched.body, uri)
        assert token is not None  # noqa: S101 - an ETag is sent only for a held copy
        if _typ(token, uri) != STATUS_LIST_TYP:
            raise SyncError(f"{uri}: not a status list")
        # Listed by this issuer, so signed by this issuer: checked against its keys alone.
        entry = store.issuers[issuer_id]
        own = TrustStore()
        own.add_issuer(issuer_id, entry.jwks, entry.credential_types)
        own.add_status_list(uri, token, now)
        store.add_status_list(uri, token, now)
    except (SyncError, VerificationError, KeyManagementError) as exc:
        code = getattr(exc, "code", "error")
        detail = f"{code}: {getattr(exc, 'detail', exc)}"
        return SyncRow(_STATUS_LIST, uri, Outcome.FAILED, detail)
    _remember(etags, uri, fetched)
    return _status_list_row(uri, store, held, fetched)


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
    claims = decode_compact(
        token, expected_typ=TRUST_LIST_TYP, max_length=MAX_TRUST_LIST_LENGTH
    ).unverified_claims()
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
