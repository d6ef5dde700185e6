"""The request QR envelope ("JR1:"): lossless, bounded, small, and refusing every malformed input
with a code."""

from __future__ import annotations

import hashlib
import re
import secrets
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.encoding import b64url_encode
from keys.jwk import Algorithm, SigningKey
from keys.jws import sign_compact
from tests._envelope_fixtures import resident_register_presentation
from verifier import request_envelope
from verifier._base45 import BASE45_ALPHABET, b45decode, b45encode
from verifier._packing import split_jws
from verifier.envelope import decode_envelope, encode_envelope
from verifier.errors import ErrorCode, VerificationError
from verifier.request_envelope import (
    DEFAULT_REQUEST_LIMITS,
    REQUEST_ENVELOPE_PREFIX,
    RequestEnvelopeLimits,
    decode_request_envelope,
    encode_request_envelope,
    is_request_envelope,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "qr-envelope.md"
ES256_KEY = SigningKey.generate(Algorithm.ES256)
EDDSA_KEY = SigningKey.generate(Algorithm.EDDSA)
NOW = 1_764_927_000
RESIDENT_REGISTER_VCT = "urn:jigap:resident-register-extract:1"
ACCOUNT_OPENING = {"ko": "계좌 개설 본인 확인", "en": "Identity check to open an account"}


def counter_request(
    key: SigningKey = ES256_KEY,
    *,
    claims: tuple[str, ...] = ("name", "birth_date", "address"),
    purpose: dict[str, str] = ACCOUNT_OPENING,
    response_uri: str | None = None,
    state: str | None = None,
    alg_first: bool = False,
    purpose_last: bool = False,
) -> str:
    """A request object as docs/counter-request.md profiles it (OpenID4VP 1.0 §5), its members
    in the order verifier.openid4vp.sign_request writes them (``purpose_last``: the order the
    design listed them in); built here so that these tests stand without that module."""
    query = {
        "credentials": [
            {
                "id": "resident_register_extract",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [RESIDENT_REGISTER_VCT]},
                "claims": [{"path": [claim]} for claim in claims],
            }
        ]
    }
    payload: dict[str, Any] = {
        "client_id": "counter.bank.example",
        "response_type": "vp_token",
        "response_mode": "direct_post" if response_uri else "jigap_qr",
        **({"response_uri": response_uri} if response_uri else {}),
        "aud": "https://self-issued.me/v2",
        "nonce": b64url_encode(secrets.token_bytes(16)),
        **({"state": state} if state and not purpose_last else {}),
        "iat": NOW,
        "exp": NOW + 300,
    }
    if purpose_last:
        payload |= {"dcql_query": query, "purpose": purpose, **({"state": state} if state else {})}
    else:
        payload |= {"purpose": purpose, "dcql_query": query}
    # sign_compact keeps a member's place when the header names it, and puts `alg` last otherwise.
    header = {"typ": "oauth-authz-req+jwt", "kid": key.kid}
    if alg_first:
        header = {"typ": "oauth-authz-req+jwt", "alg": key.algorithm.value, "kid": key.kid}
    return sign_compact(payload, key, header)


def jws(header: bytes, payload: bytes, signature: bytes) -> str:
    return ".".join(b64url_encode(part) for part in (header, payload, signature))


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def deflate(data: bytes) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=request_envelope._DICTIONARY)
    return deflater.compress(data) + deflater.flush()


def wire(structure: bytes, pool: bytes = b"", *, deflated: bytes | None = None) -> str:
    """An envelope assembled by hand, to reach each check of the decoder."""
    body = deflate(structure) if deflated is None else deflated
    return REQUEST_ENVELOPE_PREFIX + b45encode(varint(len(pool)) + pool + body)


def text_part(data: bytes) -> bytes:
    return varint(len(data)) + data


# flags 0 (unpacked), header "{}", payload "{}", a 1-byte signature.
MINIMAL_STRUCTURE = b"\x00" + text_part(b"{}") + text_part(b"{}") + varint(1)


