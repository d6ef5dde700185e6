"""STAND-IN for helper "envelope"'s module (design10.md): replaced by main's on merge.

"JR1:" + base45 of raw DEFLATE of the compact JWS: the interface only, none of the techniques.
"""

from __future__ import annotations

import zlib

from verifier._base45 import b45decode, b45encode
from verifier.envelope import strip_scanner_whitespace
from verifier.errors import ErrorCode, VerificationError

REQUEST_ENVELOPE_PREFIX = "JR1:"
_MAX_TEXT = 16 * 1024
_MAX_INFLATED = 16 * 1024


def is_request_envelope(text: str) -> bool:
    return strip_scanner_whitespace(text).startswith("JR")


def encode_request_envelope(token: str) -> str:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = deflate.compress(token.encode("ascii")) + deflate.flush()
    return REQUEST_ENVELOPE_PREFIX + b45encode(data)


def decode_request_envelope(text: str) -> str:
    text = strip_scanner_whitespace(text)
    if len(text) > _MAX_TEXT:
        raise VerificationError(ErrorCode.TOO_LARGE, "request envelope too long")
    if not text.startswith(REQUEST_ENVELOPE_PREFIX):
        raise VerificationError(ErrorCode.UNSUPPORTED_FORMAT, "not a JR1 envelope")
    inflate = zlib.decompressobj(-15)
    try:
        data = inflate.decompress(b45decode(text[len(REQUEST_ENVELOPE_PREFIX) :]), _MAX_INFLATED)
    except zlib.error as exc:
        raise VerificationError(ErrorCode.MALFORMED, "not DEFLATE") from exc
    if inflate.unconsumed_tail:
        raise VerificationError(ErrorCode.TOO_LARGE, "request envelope inflates too far")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise VerificationError(ErrorCode.MALFORMED, "not ASCII") from exc
