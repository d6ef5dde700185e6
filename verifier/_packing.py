"""The machinery both QR envelopes share: presentations ("JG1:", ``envelope``) and counter
requests ("JR1:", ``request_envelope``). docs/qr-envelope.md specifies it; nothing here is
a format of its own.

- unsigned LEB128 varints in their shortest form, read through a bounded ``Reader``;
- raw DEFLATE (RFC 1951) with a preset dictionary, inflated to a bound;
- runs of 43 or 22 base64url characters between quotes packed to a pool of raw bytes, each
  replaced by a marker byte that never occurs in UTF-8, and unpacked again;
- the parts of a compact JWS (RFC 7515 §7.1) taken back to their bytes, and rebuilt.
"""

from __future__ import annotations

import functools
import re
import struct
import zlib
from binascii import b2a_base64
from typing import NamedTuple

from keys.encoding import b64url_decode, b64url_encode
from keys.errors import MalformedError
from verifier.errors import ErrorCode, VerificationError

JWS_SEPARATOR = "."  # RFC 7515 §7.1

# Bytes that never occur in UTF-8 (RFC 3629 §1), so they cannot collide with JSON text.
RUN_32 = 0xFF  # stands for 43 base64url characters: a SHA-256 digest, a P-256 coordinate
RUN_16 = 0xFE  # stands for 22 base64url characters: a 128-bit salt or nonce
_RUN_32_BYTE, _RUN_16_BYTE = bytes([RUN_32]), bytes([RUN_16])
_NOT_MARKERS = bytes(byte for byte in range(256) if byte not in (RUN_32, RUN_16))
_MARKER = re.compile(rb"[\xfe\xff]")
_TO_BASE64URL = bytes.maketrans(b"+/", b"-_")
_PACKABLE_RUN = re.compile(rb'(?<=")(?:[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{22})(?=")')
_VARINT_MAX_BYTES = 3  # 2**21 - 1, far above any limit of either envelope

# RFC 1951 raw DEFLATE: no zlib header or checksum to spend QR modules on; the signatures inside
# already protect the content, and QR's Reed-Solomon code the transport.
_WBITS = -15
_LEVEL = 9
_MEM_LEVEL = 9

Jws = tuple[bytes, bytes, bytes]