def test_public_api_is_curated() -> None:
    assert sorted(request_envelope.__all__) == [
        "DEFAULT_REQUEST_LIMITS",
        "REQUEST_ENVELOPE_PREFIX",
        "RequestEnvelopeLimits",
        "decode_request_envelope",
        "encode_request_envelope",
        "is_request_envelope",
    ]


# -- lossless ---------------------------------------------------------------------------------

SHAPES: dict[str, Callable[[], str]] = {
    "es256-jigap-qr": lambda: counter_request(),
    "es256-alg-first-header": lambda: counter_request(alg_first=True),
    "eddsa-jigap-qr": lambda: counter_request(EDDSA_KEY),
    "eddsa-alg-first-header": lambda: counter_request(EDDSA_KEY, alg_first=True),
    "direct-post-with-response-uri-and-state": lambda: counter_request(
        response_uri="https://counter.bank.example/presentations",
        state=b64url_encode(secrets.token_bytes(16)),
    ),
    "members-in-another-order": lambda: counter_request(
        purpose_last=True,
        response_uri="https://counter.bank.example/presentations",
        state=b64url_encode(secrets.token_bytes(16)),
    ),
    "direct-post-without-state": lambda: counter_request(
        EDDSA_KEY, response_uri="https://counter.bank.example/answers"
    ),
    "age-check-korean-purpose": lambda: counter_request(
        claims=("age_over_19",), purpose={"ko": "만 19세 이상 확인", "en": "Age check: 19 or over"}
    ),
    "purpose-outside-the-dictionary": lambda: counter_request(
        purpose={"ko": '편의점 🍺 주류 구매 (만 19세↑) 100% \\ "확인"', "en": "Beer: 19+ %s %%"}
    ),
    "es384-signature-size": lambda: jws(b'{"alg":"ES384"}', b'{"iss":"x"}', bytes(96)),
    "non-canonical-run-stays-literal": lambda: jws(
        # 43 base64url characters whose spare bits are not zero: not a 32-byte value's spelling.
        b'{"kid":"' + b"A" * 42 + b'B"}',
        b'{"nonce":"' + b"A" * 21 + b'B"}',
        bytes(64),
    ),
    "non-utf8-payload-sent-unpacked": lambda: jws(
        b'{"kid":"' + b64url_encode(bytes(32)).encode() + b'"}', b"\xff\xfe\x00binary", b"\x01"
    ),
    "plain-json": lambda: jws(b"{}", b"[]", b"\x01"),
}


@pytest.mark.parametrize("build", SHAPES.values(), ids=SHAPES.keys())
def test_round_trip_is_exact(build: Callable[[], str]) -> None:
    original = build()
    text = encode_request_envelope(original)
    assert decode_request_envelope(text) == original
    assert is_request_envelope(text)
    assert text.startswith(REQUEST_ENVELOPE_PREFIX)
    assert set(text) <= set(BASE45_ALPHABET)


def test_packing_moves_kid_nonce_and_signature_to_the_pool() -> None:
    original = counter_request()
    text = encode_request_envelope(original)
    # B starts with varint(len(pool)): the kid (32), the nonce (16), the signature (64).
    assert b45decode(text[len(REQUEST_ENVELOPE_PREFIX) :])[0] == 32 + 16 + 64
    unpacked = request_envelope._build(split_jws(original, "t"), packed=False)
    assert decode_request_envelope(unpacked) == original
    assert len(text) < len(unpacked)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.binary(min_size=1, max_size=120), min_size=3, max_size=3),
    runs=st.lists(st.sampled_from([16, 32]), max_size=4),
)
def test_round_trip_of_arbitrary_parts(parts: list[bytes], runs: list[int]) -> None:
    # Quoted base64url runs in the text parts exercise the packing; arbitrary bytes its fallback.
    quoted = b"".join(b'"' + b64url_encode(secrets.token_bytes(n)).encode() + b'"' for n in runs)
    original = jws(parts[0] + quoted, quoted + parts[1], parts[2])
    assert decode_request_envelope(encode_request_envelope(original)) == original


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (REQUEST_ENVELOPE_PREFIX + "ABC", True),
        ("JR2:ABC", True),
        ("JR123:", True),
        ("\r\n" + REQUEST_ENVELOPE_PREFIX + "ABC\n", True),
        ("JG1:ABC", False),
        ("eyJhbGciOiJFUzI1NiJ9.e30.AA", False),
        ("", False),
        ("JR:", False),
        ("jr1:ABC", False),
    ],
)
def test_is_request_envelope(text: str, expected: bool) -> None:
    assert is_request_envelope(text) is expected


