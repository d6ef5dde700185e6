"""The compact envelope: an SD-JWT presentation (RFC 9901 §4) re-packed for a QR code.

    JG1:<base45 of B>                           RFC 9285, the QR alphanumeric character set
    B        = varint(len(pool)) pool deflated  the only bytes on the wire
    deflated = raw DEFLATE (RFC 1951) of S, with the preset dictionary of version 1
    S        = flags varint(n) segment...       every part of the compact form, base64url-decoded

Base64url text is taken back to the bytes it spells, so that signatures, digests, salts and key
coordinates (the pool) travel at 8 bits a byte while the JSON around them compresses against a
dictionary of the strings every jigap token repeats. Because keys.encoding accepts canonical
base64url only, re-encoding gives back the exact string: the envelope is lossless, and the
verifier checks signatures over the very text the wallet signed.

docs/qr-envelope.md specifies the format for other implementers; this module is its reference.
"""

from __future__ import annotations

import functools
import re
import struct
import zlib
from binascii import b2a_base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from keys.encoding import b64url_decode, b64url_encode
from keys.errors import MalformedError
from verifier._base45 import b45decode, b45encode
from verifier.errors import ErrorCode, VerificationError
from verifier.sd_jwt import SdJwt, split_compact

__all__ = [
    "DEFAULT_LIMITS",
    "ENVELOPE_PREFIX",
    "EnvelopeLimits",
    "decode_envelope",
    "encode_envelope",
    "is_envelope",
    "strip_scanner_whitespace",
]

ENVELOPE_PREFIX = "JG1:"
# Any version, so that a newer wallet's QR is answered "unsupported", not "malformed SD-JWT".
_ANY_VERSION_PREFIX = re.compile(r"JG[0-9]{1,3}:")

_JWS_SEPARATOR = "."  # RFC 7515 §7.1
# What a scanner in keyboard mode adds around what it read (a trailing CR, LF or Tab, a
# space): ASCII white space, and only around the text. A space is base45's, but never an
# envelope's first character (the prefix) nor its last (a triplet ends in 0-V, a pair in 0-5),
# so stripping changes no envelope. Inside, the rest is refused: no alphabet here holds it.
SCANNER_WHITESPACE = " \t\n\r\f\v"

_FLAG_KEY_BINDING = 0x01
_FLAG_PACKED = 0x02
# Bytes that never occur in UTF-8 (RFC 3629 §1), so they cannot collide with JSON text.
_RUN_32 = 0xFF  # stands for 43 base64url characters: a SHA-256 digest, a P-256 coordinate
_RUN_16 = 0xFE  # stands for 22 base64url characters: a 128-bit salt or nonce
_RUN_32_BYTE, _RUN_16_BYTE = bytes([_RUN_32]), bytes([_RUN_16])
_NOT_MARKERS = bytes(byte for byte in range(256) if byte not in (_RUN_32, _RUN_16))
_MARKER = re.compile(rb"[\xfe\xff]")
_TO_BASE64URL = bytes.maketrans(b"+/", b"-_")
_PACKABLE_RUN = re.compile(rb'(?<=")(?:[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{22})(?=")')
_VARINT_MAX_BYTES = 3  # 2**21 - 1, far above any limit below

# RFC 1951 raw DEFLATE: no zlib header or checksum to spend QR modules on; the signatures inside
# already protect the content, and QR's Reed-Solomon code the transport.
_WBITS = -15
_LEVEL = 9
_MEM_LEVEL = 9


