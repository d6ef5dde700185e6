"""Strict base64url and JSON, shared by every parser of tokens from outside.

RFC 7515 §2 base64url without padding, RFC 8259 JSON restricted as I-JSON (RFC 7493):
one encoding for each value, so that a token can be re-packed losslessly (QR envelope) and
so that two parsers can never read the same bytes two ways.
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any

import orjson

from keys.errors import KeyErrorCode, MalformedError

# One translation does two jobs: base64url's '-' and '_' become standard base64's '+' and '/',
# while '+', '/' and '=' (standard base64 and padding, not base64url) become '!', which the
# strict decoder refuses.
_URL_TO_STRICT = bytes.maketrans(b"-_+/=", b"+/!!!")
# The 6-bit value of each standard-alphabet byte, for the trailing-bits check.
_SEXTET = {
    byte: index
    for index, byte in enumerate(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    )
}
_PADDING = (b"", b"", b"==", b"=")
_TO_URL = bytes.maketrans(b"+/", b"-_")
_OUTSIDE_ALPHABET = "characters outside base64url"

# I-JSON keeps integers within IEEE 754 double precision (RFC 7493 §2.2).
MAX_SAFE_INTEGER = 2**53 - 1
MAX_JSON_DEPTH = 32


def b64url_encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URL).decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; anything with another spelling is refused."""
    try:
        data = text.encode("ascii").translate(_URL_TO_STRICT)
    except UnicodeEncodeError:
        raise MalformedError(KeyErrorCode.MALFORMED_BASE64, _OUTSIDE_ALPHABET) from None
    remainder = len(data) % 4
    if remainder == 1:
        raise MalformedError(KeyErrorCode.MALFORMED_BASE64, "impossible base64url length")
    # The last character carries bits beyond the data; canonical encoders leave them zero.
    if remainder and _SEXTET.get(data[-1], 0) & (0b1111 if remainder == 2 else 0b11):
        raise MalformedError(KeyErrorCode.MALFORMED_BASE64, "non-zero trailing bits")
    try:
        return binascii.a2b_base64(data + _PADDING[remainder], strict_mode=True)
    except binascii.Error:
        raise MalformedError(KeyErrorCode.MALFORMED_BASE64, _OUTSIDE_ALPHABET) from None


def _refuse_constant(name: str) -> Any:
    raise MalformedError(KeyErrorCode.MALFORMED_JSON, f"{name} is not JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        duplicate = next(name for name in names if names.count(name) > 1)
        raise MalformedError(KeyErrorCode.DUPLICATE_MEMBER, f"duplicate member {duplicate!r}")
    return obj


def _parse_int(text: str) -> int:
    if len(text) < 16:  # 15 characters, sign included, stay below 10**15 < 2**53
        return int(text)
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise MalformedError(KeyErrorCode.MALFORMED_JSON, "integer beyond I-JSON range")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedError(KeyErrorCode.MALFORMED_JSON, "number beyond double range")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates,
    parse_constant=_refuse_constant,
    parse_int=_parse_int,
    parse_float=_parse_float,
)
# What JSONDecoder.decode calls, minus its white-space handling (typeshed mistypes the argument).
_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(_DECODER)  # type: ignore[arg-type]


def json_loads(data: bytes | str) -> Any:
    """Parse I-JSON: UTF-8, no duplicate members, no NaN/Infinity, bounded integers and depth."""
    # Fast path for the compact form that jigap's issuers, and most JOSE libraries, write:
    # orjson reads and writes it several times faster than the strict parser. When orjson
    # writes back exactly the bytes it read, they hold no duplicate member (the second would
    # be gone), no white space, no number or escape spelled another way, and no integer beyond
    # I-JSON's range (OPT_STRICT_INTEGER refuses it): the strict parser would return this very
    # value. Anything else (the depth bound first: orjson's own is far deeper) goes to the
    # strict parser, which decides and names what is wrong.
    if type(data) is bytes and data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        try:
            value = orjson.loads(data)
            if orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER) == data:
                return value
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass
    return _strict_json_loads(data)


def _strict_json_loads(data: bytes | str) -> Any:
    """The parser that decides: every form of JSON read, I-JSON's limits each given its error."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise MalformedError(KeyErrorCode.MALFORMED_JSON, "not UTF-8") from exc
    # Counting brackets (C speed) bounds the depth; only a suspicious text is walked.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nesting_depth_exceeds(text):
        raise MalformedError(KeyErrorCode.MALFORMED_JSON, "nested too deeply")
    value = _parse(text)
    # RFC 7493 §2.1: strings are Unicode text. A `\\ud800` escape spells a lone surrogate,
    # which no UTF-8 text can carry; raw input cannot (it was decoded strictly above). Most
    # tokens hold no backslash at all, and a one-character search runs at memchr speed.
    if "\\" in text and "\\u" in text and _holds_lone_surrogate(value):
        raise MalformedError(KeyErrorCode.MALFORMED_JSON, "a string escapes a lone surrogate")
    return value


def _parse(text: str) -> Any:
    try:
        # The scanner itself, without JSONDecoder.decode's white-space handling: a document
        # with surrounding white space (rare in tokens) takes the general path below.
        value, end = _SCAN(text, 0)
        if end == len(text):
            return value
    except StopIteration:
        pass
    except MalformedError:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedError(KeyErrorCode.MALFORMED_JSON, f"invalid JSON: {exc}") from exc
    try:
        return _DECODER.decode(text)
    except MalformedError:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedError(KeyErrorCode.MALFORMED_JSON, f"invalid JSON: {exc}") from exc


def _holds_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_holds_lone_surrogate(k) or _holds_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_lone_surrogate(item) for item in value)
    return False


def json_loads_object(data: bytes | str) -> dict[str, Any]:
    value = json_loads(data)
    if not isinstance(value, dict):
        raise MalformedError(KeyErrorCode.WRONG_JSON_TYPE, "expected a JSON object")
    return value


def _nesting_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def json_dumps(value: Any) -> bytes:
    """The one serialisation jigap signs: compact, UTF-8, key order as given."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