def test_the_two_envelopes_do_not_cross() -> None:
    request = encode_request_envelope(counter_request())
    presentation = encode_envelope(resident_register_presentation())
    with pytest.raises(VerificationError) as refused:
        decode_request_envelope(presentation)
    assert refused.value.code is ErrorCode.UNSUPPORTED_FORMAT
    assert refused.value.detail == "not a request envelope: a presentation envelope"
    with pytest.raises(VerificationError) as refused:
        decode_envelope(request)
    assert refused.value.code is ErrorCode.UNSUPPORTED_FORMAT


# -- refused, each with its code and reason ---------------------------------------------------

BOMB = deflate(bytes(1_000_000))
REFUSED: dict[str, tuple[str, ErrorCode, str]] = {
    "over-length": (
        "A" * (DEFAULT_REQUEST_LIMITS.max_text_length + 1),
        ErrorCode.TOO_LARGE,
        "over the length limit",
    ),
    "unknown-version": ("JR2:" + b45encode(b"\x00"), ErrorCode.UNSUPPORTED_FORMAT, "version"),
    "presentation-envelope": (
        "JG1:" + b45encode(b"\x00"),
        ErrorCode.UNSUPPORTED_FORMAT,
        "a presentation envelope",
    ),
    "plain-jws": ("eyJhbGciOiJFUzI1NiJ9.e30.AA", ErrorCode.UNSUPPORTED_FORMAT, "not a request"),
    "no-prefix": ("HELLO", ErrorCode.UNSUPPORTED_FORMAT, "not a request envelope"),
    "base45-lowercase": (REQUEST_ENVELOPE_PREFIX + "abc", ErrorCode.MALFORMED, "base45"),
    "base45-non-ascii": (REQUEST_ENVELOPE_PREFIX + "가나다", ErrorCode.MALFORMED, "base45"),
    "base45-lone-character": (REQUEST_ENVELOPE_PREFIX + "0000", ErrorCode.MALFORMED, "base45"),
    "base45-triplet-over-65535": (REQUEST_ENVELOPE_PREFIX + "GGW", ErrorCode.MALFORMED, "base45"),
    "base45-pair-over-255": (REQUEST_ENVELOPE_PREFIX + "ZZ", ErrorCode.MALFORMED, "base45"),
    "empty-body": (REQUEST_ENVELOPE_PREFIX, ErrorCode.MALFORMED, "envelope ends early"),
    "pool-past-the-end": (
        REQUEST_ENVELOPE_PREFIX + b45encode(b"\x10abc"),
        ErrorCode.MALFORMED,
        "envelope ends early",
    ),
    "invalid-deflate": (
        wire(b"", deflated=b"\xff\xff\xff\xff"),
        ErrorCode.MALFORMED,
        "invalid DEFLATE",
    ),
    "truncated-deflate": (
        wire(b"", deflated=deflate(MINIMAL_STRUCTURE)[:-2]),
        ErrorCode.MALFORMED,
        "truncated compressed data",
    ),
    "bytes-after-deflate": (
        wire(b"", deflated=deflate(MINIMAL_STRUCTURE) + b"\x00"),
        ErrorCode.MALFORMED,
        "trailing bytes after the compressed stream",
    ),
    "decompression-bomb": (wire(b"", deflated=BOMB), ErrorCode.TOO_LARGE, "beyond the limit"),
    "just-over-decompressed-limit": (
        wire(bytes(DEFAULT_REQUEST_LIMITS.max_decompressed_bytes + 1)),
        ErrorCode.TOO_LARGE,
        "beyond the limit",
    ),
    "empty-structure": (wire(b""), ErrorCode.MALFORMED, "binary structure ends early"),
    "reserved-flag-bit-0": (
        wire(b"\x01" + MINIMAL_STRUCTURE[1:], b"\x01"),
        ErrorCode.MALFORMED,
        "reserved flag bits",
    ),
    "reserved-flag-bit-2": (
        wire(b"\x04" + MINIMAL_STRUCTURE[1:], b"\x01"),
        ErrorCode.MALFORMED,
        "reserved flag bits",
    ),
    "varint-not-shortest": (wire(b"\x00\x80\x00"), ErrorCode.MALFORMED, "shortest form"),
    "varint-too-long": (wire(b"\x00\x80\x80\x80\x01"), ErrorCode.MALFORMED, "varint longer"),
    "header-past-the-end": (wire(b"\x00\x05{}"), ErrorCode.MALFORMED, "structure ends early"),
    "payload-missing": (wire(b"\x00" + text_part(b"{}")), ErrorCode.MALFORMED, "ends early"),
    "signature-length-missing": (
        wire(b"\x00" + text_part(b"{}") + text_part(b"{}")),
        ErrorCode.MALFORMED,
        "binary structure ends early",
    ),
    "signature-past-the-pool": (
        wire(MINIMAL_STRUCTURE),
        ErrorCode.MALFORMED,
        "raw byte pool ends early",
    ),
    "bytes-after-structure": (
        wire(MINIMAL_STRUCTURE + b"\x00", b"\x01"),
        ErrorCode.MALFORMED,
        "trailing bytes after the binary structure",
    ),
    "pool-not-used-up": (
        wire(MINIMAL_STRUCTURE, b"\x01\x02"),
        ErrorCode.MALFORMED,
        "not fully used",
    ),
    "marker-past-the-pool": (
        wire(b"\x02" + text_part(b'{"kid":"\xff"}') + text_part(b"{}") + varint(1), b"\x01"),
        ErrorCode.MALFORMED,
        "raw byte pool ends early",
    ),
    "markers-past-the-pool": (
        wire(b"\x02" + text_part(b"\xfe" * 9000) + text_part(b"{}") + varint(1), b"\x01"),
        ErrorCode.MALFORMED,
        "raw byte pool ends early",
    ),
    "empty-header": (
        wire(b"\x00" + text_part(b"") + text_part(b"{}") + varint(1), b"\x01"),
        ErrorCode.MALFORMED,
        "empty part",
    ),
    "empty-signature": (
        wire(b"\x00" + text_part(b"{}") + text_part(b"{}") + varint(0)),
        ErrorCode.MALFORMED,
        "empty part",
    ),
}