def _dictionary() -> bytes:
    m32, m16 = bytes([_RUN_32]), bytes([_RUN_16])
    return b"".join(
        (
            # Rarer shapes first: deflate codes near matches in fewer bits (RFC 1951 §3.2.5).
            b'{"alg":"EdDSA","typ":"dc+sd-jwt","kid":"' + m32 + b'"}',
            b'"cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","x":"' + m32 + b'"}}',
            b'{"typ":"kb+jwt","alg":"EdDSA"}',
            # Korean addresses: the 17 first-level divisions, then the words of the levels below.
            "서울특별시 부산광역시 대구광역시 인천광역시 광주광역시 대전광역시 울산광역시 "
            "세종특별자치시 경기도 강원특별자치도 충청북도 충청남도 전북특별자치도 전라남도 "
            "경상북도 경상남도 제주특별자치도 구 군 읍 면 동 리 대로 번길 로 길 아파트 ".encode(),
            b'"given_name","family_name","nationality","issuing_authority","issuance_date",',
            b'"expiry_date","resident_registration_number","address_history","household_head",',
            b'"relationship_to_head","issue_office","document_number","sex",',
            b'"age_over_14","age_over_18","age_over_19","age_over_65",true]false]',
            b'"birth_date","address","name","',
            # The issuer-signed JWT payload (SD-JWT VC, Token Status List, RFC 7800 cnf).
            b'{"iss":"https://',
            b'.jigap.go.kr","iat":',
            b',"exp":',
            b',"vct":"urn:jigap:resident-register-extract:1"',
            b',"status":{"status_list":{"idx":',
            b',"uri":"https://',
            b".jigap.go.kr/status/",
            b',"cnf":{"jwk":{"kty":"EC","crv":"P-256","x":"' + m32 + b'","y":"' + m32 + b'"}},',
            b'"_sd_alg":"sha-256","_sd":["' + (m32 + b'","') * 4 + m32 + b'"]}',
            # The KB-JWT, then the issuer header: in every presentation.
            b'{"typ":"kb+jwt","alg":"ES256"}',
            b'{"iat":',
            b',"aud":"https://',
            b'","nonce":"' + m16 + b'","sd_hash":"' + m32 + b'"}',
            b'["' + m16 + b'","',
            b'{"alg":"ES256","typ":"dc+sd-jwt","kid":"' + m32 + b'"}',
        )
    )


# Part of version 1 of the format: changing one byte needs a new ENVELOPE_PREFIX.
_DICTIONARY = _dictionary()


