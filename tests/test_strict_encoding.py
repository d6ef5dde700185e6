"""Strict base64url and I-JSON: one spelling per value, everything else refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys.encoding import b64url_decode, b64url_encode, json_dumps, json_loads
from keys.errors import KeyErrorCode, MalformedError


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("AQ==", KeyErrorCode.MALFORMED_BASE64, id="padding"),
        pytest.param("A+8", KeyErrorCode.MALFORMED_BASE64, id="plus-from-std-alphabet"),
        pytest.param("A/8", KeyErrorCode.MALFORMED_BASE64, id="slash-from-std-alphabet"),
        pytest.param("AR", KeyErrorCode.MALFORMED_BASE64, id="non-zero-trailing-bits-1-byte"),
        pytest.param("AAB", KeyErrorCode.MALFORMED_BASE64, id="non-zero-trailing-bits-2-bytes"),
        pytest.param("A", KeyErrorCode.MALFORMED_BASE64, id="impossible-length"),
        pytest.param("AQ\n", KeyErrorCode.MALFORMED_BASE64, id="white-space"),
    ],
)
def test_non_canonical_base64url_is_refused(text: str, code: KeyErrorCode) -> None:
    with pytest.raises(MalformedError) as caught:
        b64url_decode(text)
    assert caught.value.code == code


@given(st.binary(max_size=200))
def test_base64url_round_trip_is_exact(data: bytes) -> None:
    text = b64url_encode(data)
    assert b64url_decode(text) == data
    assert b64url_encode(b64url_decode(text)) == text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param('{"a":1,"a":2}', KeyErrorCode.DUPLICATE_MEMBER, id="duplicate-member"),
        pytest.param('{"x":{"a":1,"a":1}}', KeyErrorCode.DUPLICATE_MEMBER, id="nested-duplicate"),
        pytest.param("NaN", KeyErrorCode.MALFORMED_JSON, id="nan"),
        pytest.param("[Infinity]", KeyErrorCode.MALFORMED_JSON, id="infinity"),
        pytest.param("[1e400]", KeyErrorCode.MALFORMED_JSON, id="float-overflow"),
        pytest.param("9007199254740993", KeyErrorCode.MALFORMED_JSON, id="integer-beyond-i-json"),
        pytest.param("[" * 40 + "]" * 40, KeyErrorCode.MALFORMED_JSON, id="too-deep"),
        pytest.param('{"a":1', KeyErrorCode.MALFORMED_JSON, id="truncated"),
        pytest.param('{"a":1} x', KeyErrorCode.MALFORMED_JSON, id="trailing-data"),
        pytest.param('["\\ud800"]', KeyErrorCode.MALFORMED_JSON, id="lone-high-surrogate"),
        pytest.param('{"\\udc00":1}', KeyErrorCode.MALFORMED_JSON, id="lone-low-surrogate-name"),
        pytest.param(
            ' {"a":"\\ude00\\ud83d"} ', KeyErrorCode.MALFORMED_JSON, id="reversed-pair-slow-path"
        ),
    ],
)
def test_json_that_is_not_i_json_is_refused(text: str, code: KeyErrorCode) -> None:
    with pytest.raises(MalformedError) as caught:
        json_loads(text)
    assert caught.value.code == code


def test_escaped_surrogate_pairs_and_escaped_backslashes_are_text() -> None:
    assert json_loads('{"a":"\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    assert json_loads('"\\\\ud800"') == "\\ud800"  # a backslash, then the letters


def test_json_must_be_utf8() -> None:
    with pytest.raises(MalformedError) as caught:
        json_loads(b'{"a":"\xff"}')
    assert caught.value.code == KeyErrorCode.MALFORMED_JSON


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert json_loads('{"a":"' + "[" * 100 + '"}') == {"a": "[" * 100}


def test_json_dumps_is_compact_utf8() -> None:
    assert json_dumps({"name": "홍길동", "n": [1, 2]}) == '{"name":"홍길동","n":[1,2]}'.encode()


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_another_exception(data: bytes) -> None:
    with contextlib.suppress(MalformedError):
        json_loads(data)
