"""Status lists at national scale: what a counter pays to load one, in time and memory.

A list is built as an issuer would (random indices revoked), signed, saved into a trust store
directory as ``jigap verify sync`` does, and read back with ``TrustStore.load``: the anchor and
trust list checked, the status list's signature checked and its ``lst`` decompressed. Memory
is the peak of Python allocations during the load (``tracemalloc``: the token text, the
decompressed list, the parse), measured in a run of its own because tracing slows the code.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from bench.report import Report
from bench.scenario import ISSUER_ID, NOW, STATUS_URI
from keys.encoding import json_dumps
from keys.jwk import Jwks, SigningKey
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from verifier import TrustStore
from verifier.status_list import StatusList, StatusValue, build_status_list_token
from verifier.trust_store import ANCHOR_FILE, TRUST_LIST_FILE

# (entries, share revoked): the issue's two sizes; bits are 2 (valid, invalid, suspended).
FULL_SIZES = ((2**20, 0.04), (2**24, 0.01))
QUICK_SIZES = ((2**20, 0.04),)
_LOOKUPS = 100_000
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StatusListLoad:
    entries: int
    revoked_share: float
    token_chars: int
    sign_seconds: float  # the issuer's side, for information
    load_ms: float  # median of the repeats
    peak_mib: float
    held_mib: float  # the decompressed list kept in memory
    lookup_ns: float


def _store_directory(root: Path, entries: int, revoked_share: float) -> tuple[int, float]:
    """Write a synced store holding one list; return its token length and signing time."""
    rng = random.Random(entries)
    issuer_key, anchor = SigningKey.generate(), SigningKey.generate()
    status_list = StatusList(entries, 2)
    for index in rng.sample(range(entries), int(entries * revoked_share)):
        status_list.set(index, StatusValue.INVALID)
    started = time.perf_counter()
    token = build_status_list_token(status_list, STATUS_URI, issuer_key, now=NOW - 600, ttl=3600)
    sign_seconds = time.perf_counter() - started
    issuer = TrustedIssuer(
        ISSUER_ID,
        {"ko": "발급기관", "en": "Issuer"},
        Jwks.of(issuer_key.public_key),
        frozenset({"urn:jigap:resident-register-extract:1"}),
        NOW - 86400,
        NOW + 86400,
    )
    trust_list = TrustList(
        "https://trust.example.kr", 1, NOW - 60, NOW + 86400, {ISSUER_ID: issuer}
    )
    trust_token = sign_trust_list(trust_list, anchor)
    (root / ANCHOR_FILE).write_bytes(json_dumps(anchor.public_key.to_jwk()))
    (root / TRUST_LIST_FILE).write_text(trust_token)
    store = TrustStore.from_trust_list(trust_token, anchor.public_key, now=NOW)
    store.add_status_list(STATUS_URI, token, fetched_at=NOW - 60, now=NOW)
    store.save_status_lists(root)
    return len(token), sign_seconds


def _measure_one(entries: int, revoked_share: float, repeats: int) -> StatusListLoad:
    with tempfile.TemporaryDirectory(prefix="jigap-bench-") as name:
        root = Path(name)
        token_chars, sign_seconds = _store_directory(root, entries, revoked_share)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            store = TrustStore.load(root, now=NOW)
            times.append(time.perf_counter() - started)
        tracemalloc.start()
        store = TrustStore.load(root, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    held = store.status_list(STATUS_URI)
    assert held is not None
    snapshot = held.snapshot
    indices = random.Random(1).sample(range(entries), _LOOKUPS)
    started = time.perf_counter_ns()
    for index in indices:
        snapshot.status_at(index)
    lookup_ns = (time.perf_counter_ns() - started) / _LOOKUPS
    return StatusListLoad(
        entries,
        revoked_share,
        token_chars,
        sign_seconds,
        statistics.median(times) * 1000,
        peak / _MIB,
        len(snapshot.statuses) / _MIB,
        lookup_ns,
    )


def measure_loads(*, quick: bool, repeats: int) -> list[StatusListLoad]:
    sizes = QUICK_SIZES if quick else FULL_SIZES
    return [_measure_one(entries, share, repeats) for entries, share in sizes]


def load_report(loads: list[StatusListLoad]) -> Report:
    rows = [
        (
            f"2^{load.entries.bit_length() - 1} x 2 bits, {load.revoked_share:.0%} revoked",
            f"{load.token_chars:,}",
            f"{load.load_ms:,.0f}",
            f"{load.peak_mib:.1f}",
            f"{load.held_mib:.1f}",
            f"{load.lookup_ns:,.0f}",
            f"{load.sign_seconds:.2f}",
        )
        for load in loads
    ]
    return Report(
        "Status lists at national scale: TrustStore.load of a synced store holding one list",
        (
            "list",
            "token (chars)",
            "load (ms, median)",
            "peak memory during load (MiB)",
            "held (MiB)",
            "status_at (ns)",
            "issuer signs it (s)",
        ),
        rows,
        notes=[
            "load: the anchor, the trust list and the status list read from disk and checked "
            "(signature, zlib decompression); peak: Python allocations traced during the load",
        ],
    )