@dataclass(frozen=True, slots=True)
class EnvelopeLimits:
    """Bounds a decoder applies before and during its work, so no QR can exhaust a counter."""

    max_text_length: int = 4296  # QR version 40, alphanumeric mode, error correction L
    max_decompressed_bytes: int = 16 * 1024
    max_disclosures: int = 64

    def __post_init__(self) -> None:
        for name in ("max_text_length", "max_decompressed_bytes", "max_disclosures"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")


DEFAULT_LIMITS = EnvelopeLimits()

_Jws = tuple[bytes, bytes, bytes]


def strip_scanner_whitespace(text: str) -> str:
    """``text`` without the ASCII white space a scanner may add before or after it."""
    return text.strip(SCANNER_WHITESPACE)


def is_envelope(text: str) -> bool:
    """Whether ``text`` claims to be an envelope (of any version) rather than a plain SD-JWT.

    A compact SD-JWT starts with base64url, which has no ``:``, so the two never overlap.
    """
    return _ANY_VERSION_PREFIX.match(text) is not None


def encode_envelope(sd_jwt: str) -> str:
    """Re-pack a compact SD-JWT presentation as envelope text for a QR code.

    Raises ``VerificationError``: MALFORMED if ``sd_jwt`` is not a well-formed compact SD-JWT
    with canonical base64url; TOO_LARGE if a verifier with ``DEFAULT_LIMITS`` would refuse it.
    """
    issuer, disclosures, key_binding = _split(sd_jwt)
    text_parts = [*issuer[:2], *disclosures, *(key_binding or ())[:2]]
    # A part that is not UTF-8 may hold a marker byte; such a token is sent unpacked.
    can_pack = not any(_MARKER.search(part) for part in text_parts)
    packings = (True, False) if can_pack else (False,)
    candidates = [_build(issuer, disclosures, key_binding, packed=p) for p in packings]
    for text in sorted(candidates, key=len):
        # Proof, not faith: the envelope must decode, within the limits, to the same text.
        if decode_envelope(text) == sd_jwt:
            return text
    raise RuntimeError("envelope round trip failed")  # pragma: no cover - a bug, not bad input


def decode_envelope(text: str, limits: EnvelopeLimits = DEFAULT_LIMITS) -> str:
    """Unpack envelope text to the exact compact SD-JWT that was encoded.

    Nothing here verifies the SD-JWT: the result is unverified input for the verifier. Every
    failure raises ``VerificationError`` (MALFORMED, TOO_LARGE or UNSUPPORTED_FORMAT). White
    space around ``text`` is removed first, as ``Verifier.verify`` does.
    """
    text = strip_scanner_whitespace(text)
    if len(text) > limits.max_text_length:
        raise VerificationError(
            ErrorCode.TOO_LARGE, f"envelope of {len(text)} characters, over the length limit"
        )
    if not text.startswith(ENVELOPE_PREFIX):
        detail = "unknown envelope version" if is_envelope(text) else "not a jigap envelope"
        raise VerificationError(ErrorCode.UNSUPPORTED_FORMAT, detail)
    outer = _Reader(b45decode(text[len(ENVELOPE_PREFIX) :]), "envelope")
    pool = _Reader(outer.take(outer.varint()), "raw byte pool")
    structure = _Reader(_inflate(outer.rest(), limits.max_decompressed_bytes), "binary structure")

    flags = structure.take(1)[0]
    if flags & ~(_FLAG_KEY_BINDING | _FLAG_PACKED):
        raise VerificationError(ErrorCode.MALFORMED, "reserved flag bits set")
    count = structure.varint()
    if count > limits.max_disclosures:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{count} disclosures, over the limit")

    unpack: Callable[[bytes], bytes] = (
        (lambda part: _unpack(part, pool)) if flags & _FLAG_PACKED else (lambda part: part)
    )

    def jws() -> _Jws:
        header = unpack(structure.take(structure.varint()))
        payload = unpack(structure.take(structure.varint()))
        return header, payload, pool.take(structure.varint())

    issuer = jws()
    disclosures = [unpack(structure.take(structure.varint())) for _ in range(count)]
    key_binding = jws() if flags & _FLAG_KEY_BINDING else None
    if structure.rest():
        raise VerificationError(ErrorCode.MALFORMED, "trailing bytes after the binary structure")
    if pool.rest():
        raise VerificationError(ErrorCode.MALFORMED, "raw byte pool not fully used")
    return _join(issuer, disclosures, key_binding)


class _Reader:
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


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _inflate(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=_WBITS, zdict=_DICTIONARY)
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


def _unpack(part: bytes, pool: _Reader) -> bytes:
    """Replace each marker in ``part`` by its run from the pool, spelled as base64url again.

    A token has dozens of runs (every digest, salt and key coordinate). Each step below is one
    C-level call for the whole part, whatever the number of runs in it.
    """
    markers = part.translate(None, _NOT_MARKERS)  # the part's markers, in order
    if not markers:
        return part
    # The pool's size bounds the markers a part can have, before any format is built.
    raw = pool.take(32 * markers.count(_RUN_32_BYTE) + 16 * markers.count(_RUN_16_BYTE))
    layout = _run_layout(markers)
    runs = struct.unpack(layout.raw, raw)
    # Padded with zero bytes to whole base64 groups (32 -> 33, 16 -> 18 bytes), the runs
    # encode as one text of 44- and 24-character blocks; the first 43 and 22 characters of
    # each are the run's unpadded base64url (the zero bits are base64's spare bits).
    text = b2a_base64(struct.pack(layout.padded, *runs), newline=False).translate(_TO_BASE64URL)
    template = part.replace(b"%", b"%%").replace(_RUN_32_BYTE, b"%.43s")
    return template.replace(_RUN_16_BYTE, b"%.22s") % struct.unpack(layout.blocks, text)


class _RunLayout(NamedTuple):
    """``struct`` formats for a sequence of markers: the runs as raw bytes, the same padded
    to whole base64 groups, and their base64 blocks."""

    raw: bytes
    padded: bytes
    blocks: bytes


@functools.lru_cache(maxsize=256)  # tokens of one issuer share their shape
def _run_layout(markers: bytes) -> _RunLayout:
    def spell(run_32: bytes, run_16: bytes) -> bytes:
        return markers.replace(_RUN_32_BYTE, run_32).replace(_RUN_16_BYTE, run_16)

    return _RunLayout(spell(b"32s", b"16s"), spell(b"32sx", b"16s2x"), spell(b"44s", b"24s"))


def _pack(part: bytes, pool: bytearray) -> bytes:
    def replace(run: re.Match[bytes]) -> bytes:
        try:
            raw = b64url_decode(run.group().decode("ascii"))
        except MalformedError:
            return run.group()  # a spelling with non-zero spare bits stays literal text
        pool.extend(raw)
        return bytes([_RUN_32 if len(raw) == 32 else _RUN_16])

    return _PACKABLE_RUN.sub(replace, part)


def _build(
    issuer: _Jws, disclosures: list[bytes], key_binding: _Jws | None, *, packed: bool
) -> str:
    pool = bytearray()
    flags = (_FLAG_KEY_BINDING if key_binding else 0) | (_FLAG_PACKED if packed else 0)
    structure = bytearray([flags]) + _varint(len(disclosures))

    def text(part: bytes) -> None:
        body = _pack(part, pool) if packed else part
        structure.extend(_varint(len(body)) + body)

    def jws(parts: _Jws) -> None:
        text(parts[0])
        text(parts[1])
        pool.extend(parts[2])  # a signature is all raw bytes: only its length stays behind
        structure.extend(_varint(len(parts[2])))

    jws(issuer)
    for disclosure in disclosures:
        text(disclosure)
    if key_binding:
        jws(key_binding)
    deflater = zlib.compressobj(
        _LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, zdict=_DICTIONARY
    )
    deflated = deflater.compress(bytes(structure)) + deflater.flush()
    return ENVELOPE_PREFIX + b45encode(_varint(len(pool)) + bytes(pool) + deflated)


def _split(sd_jwt: str) -> tuple[_Jws, list[bytes], _Jws | None]:
    presentation = split_compact(sd_jwt, max_disclosures=DEFAULT_LIMITS.max_disclosures)
    issuer = _split_jws(presentation.issuer_jwt, "issuer-signed JWT")
    disclosures = [_decode_part(d, "disclosure") for d in presentation.disclosures]
    kb_jwt = presentation.kb_jwt
    return issuer, disclosures, _split_jws(kb_jwt, "KB-JWT") if kb_jwt else None


def _split_jws(token: str, name: str) -> _Jws:
    parts = token.split(_JWS_SEPARATOR)
    if len(parts) != 3:
        raise VerificationError(ErrorCode.MALFORMED, f"{name} is not a compact JWS")
    header, payload, signature = (_decode_part(part, name) for part in parts)
    return header, payload, signature


def _decode_part(text: str, name: str) -> bytes:
    if not text:
        raise VerificationError(ErrorCode.MALFORMED, f"empty part in {name}")
    try:
        return b64url_decode(text)
    except MalformedError as exc:
        raise VerificationError(ErrorCode.MALFORMED, f"{name}: {exc.detail}") from None


def _join(issuer: _Jws, disclosures: list[bytes], key_binding: _Jws | None) -> str:
    def encode(part: bytes) -> str:
        if not part:
            raise VerificationError(ErrorCode.MALFORMED, "empty part in the binary structure")
        return b64url_encode(part)

    def jws(parts: _Jws) -> str:
        return _JWS_SEPARATOR.join(encode(part) for part in parts)

    kb_jwt = jws(key_binding) if key_binding else None
    return SdJwt(jws(issuer), tuple(encode(d) for d in disclosures), kb_jwt).serialize()
