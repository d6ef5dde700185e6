"""IETF Token Status List (draft-ietf-oauth-status-list-20), JWT form, both sides.

The issuer keeps a ``StatusList`` and signs it as a ``statuslist+jwt`` (§5.1); the verifier
reads the token once when it syncs into a frozen ``StatusListSnapshot`` whose ``status_at``
is O(1). Pure code: no I/O, the time is a parameter.

jigap's profile of the draft:

- ``ttl`` is required (the draft RECOMMENDS it): the verifier's staleness check rests on it;
- an expired token (``exp`` <= now, §5.1, §13.7 "MUST NOT be relied upon") is refused with
  ``STATUS_STALE``: the list was genuine, only old, and the remedy is the same as for a list
  held past its ``ttl`` — fetch a fresh one. ``STATUS_LIST_INVALID`` is kept for tokens that
  can never be used (another list's ``sub``, issued in the future, an index out of range);
- the decompressed list is bounded to ``MAX_STATUS_LIST_BYTES`` (2^26 entries at 2 bits), and
  a stream that is truncated or followed by other bytes is refused;
- the key is the caller's choice (from the trust store). ``read_status_list_token`` checks the
  signature with the key given and does not look at ``kid``; ``read_status_list_token_with_jwks``
  uses ``kid`` only to choose among the issuer's keys.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from keys.encoding import b64url_decode, b64url_encode, json_loads_object
from keys.errors import KeyManagementError
from keys.jwk import Jwks, PublicKey, Signer
from keys.jws import KID, TYP, UnverifiedJws, decode_compact, sign_compact, verify_with
from verifier.errors import ErrorCode, VerificationError, from_key_error

__all__ = [
    "ALLOWED_BITS",
    "MAX_STATUS_LIST_BYTES",
    "MAX_STATUS_LIST_TOKEN_LENGTH",
    "STATUS_LIST_CLOCK_SKEW",
    "STATUS_LIST_TYP",
    "StatusList",
    "StatusListSnapshot",
    "StatusValue",
    "build_status_list_token",
    "decode_status_list_token",
    "read_status_list_token",
    "read_status_list_token_with_jwks",
]

STATUS_LIST_TYP = "statuslist+jwt"  # §5.1
SUB, IAT, EXP, NBF, TTL, STATUS_LIST = "sub", "iat", "exp", "nbf", "ttl", "status_list"
BITS, LST, AGGREGATION_URI = "bits", "lst", "aggregation_uri"  # §4.2
ALLOWED_BITS = frozenset({1, 2, 4, 8})  # §4.1 step 1
ZLIB_LEVEL = 9  # §4.1 step 4: the highest compression level is RECOMMENDED
# The documented decompression limit: 2^26 entries at 2 bits. Every other size limit on a
# status list (the token here, the trust store's file, `jigap verify sync`'s download) is
# derived from it, so that any list the reader accepts also passes every door before it.
MAX_STATUS_LIST_BYTES = 16 * 1024 * 1024
# Room for everything in a token but `lst`: the other claims (`sub` is a URL), the header and
# the signature. Far above what jigap's issuer writes (under 300 characters).
_CLAIMS_ALLOWANCE = 4 * 1024


def _zlib_bound(size: int) -> int:
    # zlib's compressBound(): the most DEFLATE in the ZLIB format can take for ``size`` bytes
    # (stored blocks), so even an incompressible list at the limit fits.
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 13


def _b64url_length(size: int) -> int:
    return -(-4 * size // 3)  # unpadded


# `lst` is base64url inside the JSON payload, which is base64url again in the compact JWS.
MAX_STATUS_LIST_TOKEN_LENGTH = (
    _b64url_length(_b64url_length(_zlib_bound(MAX_STATUS_LIST_BYTES)) + _CLAIMS_ALLOWANCE)
    + _CLAIMS_ALLOWANCE
)
STATUS_LIST_CLOCK_SKEW = 300


class StatusValue(IntEnum):
    """Status Types registered by §7.1. 0x03 and 0x0C-0x0F are application specific, the rest
    reserved: ``status_at`` returns them as plain integers for the caller to refuse."""

    VALID = 0x00
    INVALID = 0x01
    SUSPENDED = 0x02


def _status_at(data: bytes | bytearray, bits: int, index: int) -> int:
    # §4.1 step 3: entries fill each byte from the least significant bit up; bytes in order.
    position = index * bits
    return (data[position >> 3] >> (position & 7)) & ((1 << bits) - 1)


class StatusList:
    """The issuer's mutable list; every entry starts VALID (§13.3: the common value)."""

    __slots__ = ("_bits", "_data", "_size")

    def __init__(self, size: int, bits: int = 2) -> None:
        if bits not in ALLOWED_BITS:
            raise ValueError(f"bits must be one of {sorted(ALLOWED_BITS)}")
        if not 0 < size <= MAX_STATUS_LIST_BYTES * 8 // bits:
            raise ValueError("size must be positive and fit MAX_STATUS_LIST_BYTES")
        self._bits = bits
        self._size = size
        self._data = bytearray(-(-size * bits // 8))

    @classmethod
    def from_bytes(cls, data: bytes, bits: int = 2) -> StatusList:
        """Rebuild a list from ``to_bytes``; its size is every entry the bytes hold."""
        status_list = cls(len(data) * 8 // bits, bits)
        status_list._data[:] = data
        return status_list

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def size(self) -> int:
        return self._size

    def set(self, index: int, status: int) -> None:
        self._check_index(index)
        if not 0 <= status < 1 << self._bits:
            raise ValueError(f"status {status} does not fit in {self._bits} bits")
        position = index * self._bits
        shift = position & 7
        mask = ((1 << self._bits) - 1) << shift
        byte = self._data[position >> 3]
        self._data[position >> 3] = (byte & ~mask & 0xFF) | (status << shift)

    def get(self, index: int) -> int:
        self._check_index(index)
        return _status_at(self._data, self._bits, index)

    def to_bytes(self) -> bytes:
        return bytes(self._data)

    def encode(self) -> dict[str, Any]:
        """The JSON Status List of §4.2: ``bits`` and the ZLIB-compressed ``lst`` (§4.1)."""
        compressed = zlib.compress(bytes(self._data), ZLIB_LEVEL)
        return {BITS: self._bits, LST: b64url_encode(compressed)}

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self._size:
            raise IndexError(f"index {index} outside a list of {self._size}")


def build_status_list_token(
    status_list: StatusList,
    uri: str,
    key: Signer,
    *,
    now: int,
    ttl: int,
    exp: int | None = None,
) -> str:
    """Sign ``status_list`` as the Status List Token of §5.1, published at ``uri``."""
    if ttl <= 0:
        raise ValueError("ttl must be positive (§5.1)")
    if exp is not None and exp <= now:
        raise ValueError("exp must be after now")
    claims: dict[str, Any] = {SUB: uri, IAT: now}
    if exp is not None:
        claims[EXP] = exp
    claims[TTL] = ttl
    claims[STATUS_LIST] = status_list.encode()
    return sign_compact(claims, key, {TYP: STATUS_LIST_TYP, KID: key.kid})


@dataclass(frozen=True, slots=True)
class StatusListSnapshot:
    """A verified Status List Token, decompressed once."""

    uri: str
    issued_at: int
    ttl: int
    expires_at: int | None
    bits: int
    statuses: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.statuses) * 8 // self.bits

    def status_at(self, index: int) -> int:
        # §8.3 step 6: an index outside the list allows no statement; the token MUST be rejected.
        if type(index) is not int or not 0 <= index < self.size:
            raise VerificationError(
                ErrorCode.STATUS_LIST_INVALID, f"index {index!r} outside a list of {self.size}"
            )
        return _status_at(self.statuses, self.bits, index)


def read_status_list_token(
    token: str, key: PublicKey, *, expected_uri: str, now: int
) -> StatusListSnapshot:
    """Verify ``token`` with ``key`` and read it; raise ``VerificationError`` on any failure."""
    return _read(decode_status_list_token(token), key, expected_uri=expected_uri, now=now)


def read_status_list_token_with_jwks(
    token: str, jwks: Jwks, *, expected_uri: str, now: int
) -> StatusListSnapshot:
    """As ``read_status_list_token``, with the issuer key named by the token's ``kid``."""
    jws = decode_status_list_token(token)
    kid = jws.unverified_header.get(KID)
    key = jwks.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise VerificationError(ErrorCode.UNKNOWN_KEY, f"no issuer key for kid {kid!r}")
    return _read(jws, key, expected_uri=expected_uri, now=now)


def decode_status_list_token(token: str) -> UnverifiedJws:
    """Parse a Status List Token, unverified, within ``MAX_STATUS_LIST_TOKEN_LENGTH``."""
    try:
        return decode_compact(
            token, expected_typ=STATUS_LIST_TYP, max_length=MAX_STATUS_LIST_TOKEN_LENGTH
        )
    except KeyManagementError as exc:
        raise from_key_error(exc) from exc


def _read(jws: UnverifiedJws, key: PublicKey, *, expected_uri: str, now: int) -> StatusListSnapshot:
    try:
        claims = json_loads_object(verify_with(jws, key))  # §5.1 rule 2
    except KeyManagementError as exc:
        raise from_key_error(exc) from exc
    sub = claims.get(SUB)
    if not isinstance(sub, str):
        raise _malformed("sub is missing or not a string")
    if sub != expected_uri:
        # §8.3 step 4a: the subject MUST equal the uri the credential refers to.
        raise VerificationError(ErrorCode.STATUS_LIST_INVALID, f"sub {sub!r} is another list")
    issued_at, ttl = _integer(claims, IAT), _integer(claims, TTL)
    not_before, expires_at = _optional_integer(claims, NBF), _optional_integer(claims, EXP)
    if ttl == 0:
        raise _malformed("ttl is not positive")  # §5.1
    if max(issued_at, not_before or 0) > now + STATUS_LIST_CLOCK_SKEW:
        raise VerificationError(ErrorCode.STATUS_LIST_INVALID, "issued or valid in the future")
    if expires_at is not None and expires_at <= now:
        # §8.3 step 4c: an expired Status List Token MUST be detected.
        raise VerificationError(ErrorCode.STATUS_STALE, f"status list expired at {expires_at}")
    status_list = claims.get(STATUS_LIST)
    if not isinstance(status_list, dict):
        raise _malformed("status_list is missing or not an object")
    bits, lst = status_list.get(BITS), status_list.get(LST)
    if type(bits) is not int or bits not in ALLOWED_BITS or not isinstance(lst, str):
        raise _malformed("status_list needs bits in {1,2,4,8} and a string lst")
    if not isinstance(status_list.get(AGGREGATION_URI, ""), str):
        raise _malformed("aggregation_uri is not a string")
    try:
        compressed = b64url_decode(lst)
    except KeyManagementError as exc:
        raise from_key_error(exc) from exc
    statuses = _decompress(compressed)
    return StatusListSnapshot(sub, issued_at, ttl, expires_at, bits, statuses)


def _decompress(compressed: bytes) -> bytes:
    # §4.1 step 4 / §8.3 step 5: DEFLATE in the ZLIB format (RFC 1950); zlib checks the header
    # and the Adler-32. One byte past the bound is asked for, to tell "exactly full" from "more".
    inflater = zlib.decompressobj()
    try:
        statuses = inflater.decompress(compressed, MAX_STATUS_LIST_BYTES + 1)
    except zlib.error as exc:
        raise _malformed(f"lst is not ZLIB data: {exc}") from exc
    if len(statuses) > MAX_STATUS_LIST_BYTES:
        raise VerificationError(ErrorCode.TOO_LARGE, f"over {MAX_STATUS_LIST_BYTES} bytes")
    if not inflater.eof:
        raise _malformed("lst is truncated")
    if inflater.unused_data:
        raise _malformed("lst has bytes after the ZLIB stream")
    if not statuses:
        raise _malformed("lst holds no entries")
    return statuses


def _integer(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    # `type() is int`: JSON `true` arrives as a bool, which Python counts as an int.
    if type(value) is not int or value < 0:
        raise _malformed(f"{name} is missing or not a non-negative integer")
    return value


def _optional_integer(claims: dict[str, Any], name: str) -> int | None:
    return _integer(claims, name) if name in claims else None


def _malformed(detail: str) -> VerificationError:
    return VerificationError(ErrorCode.MALFORMED, detail)