@pytest.mark.parametrize(("text", "code", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_refused(text: str, code: ErrorCode, reason: str) -> None:
    with pytest.raises(VerificationError) as refused:
        decode_request_envelope(text)
    assert refused.value.code is code
    assert reason in refused.value.detail


def test_unknown_version_and_foreign_envelopes_are_told_apart() -> None:
    details = {}
    for name in ("unknown-version", "presentation-envelope", "plain-jws"):
        with pytest.raises(VerificationError) as refused:
            decode_request_envelope(REFUSED[name][0])
        details[name] = refused.value.detail
    assert details == {
        "unknown-version": "unknown envelope version",
        "presentation-envelope": "not a request envelope: a presentation envelope",
        "plain-jws": "not a request envelope",
    }


def test_minimal_structure_is_accepted() -> None:
    # The negative cases above are each one change away from this valid envelope.
    assert decode_request_envelope(wire(MINIMAL_STRUCTURE, b"\x01")) == "e30.e30.AQ"


def test_minimal_packed_structure_is_accepted() -> None:
    structure = b"\x02" + text_part(b'{"kid":"\xff"}') + text_part(b'{"n":"\xfe"}') + varint(1)
    pool = bytes(range(32)) + bytes(range(100, 116)) + b"\x01"
    expected = jws(
        b'{"kid":"' + b64url_encode(pool[:32]).encode() + b'"}',
        b'{"n":"' + b64url_encode(pool[32:48]).encode() + b'"}',
        b"\x01",
    )
    assert decode_request_envelope(wire(structure, pool)) == expected


def test_decompressed_limit_is_inclusive() -> None:
    header = b"{" * 16_377  # with its 2-byte length, the structure is exactly at the limit
    structure = b"\x00" + text_part(header) + text_part(b"{}") + varint(1)
    assert len(structure) == DEFAULT_REQUEST_LIMITS.max_decompressed_bytes
    assert decode_request_envelope(wire(structure, b"\x01")).endswith(".e30.AQ")


def test_limits_are_the_callers() -> None:
    text = encode_request_envelope(counter_request())
    with pytest.raises(VerificationError) as refused:
        decode_request_envelope(text, RequestEnvelopeLimits(max_decompressed_bytes=100))
    assert refused.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(VerificationError) as refused:
        decode_request_envelope(text, RequestEnvelopeLimits(max_text_length=len(text) - 1))
    assert refused.value.code is ErrorCode.TOO_LARGE
    assert decode_request_envelope(text, RequestEnvelopeLimits(max_text_length=len(text)))


@pytest.mark.parametrize("field", ["max_text_length", "max_decompressed_bytes"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RequestEnvelopeLimits(**{field: 0})


def test_decompression_bomb_is_refused_without_inflating_it() -> None:
    """Memory, not time: the bomb's megabyte is never produced."""
    tracemalloc.start()
    try:
        with pytest.raises(VerificationError) as refused:
            decode_request_envelope(wire(b"", deflated=BOMB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code is ErrorCode.TOO_LARGE
    assert peak < 256 * 1024


ENCODE_REFUSED = {
    "two-parts": ("e30.e30", ErrorCode.MALFORMED),
    "four-parts": ("e30.e30.AQ.AQ", ErrorCode.MALFORMED),
    "empty-signature": ("e30.e30.", ErrorCode.MALFORMED),
    "empty-header": (".e30.AQ", ErrorCode.MALFORMED),
    "an-sd-jwt": ("e30.e30.AQ~", ErrorCode.MALFORMED),
    "non-canonical-base64url": ("e30.e30.AR", ErrorCode.MALFORMED),
    "padded-base64url": ("e30=.e30.AQ", ErrorCode.MALFORMED),
    "non-ascii": ("e30.e30.가", ErrorCode.MALFORMED),
    "over-qr-capacity": (
        "e30.e30." + b64url_encode(secrets.token_bytes(3000)),
        ErrorCode.TOO_LARGE,
    ),
    "over-the-token-limit": ("e30." + "A" * 70_000 + ".AQ", ErrorCode.TOO_LARGE),
}


@pytest.mark.parametrize(("text", "code"), ENCODE_REFUSED.values(), ids=ENCODE_REFUSED.keys())
def test_encode_refuses(text: str, code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as refused:
        encode_request_envelope(text)
    assert refused.value.code is code


# -- nothing but VerificationError escapes ----------------------------------------------------

VALID = encode_request_envelope(counter_request())
ALNUM = st.sampled_from(BASE45_ALPHABET)


def decodes_or_refuses(text: str) -> None:
    try:
        decode_request_envelope(text)
    except VerificationError as exc:
        assert isinstance(exc.code, ErrorCode)
        assert exc.code in {ErrorCode.MALFORMED, ErrorCode.TOO_LARGE, ErrorCode.UNSUPPORTED_FORMAT}


@settings(max_examples=500)
@given(st.text(max_size=200) | st.text(ALNUM, max_size=400).map(REQUEST_ENVELOPE_PREFIX.__add__))
def test_arbitrary_text(text: str) -> None:
    decodes_or_refuses(text)


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    decodes_or_refuses(REQUEST_ENVELOPE_PREFIX + b45encode(data))


@settings(max_examples=500)
@given(st.binary(max_size=160), st.binary(max_size=400))
def test_arbitrary_structures(pool: bytes, structure: bytes) -> None:
    # Valid DEFLATE around arbitrary bytes: what reaches the structure parser after inflating.
    decodes_or_refuses(wire(structure, pool))


@settings(max_examples=500)
@given(st.data())
def test_mutated_envelopes(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(len(REQUEST_ENVELOPE_PREFIX), len(text) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        char = data.draw(ALNUM)
        if action == "flip":
            text = text[:at] + char + text[at + 1 :]
        elif action == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    decodes_or_refuses(text)


# -- scanner white space: stripped around, as JG1 does, refused inside ------------------------


@pytest.mark.parametrize("padding", ["\r\n", "\n", "\t", " ", " \r\n", "\f\v"], ids=repr)
def test_white_space_around_an_envelope_is_stripped(padding: str) -> None:
    request = counter_request()
    text = encode_request_envelope(request)
    assert decode_request_envelope(padding + text + padding) == request
    limits = RequestEnvelopeLimits(max_text_length=len(text))  # the limit counts the envelope
    assert decode_request_envelope(text + padding, limits) == request


SPOILED: dict[str, tuple[Callable[[str], str], ErrorCode]] = {
    "lf-inside": (lambda text: text[:20] + "\n" + text[20:], ErrorCode.MALFORMED),
    "tab-inside": (lambda text: text[:21] + "\t" + text[21:], ErrorCode.MALFORMED),
    # Not a scanner's: only ASCII white space is stripped.
    "ideographic-space-after": (lambda text: text + "\u3000", ErrorCode.MALFORMED),
    "nbsp-before": (lambda text: "\u00a0" + text, ErrorCode.UNSUPPORTED_FORMAT),
}


@pytest.mark.parametrize(("spoil", "code"), SPOILED.values(), ids=SPOILED.keys())
def test_other_white_space_is_refused(spoil: Callable[[str], str], code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as refused:
        decode_request_envelope(spoil(encode_request_envelope(counter_request())))
    assert refused.value.code is code


# -- size: what the phone's camera has to read ------------------------------------------------


def test_a_typical_counter_request_fits_a_small_qr(
    record_property: Callable[[str, object], None],
) -> None:
    """The counter's request for a resident-register extract (name, birth_date, address;
    Korean and English purpose; ES256): its QR version at error correction M."""
    qr_image = pytest.importorskip("verifier.qr_image")
    pytest.importorskip("qrcode")
    request = counter_request()
    text = encode_request_envelope(request)
    envelope_version = qr_image.qr_version(text, "M")
    plain_version = qr_image.qr_version(request, "M")
    record_property("request_envelope_chars", len(text))
    record_property("request_plain_chars", len(request))
    record_property("request_envelope_qr_version_M", envelope_version)
    record_property("request_plain_qr_version_M", plain_version)
    print(  # noqa: T201 - the measurement, for `pytest -s` and the benchmarks page
        f"request: plain {len(request)} chars, QR {plain_version}-M; "
        f"envelope {len(text)} chars, QR {envelope_version}-M"
    )
    # Only the pool is random here, and it is always 112 bytes: the size is the same on every
    # run, 258 characters of the 262 that version 9-M holds (docs/qr-envelope.md §12.7).
    assert envelope_version <= 9
    assert plain_version >= 22


# -- the specification agrees with the code ---------------------------------------------------


def test_docs_pin_the_request_dictionary() -> None:
    spec = DOCS.read_text(encoding="utf-8").split("## 12.", 1)[1]
    pinned = re.search(r"SHA-256 of the request dictionary: `([0-9a-f]{64})`", spec)
    assert pinned, "docs/qr-envelope.md §12 must state the request dictionary's SHA-256"
    assert pinned.group(1) == hashlib.sha256(request_envelope._DICTIONARY).hexdigest()
    length = re.search(r"It is (\d+) bytes\.", spec)
    assert length and int(length.group(1)) == len(request_envelope._DICTIONARY)
    listing = re.search(r"```hex\n(?P<hex>[0-9a-f\n]+)```", spec)
    assert listing
    assert bytes.fromhex(listing["hex"].replace("\n", "")) == request_envelope._DICTIONARY


def test_docs_worked_example_decodes() -> None:
    spec = DOCS.read_text(encoding="utf-8").split("## 12.", 1)[1]
    example = re.search(r"```text\nJWS:\n(?P<jws>[^\n]+)\nEnvelope:\n(?P<env>[^\n]+)\n```", spec)
    assert example, "docs/qr-envelope.md §12 must hold the worked example"
    assert decode_request_envelope(example["env"]) == example["jws"]
    # Envelopes are not canonical (§4): another DEFLATE encoder may well choose other bytes.
    assert decode_request_envelope(encode_request_envelope(example["jws"])) == example["jws"]