class Reader:
    """A cursor over bytes whose every read is checked against the end."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self._position = 0
        self._name = name

    def take(self, size: int) -> bytes:
        end = self._position + size
        if end > len(self._data):
            raise VerificationError(ErrorCode.MALFORMED, f"{self._name} ends early")
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def rest(self) -> bytes:
        return self.take(len(self._data) - self._position)

    def varint(self) -> int:
        """Unsigned LEB128 in its shortest form, so that each number has one spelling."""
        data, position = self._data, self._position
        if position < len(data) and data[position] < 0x80:  # most lengths fit in one byte
            self._position = position + 1
            return data[position]
        value = 0
        for index in range(_VARINT_MAX_BYTES):
            if position >= len(data):
                raise VerificationError(ErrorCode.MALFORMED, f"{self._name} ends early")
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                if byte == 0 and index > 0:
                    raise VerificationError(ErrorCode.MALFORMED, "varint not in shortest form")
                self._position = position
                return value
        raise VerificationError(ErrorCode.MALFORMED, f"varint longer than {_VARINT_MAX_BYTES}")


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def deflate(data: bytes, dictionary: bytes) -> bytes:
    deflater = zlib.compressobj(
        _LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, zdict=dictionary
    )
    return deflater.compress(data) + deflater.flush()


def inflate(data: bytes, limit: int, dictionary: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=_WBITS, zdict=dictionary)
    try:
        # Never more than limit + 1 bytes of output, whatever the input claims.
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:  # RFC 1951 §3.2: invalid block type, code or distance
        raise VerificationError(ErrorCode.MALFORMED, f"invalid DEFLATE data: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise VerificationError(ErrorCode.TOO_LARGE, "decompresses beyond the limit")
    if not inflater.eof:  # RFC 1951 §3.2.3: the stream ends only after a block with BFINAL set
        raise VerificationError(ErrorCode.MALFORMED, "truncated compressed data")
    if inflater.unused_data:
        raise VerificationError(ErrorCode.MALFORMED, "trailing bytes after the compressed stream")
    return out


def has_marker(part: bytes) -> bool:
    """Whether ``part`` holds a marker byte: it is not UTF-8, and must travel unpacked."""
    return _MARKER.search(part) is not None


def unpack(part: bytes, pool: Reader) -> bytes:
    """Replace each marker in ``part`` by its run from the pool, spelled as base64url again.

    A token has dozens of runs (every digest, salt and key coordinate). Each step below is one
    C-level call for the whole part, whatever the number of runs in it.
    """
    markers = part.translate(None, _NOT_MARKERS)  # the part's markers, in order
    if not markers:
        return part
    # The pool's size bounds the markers a part can have, before any format is built.
    raw = pool.take(32 * markers.count(_RUN_32_BYTE) + 16 * markers.count(_RUN_16_BYTE))
    layout = run_layout(markers)
    runs = struct.unpack(layout.raw, raw)
    # Padded with zero bytes to whole base64 groups (32 -> 33, 16 -> 18 bytes), the runs
    # encode as one text of 44- and 24-character blocks; the first 43 and 22 characters of
    # each are the run's unpadded base64url (the zero bits are base64's spare bits).
    text = b2a_base64(struct.pack(layout.padded, *runs), newline=False).translate(_TO_BASE64URL)
    template = part.replace(b"%", b"%%").replace(_RUN_32_BYTE, b"%.43s")
    return template.replace(_RUN_16_BYTE, b"%.22s") % struct.unpack(layout.blocks, text)


class RunLayout(NamedTuple):
    """``struct`` formats for a sequence of markers: the runs as raw bytes, the same padded
    to whole base64 groups, and their base64 blocks."""

    raw: bytes
    padded: bytes
    blocks: bytes


@functools.lru_cache(maxsize=256)  # tokens of one issuer share their shape
def run_layout(markers: bytes) -> RunLayout:
    def spell(run_32: bytes, run_16: bytes) -> bytes:
        return markers.replace(_RUN_32_BYTE, run_32).replace(_RUN_16_BYTE, run_16)

    return RunLayout(spell(b"32s", b"16s"), spell(b"32sx", b"16s2x"), spell(b"44s", b"24s"))


def pack(part: bytes, pool: bytearray) -> bytes:
    """``part`` with each quoted canonical 43- or 22-character base64url run moved to ``pool``
    and replaced by its marker."""

    def replace(run: re.Match[bytes]) -> bytes:
        try:
            raw = b64url_decode(run.group().decode("ascii"))
        except MalformedError:
            return run.group()  # a spelling with non-zero spare bits stays literal text
        pool.extend(raw)
        return bytes([RUN_32 if len(raw) == 32 else RUN_16])

    return _PACKABLE_RUN.sub(replace, part)


def split_jws(token: str, name: str) -> Jws:
    parts = token.split(JWS_SEPARATOR)
    if len(parts) != 3:
        raise VerificationError(ErrorCode.MALFORMED, f"{name} is not a compact JWS")
    header, payload, signature = (decode_part(part, name) for part in parts)
    return header, payload, signature


def decode_part(text: str, name: str) -> bytes:
    if not text:
        raise VerificationError(ErrorCode.MALFORMED, f"empty part in {name}")
    try:
        return b64url_decode(text)
    except MalformedError as exc:
        raise VerificationError(ErrorCode.MALFORMED, f"{name}: {exc.detail}") from None


def join_jws(parts: Jws) -> str:
    return JWS_SEPARATOR.join(encode_part(part) for part in parts)


def encode_part(part: bytes) -> str:
    if not part:
        raise VerificationError(ErrorCode.MALFORMED, "empty part in the binary structure")
    return b64url_encode(part)
