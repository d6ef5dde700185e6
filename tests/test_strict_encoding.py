"""Strict base64url and I-JSON: one spelling per value, everything else refused."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys.encoding import (
    MAX_SAFE_INTEGER,
    _strict_json_loads,
    b64url_decode,
    b64url_encode,
    json_dumps,
    json_loads,
)
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
@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
def test_json_that_is_not_i_json_is_refused(text: str, code: KeyErrorCode, as_bytes: bool) -> None:
    # Bytes in the compact form take the orjson fast path first: it must refuse the same.
    with pytest.raises(MalformedError) as caught:
        json_loads(text.encode() if as_bytes else text)
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


# I-JSON values: integers within double precision, finite floats, any text but lone surrogates.
_i_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=8), inner, max_size=4
        )
    ),
    max_leaves=12,
)


def _outcome(parse: Callable[[bytes], Any], data: bytes) -> tuple[str, Any]:
    try:
        return "value", parse(data)
    except MalformedError as exc:
        return "refused", exc.code


@given(_i_json_values)
def test_compact_json_reads_back_as_written(value: Any) -> None:
    data = json_dumps(value)
    assert json_loads(data) == _strict_json_loads(data) == value


@given(
    st.one_of(
        st.binary(max_size=200),
        _i_json_values.map(lambda v: json.dumps(v, indent=1).encode()),  # white space
        _i_json_values.map(lambda v: json.dumps(v).encode()),  # ASCII escapes, ", " and ": "
        # A member repeated, in the compact form the fast path reads.
        st.tuples(st.text(max_size=4), _i_json_values, _i_json_values).map(
            lambda t: (
                b'{"%s":%s,"%s":%s}'
                % (t[0].encode(), json_dumps(t[1]), t[0].encode(), json_dumps(t[2]))
            )
        ),
        st.integers().map(lambda n: str(n).encode()),
        # Around I-JSON's bound, and up to where orjson still reads integers.
        st.integers(MAX_SAFE_INTEGER - 2, 2**64).map(lambda n: b"[%d,-%d]" % (n, n)),
    )
)
def test_the_fast_path_never_reads_bytes_otherwise_than_the_strict_parser(data: bytes) -> None:
    fast, strict = _outcome(json_loads, data), _outcome(_strict_json_loads, data)
    assert fast == strict


def test_a_compact_token_payload_is_read_by_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken for what issuers write: a guard that it has not silently died."""

    def strict_parser_called(_data: bytes | str) -> Any:
        raise AssertionError("the strict parser was asked")

    monkeypatch.setattr("keys.encoding._strict_json_loads", strict_parser_called)
    payload = json_dumps({"iss": "https://gov.example.kr", "iat": 1767265200, "_sd": ["a", "b"]})
    assert json_loads(payload)["iat"] == 1767265200


@pytest.mark.parametrize("sign", ["", "-"])
def test_i_json_integer_bound_is_exact_on_both_paths(sign: str) -> None:
    limit = f"{sign}{MAX_SAFE_INTEGER}".encode()
    beyond = f"{sign}{MAX_SAFE_INTEGER + 1}".encode()
    assert json_loads(b"[" + limit + b"]") == [int(limit)]
    for parse in (json_loads, _strict_json_loads):
        with pytest.raises(MalformedError):
            parse(b"[" + beyond + b"]")
