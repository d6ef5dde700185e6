"""The request envelope: a counter's signed request object re-packed for a QR code.

    JR1:<base45 of B>                           RFC 9285, the QR alphanumeric character set
    B        = varint(len(pool)) pool deflated  the only bytes on the wire
    deflated = raw DEFLATE (RFC 1951) of S, with the request dictionary of version 1
    S        = flags header payload len(sig)    the compact JWS's parts, decoded; sig in the pool

The request is an OpenID4VP 1.0 §5 request object (RFC 9101 JAR, ``typ`` oauth-authz-req+jwt)
in compact JWS form (RFC 7515 §7.1). It travels as the presentation envelope ("JG1:",
``verifier.envelope``) carries an SD-JWT, with the same machinery: quoted base64url runs of 43
and 22 characters (the ``kid`` thumbprint, the nonce) and the signature go to the pool as raw
bytes; the JSON around them deflates against a dictionary of the strings every request repeats.
Re-encoding canonical base64url gives back the exact text, so the wallet checks the signature
over the very bytes the counter signed; nothing in the envelope is trusted.

docs/qr-envelope.md §12 specifies the format for other implementers; this module is its reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keys.jws import MAX_TOKEN_LENGTH
from verifier._base45 import b45decode, b45encode
from verifier._packing import (
    RUN_16,
    RUN_32,
    Jws,
    Reader,
    deflate,
    has_marker,
    inflate,
    join_jws,
    pack,
    split_jws,
    unpack,
    varint,
)
from verifier.envelope import is_envelope, strip_scanner_whitespace
from verifier.errors import ErrorCode, VerificationError

__all__ = [
    "DEFAULT_REQUEST_LIMITS",
    "REQUEST_ENVELOPE_PREFIX",
    "RequestEnvelopeLimits",
    "decode_request_envelope",
    "encode_request_envelope",
    "is_request_envelope",
]

REQUEST_ENVELOPE_PREFIX = "JR1:"
# Any version, so that a newer counter's QR is answered "unsupported", not "malformed JWS".
_ANY_VERSION_PREFIX = re.compile(r"JR[0-9]{1,3}:")

# As in JG1 (docs/qr-envelope.md §5.1), bit 1 marks packed text; bit 0, JG1's KB-JWT, has no
# meaning in a request and is reserved with the rest.
_FLAG_PACKED = 0x02


# Purposes as relying parties register them (keys/relying_party.py), the commonest last; their
# words recombine into other purposes. Part of the dictionary: never edited within version 1.
_PURPOSES_EN = (
    "Proof of address",
    "Loan review: health insurance eligibility",
    "Employment check",
    "Family relation check",
    "Health insurance eligibility check",
    "Identity check for a loan application",
    "Identity check to issue a card",
    "Identity check to take out insurance",
    "Identity check to open a mobile line",
    "Age check: 65 or over",
    "Age check: 19 or over",
    "Identity check to open an account",
)
_PURPOSES_KO = (
    "대출 심사: 건강보험 자격 확인",
    "주소 확인",
    "재직 확인",
    "가족관계 확인",
    "연령 확인",
    "실명 확인",
    "비대면 금융거래",
    "대출 신청",
    "카드 발급",
    "보험 가입",
    "휴대전화 개통",
    "만 65세 이상 확인",
    "만 19세 이상 확인",
    "계좌 개설 본인 확인",
)


def _dictionary() -> bytes:
    m32, m16 = bytes([RUN_32]), bytes([RUN_16])
    header = b'{"typ":"oauth-authz-req+jwt",'
    return b"".join(
        (
            # Rarer strings first: deflate codes near matches in fewer bits (RFC 1951 §3.2.5).
            # Headers both ways round: `sign_compact` puts `alg` last unless given first.
            header + b'"alg":"EdDSA","kid":"' + m32 + b'"}',
            header + b'"kid":"' + m32 + b'","alg":"EdDSA"}',
            # Online requests (OpenID4VP 1.0 §8.2), then the other types of the registry.
            b'"response_mode":"direct_post","response_uri":"https://',
            b'"state":"',
            # The query id sign_request takes when its caller names none.
            b'{"id":"credential","format":"dc+sd-jwt","meta":{"vct_values":["urn:jigap:',
            b'"id":"civil_servant_id","format":"dc+sd-jwt","meta":{"vct_values":'
            b'["urn:jigap:civil-servant-id:1"]},"claims":[{"path":["name"]},{"path":["employee_number"]},'
            b'{"path":["agency"]},{"path":["department"]},{"path":["grade"]},'
            b'{"path":["portrait"]},{"path":["valid_from"]},{"path":["valid_until"]}',
            b'"id":"health_insurance_eligibility","format":"dc+sd-jwt","meta":{"vct_values":'
            b'["urn:jigap:health-insurance-eligibility:1"]},"claims":[{"path":["name"]},'
            b'{"path":["insured_type"]},'
            b'{"path":["workplace"]},{"path":["acquisition_date"]},{"path":["loss_date"]},'
            b'{"path":["insurer"]}',
            # (The fourth type, the family relation certificate, is data only: no code names it,
            # this dictionary included; its requests compress a little less.)
            b'{"path":["resident_registration_number"]},{"path":["sex"]},'
            b'{"path":["address_history",null,"address"]},{"path":["household_head_name"]},'
            b'{"path":["relationship_to_head"]},{"path":["issue_office"]},'
            b'{"path":["document_number"]},{"path":["age_over_65"]},{"path":["age_over_19"]}',
            # Why (our profile's member: OpenID4VP has none), as purposes are registered.
            ", ".join(_PURPOSES_EN).encode(),
            " ".join(_PURPOSES_KO).encode(),
            # The payload, in the order verifier.openid4vp.sign_request writes it (after
            # `client_id`, the usual ends of an identifier), then the header: in every request.
            b'{"client_id":"',
            b'.or.kr",.go.kr",.co.kr",.com",.example","response_type":"vp_token",'
            b'"response_mode":"jigap_qr","aud":"https://self-issued.me/v2","nonce":"' + m16,
            b'","iat":',
            b',"exp":',
            b',"purpose":{"ko":"',
            b'","en":"',
            b'"},"dcql_query":{"credentials":[{"id":"resident_register_extract",'
            b'"format":"dc+sd-jwt","meta":{"vct_values":["urn:jigap:resident-register-extract:1"]},'
            b'"claims":[{"path":["name"]},{"path":["birth_date"]},{"path":["address"]}]}]}}',
            header + b'"kid":"' + m32 + b'","alg":"ES256"}',
            header + b'"alg":"ES256","kid":"' + m32 + b'"}',
        )
    )


# Part of version 1 of the format: changing one byte needs a new REQUEST_ENVELOPE_PREFIX.
_DICTIONARY = _dictionary()


@dataclass(frozen=True, slots=True)
class RequestEnvelopeLimits:
    """Bounds a decoder applies before and during its work, so no QR can exhaust a phone."""

    max_text_length: int = 4296  # QR version 40, alphanumeric mode, error correction L
    max_decompressed_bytes: int = 16 * 1024

    def __post_init__(self) -> None:
        for name in ("max_text_length", "max_decompressed_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")


DEFAULT_REQUEST_LIMITS = RequestEnvelopeLimits()


def is_request_envelope(text: str) -> bool:
    """Whether ``text`` (white space around it aside) claims to be a request envelope of any
    version rather than a plain compact JWS, which starts with base64url and has no ``:``."""
    return _ANY_VERSION_PREFIX.match(strip_scanner_whitespace(text)) is not None


def encode_request_envelope(token: str) -> str:
    """Re-pack a compact JWS request object as envelope text for a QR code.

    Nothing is checked but the form: the wallet reads the request. Raises
    ``VerificationError``: MALFORMED if ``token`` is not a compact JWS of three non-empty
    canonical base64url parts; TOO_LARGE if a decoder with ``DEFAULT_REQUEST_LIMITS`` would
    refuse it.
    """
    if len(token) > MAX_TOKEN_LENGTH:  # checked before any decoding; QR capacity is far less
        raise VerificationError(ErrorCode.TOO_LARGE, f"token over {MAX_TOKEN_LENGTH} characters")
    jws = split_jws(token, "request object")
    # A part that is not UTF-8 may hold a marker byte; such a token is sent unpacked.
    packings = (False,) if has_marker(jws[0]) or has_marker(jws[1]) else (True, False)
    candidates = [_build(jws, packed=packed) for packed in packings]
    for text in sorted(candidates, key=len):
        # Proof, not faith: the envelope must decode, within the limits, to the same text.
        if decode_request_envelope(text) == token:
            return text
    raise RuntimeError("envelope round trip failed")  # pragma: no cover - a bug, not bad input


def decode_request_envelope(
    text: str, limits: RequestEnvelopeLimits = DEFAULT_REQUEST_LIMITS
) -> str:
    """Unpack envelope text to the exact compact JWS that was encoded.

    Nothing here verifies the request: the result is unverified input for ``read_request``.
    Every failure raises ``VerificationError`` (MALFORMED, TOO_LARGE or UNSUPPORTED_FORMAT).
    White space around ``text`` is removed first, as a scanner may add it.
    """
    text = strip_scanner_whitespace(text)
    if len(text) > limits.max_text_length:
        raise VerificationError(
            ErrorCode.TOO_LARGE, f"envelope of {len(text)} characters, over the length limit"
        )
    if not text.startswith(REQUEST_ENVELOPE_PREFIX):
        raise VerificationError(ErrorCode.UNSUPPORTED_FORMAT, _not_version_1(text))
    outer = Reader(b45decode(text[len(REQUEST_ENVELOPE_PREFIX) :]), "envelope")
    pool = Reader(outer.take(outer.varint()), "raw byte pool")
    inflated = inflate(outer.rest(), limits.max_decompressed_bytes, _DICTIONARY)
    structure = Reader(inflated, "binary structure")

    flags = structure.take(1)[0]
    if flags & ~_FLAG_PACKED:
        raise VerificationError(ErrorCode.MALFORMED, "reserved flag bits set")
    header = structure.take(structure.varint())
    payload = structure.take(structure.varint())
    if flags & _FLAG_PACKED:  # the pool in order: the header's runs, the payload's, then
        header, payload = unpack(header, pool), unpack(payload, pool)
    signature = pool.take(structure.varint())  # the signature
    if structure.rest():
        raise VerificationError(ErrorCode.MALFORMED, "trailing bytes after the binary structure")
    if pool.rest():
        raise VerificationError(ErrorCode.MALFORMED, "raw byte pool not fully used")
    return join_jws((header, payload, signature))


def _not_version_1(text: str) -> str:
    if is_request_envelope(text):
        return "unknown envelope version"
    if is_envelope(text):
        return "not a request envelope: a presentation envelope"
    return "not a request envelope"


def _build(jws: Jws, *, packed: bool) -> str:
    pool = bytearray()
    structure = bytearray([_FLAG_PACKED if packed else 0])
    for part in jws[:2]:
        body = pack(part, pool) if packed else part
        structure += varint(len(body)) + body
    # The signature is all raw bytes: only its length stays in the structure. It follows the
    # header's and payload's runs in the pool, as in JG1.
    pool += jws[2]
    structure += varint(len(jws[2]))
    return REQUEST_ENVELOPE_PREFIX + b45encode(
        varint(len(pool)) + bytes(pool) + deflate(bytes(structure), _DICTIONARY)
    )
