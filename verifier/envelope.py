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

import re
from collections.abc import Callable
from dataclasses import dataclass

from verifier._base45 import b45decode, b45encode
from verifier._packing import (
    RUN_16,
    RUN_32,
    Jws,
    Reader,
    decode_part,
    deflate,
    encode_part,
    has_marker,
    inflate,
    join_jws,
    pack,
    run_layout,
    split_jws,
    unpack,
    varint,
)
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

# What a scanner in keyboard mode adds around what it read (a trailing CR, LF or Tab, a
# space): ASCII white space, and only around the text. A space is base45's, but never an
# envelope's first character (the prefix) nor its last (a triplet ends in 0-V, a pair in 0-5),
# so stripping changes no envelope. Inside, the rest is refused: no alphabet here holds it.
SCANNER_WHITESPACE = " \t\n\r\f\v"

_FLAG_KEY_BINDING = 0x01
_FLAG_PACKED = 0x02
# The marker packing (verifier/_packing.py) is shared with the request envelope; the cache of
# its run layouts is named here too, where the presentation tests watch it.
_run_layout = run_layout


def _dictionary() -> bytes:
    m32, m16 = bytes([RUN_32]), bytes([RUN_16])
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
    can_pack = not any(has_marker(part) for part in text_parts)
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
    outer = Reader(b45decode(text[len(ENVELOPE_PREFIX) :]), "envelope")
    pool = Reader(outer.take(outer.varint()), "raw byte pool")
    structure = Reader(
        inflate(outer.rest(), limits.max_decompressed_bytes, _DICTIONARY), "binary structure"
    )

    flags = structure.take(1)[0]
    if flags & ~(_FLAG_KEY_BINDING | _FLAG_PACKED):
        raise VerificationError(ErrorCode.MALFORMED, "reserved flag bits set")
    count = structure.varint()
    if count > limits.max_disclosures:
        raise VerificationError(ErrorCode.TOO_LARGE, f"{count} disclosures, over the limit")

    expand: Callable[[bytes], bytes] = (
        (lambda part: unpack(part, pool)) if flags & _FLAG_PACKED else (lambda part: part)
    )

    def jws() -> Jws:
        header = expand(structure.take(structure.varint()))
        payload = expand(structure.take(structure.varint()))
        return header, payload, pool.take(structure.varint())

    issuer = jws()
    disclosures = [expand(structure.take(structure.varint())) for _ in range(count)]
    key_binding = jws() if flags & _FLAG_KEY_BINDING else None
    if structure.rest():
        raise VerificationError(ErrorCode.MALFORMED, "trailing bytes after the binary structure")
    if pool.rest():
        raise VerificationError(ErrorCode.MALFORMED, "raw byte pool not fully used")
    return _join(issuer, disclosures, key_binding)


def _build(issuer: Jws, disclosures: list[bytes], key_binding: Jws | None, *, packed: bool) -> str:
    pool = bytearray()
    flags = (_FLAG_KEY_BINDING if key_binding else 0) | (_FLAG_PACKED if packed else 0)
    structure = bytearray([flags]) + varint(len(disclosures))

    def text(part: bytes) -> None:
        body = pack(part, pool) if packed else part
        structure.extend(varint(len(body)) + body)

    def jws(parts: Jws) -> None:
        text(parts[0])
        text(parts[1])
        pool.extend(parts[2])  # a signature is all raw bytes: only its length stays behind
        structure.extend(varint(len(parts[2])))

    jws(issuer)
    for disclosure in disclosures:
        text(disclosure)
    if key_binding:
        jws(key_binding)
    deflated = deflate(bytes(structure), _DICTIONARY)
    return ENVELOPE_PREFIX + b45encode(varint(len(pool)) + bytes(pool) + deflated)


def _split(sd_jwt: str) -> tuple[Jws, list[bytes], Jws | None]:
    presentation = split_compact(sd_jwt, max_disclosures=DEFAULT_LIMITS.max_disclosures)
    issuer = split_jws(presentation.issuer_jwt, "issuer-signed JWT")
    disclosures = [decode_part(d, "disclosure") for d in presentation.disclosures]
    kb_jwt = presentation.kb_jwt
    return issuer, disclosures, split_jws(kb_jwt, "KB-JWT") if kb_jwt else None


def _join(issuer: Jws, disclosures: list[bytes], key_binding: Jws | None) -> str:
    kb_jwt = join_jws(key_binding) if key_binding else None
    return SdJwt(join_jws(issuer), tuple(encode_part(d) for d in disclosures), kb_jwt).serialize()
