"""The compact QR envelope: lossless, bounded, and refusing every malformed input with a code."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.encoding import b64url_decode, b64url_encode
from tests._envelope_fixtures import (
    DISCLOSED,
    RESIDENT_REGISTER_CLAIMS,
    digest,
    disclosure,
    eddsa_presentation,
    resident_register_presentation,
    salt,
)
from verifier import envelope
from verifier._base45 import BASE45_ALPHABET, b45decode, b45encode
from verifier.envelope import (
    DEFAULT_LIMITS,
    ENVELOPE_PREFIX,
    EnvelopeLimits,
    decode_envelope,
    encode_envelope,
    is_envelope,
)
from verifier.errors import ErrorCode, VerificationError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "qr-envelope.md"


def jws(header: bytes, payload: bytes, signature: bytes) -> str:
    return ".".join(b64url_encode(part) for part in (header, payload, signature))


def sd_jwt(issuer: str, disclosures: list[str], kb_jwt: str = "") -> str:
    return "~".join([issuer, *disclosures, kb_jwt])


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def deflate(data: bytes, *, zdict: bytes | None = None) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=zdict or envelope._DICTIONARY)
    return deflater.compress(data) + deflater.flush()


def wire(structure: bytes, pool: bytes = b"", *, deflated: bytes | None = None) -> str:
    """An envelope assembled by hand, to reach each check of the decoder."""
    body = deflate(structure) if deflated is None else deflated
    return ENVELOPE_PREFIX + b45encode(varint(len(pool)) + pool + body)


def text_part(data: bytes) -> bytes:
    return varint(len(data)) + data


# flags 0 (no KB-JWT, unpacked), no disclosure, header "{}", payload "{}", a 1-byte signature.
MINIMAL_STRUCTURE = b"\x00\x00" + text_part(b"{}") + text_part(b"{}") + varint(1)


def test_public_api_is_curated() -> None:
    assert sorted(envelope.__all__) == [
        "DEFAULT_LIMITS",
        "ENVELOPE_PREFIX",
        "EnvelopeLimits",
        "decode_envelope",
        "encode_envelope",
        "is_envelope",
        "strip_scanner_whitespace",
    ]


# -- lossless ---------------------------------------------------------------------------------

ES256_SIG = bytes(range(64))
SHAPES = {
    "resident-register-with-kb": lambda: resident_register_presentation(),
    "resident-register-no-kb": lambda: resident_register_presentation(key_binding=False),
    "no-disclosures-with-kb": lambda: resident_register_presentation(disclosed=()),
    "no-disclosures-no-kb": lambda: resident_register_presentation(disclosed=(), key_binding=False),
    "all-twelve-disclosed": lambda: resident_register_presentation(
        disclosed=tuple(RESIDENT_REGISTER_CLAIMS)
    ),
    "eddsa-arrays-objects-unicode": lambda: eddsa_presentation(
        [
            disclosure(salt(), "address_history", ["부산광역시 해운대구", "제주특별자치도 🍊"]),
            disclosure(salt(), "household", {"head": "홍판서", "members": 3, "ok": None}),
            disclosure(salt(), "가족관계"),  # an array element: [salt, value]
        ]
    ),
    "eddsa-no-kb": lambda: eddsa_presentation(
        [disclosure(salt(), "age_over_19", True)], key_binding=False
    ),
    "es384-and-rs256-signature-sizes": lambda: sd_jwt(
        jws(b'{"alg":"ES384"}', b'{"iss":"x"}', secrets.token_bytes(96)),
        [disclosure(salt(), "n", 1)],
        jws(b'{"alg":"RS256"}', b"{}", secrets.token_bytes(256)),
    ),
    "non-canonical-run-stays-literal": lambda: sd_jwt(
        # 43 base64url characters whose spare bits are not zero: not a 32-byte value's spelling.
        jws(b'{"kid":"' + b"A" * 42 + b'B"}', b'{"n":"' + b"A" * 21 + b'B"}', ES256_SIG),
        [],
    ),
    "non-utf8-payload-sent-unpacked": lambda: sd_jwt(
        jws(
            b'{"a":"' + b64url_encode(bytes(32)).encode() + b'"}', b"\xff\xfe\x00binary", ES256_SIG
        ),
        [disclosure(salt(), "x", "y")],
    ),
    "plain-json-markers-absent": lambda: sd_jwt(
        jws(b"{}", b"[]", b"\x01"), [], jws(b"1", b"2", b"3")
    ),
}


@pytest.mark.parametrize("build", SHAPES.values(), ids=SHAPES.keys())
def test_round_trip_is_exact(build: Callable[[], str]) -> None:
    original = build()
    text = encode_envelope(original)
    assert decode_envelope(text) == original
    assert is_envelope(text)
    assert set(text) <= set(BASE45_ALPHABET)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.binary(min_size=1, max_size=80), min_size=3, max_size=8),
    runs=st.lists(st.sampled_from([16, 32]), max_size=4),
    key_binding=st.booleans(),
)
def test_round_trip_of_arbitrary_parts(
    parts: list[bytes], runs: list[int], key_binding: bool
) -> None:
    # Quoted base64url runs in the text parts exercise the packing; arbitrary bytes its fallback.
    quoted = b"".join(b'"' + b64url_encode(secrets.token_bytes(n)).encode() + b'"' for n in runs)
    issuer = jws(parts[0] + quoted, quoted + parts[1], parts[2])
    kb_jwt = jws(b"{" + quoted + b"}", parts[0], parts[1]) if key_binding else ""
    original = sd_jwt(issuer, [b64url_encode(p + quoted) for p in parts[3:]], kb_jwt)
    assert decode_envelope(encode_envelope(original)) == original


def test_percent_signs_beside_packed_runs_stay_literal() -> None:
    # The decoder fills runs in through a %-template: a '%' of the text must come back as is.
    run = b64url_encode(secrets.token_bytes(32)).encode()
    salt = b64url_encode(secrets.token_bytes(16)).encode()
    part = b'{"a":"%s%%d%.43s","b":"' + run + b'","c":["' + salt + b'","%"]}'
    original = sd_jwt(jws(part, b'{"x":"' + run + b'"}', b"sig"), [b64url_encode(part)], "")
    issuer, disclosures, key_binding = envelope._split(original)
    packed = envelope._build(issuer, disclosures, key_binding, packed=True)
    assert decode_envelope(packed) == original


def test_packing_shrinks_the_envelope() -> None:
    original = resident_register_presentation()
    issuer, disclosures, key_binding = envelope._split(original)
    packed = envelope._build(issuer, disclosures, key_binding, packed=True)
    plain = envelope._build(issuer, disclosures, key_binding, packed=False)
    assert decode_envelope(plain) == decode_envelope(packed) == original
    # Measured over 200 random fixtures: 0.895-0.905 of the unpacked size.
    assert len(packed) < len(plain) * 0.93


def test_prefix_is_in_the_qr_alphanumeric_set() -> None:
    assert re.fullmatch(r"[0-9A-Z $%*+\-./:]+", ENVELOPE_PREFIX)
    assert set(BASE45_ALPHABET) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ENVELOPE_PREFIX + "ABC", True),
        ("JG2:ABC", True),
        ("eyJhbGciOiJFUzI1NiJ9.e30.AA~", False),
        ("", False),
        ("JG:", False),
    ],
)
def test_is_envelope(text: str, expected: bool) -> None:
    assert is_envelope(text) is expected


def test_base45_rfc9285_vectors() -> None:
    # RFC 9285 §4.3 and §4.4.
    assert b45encode(b"AB") == "BB8"
    assert b45encode(b"Hello!!") == "%69 VD92EX0"
    assert b45encode(b"base-45") == "UJCLQE7W581"
    assert b45decode("QED8WEX0") == b"ietf!"
    assert b45decode("FGW") == b"\xff\xff"


# -- refused, each with its code --------------------------------------------------------------

BOMB = deflate(bytes(1_000_000))
REFUSED = {
    "over-length": ("A" * (DEFAULT_LIMITS.max_text_length + 1), ErrorCode.TOO_LARGE),
    "unknown-version": ("JG2:" + b45encode(b"\x00"), ErrorCode.UNSUPPORTED_FORMAT),
    "no-prefix": ("HELLO", ErrorCode.UNSUPPORTED_FORMAT),
    "plain-sd-jwt": ("eyJhbGciOiJFUzI1NiJ9.e30.AA~", ErrorCode.UNSUPPORTED_FORMAT),
    "base45-lowercase": (ENVELOPE_PREFIX + "abc", ErrorCode.MALFORMED),
    "base45-non-ascii": (ENVELOPE_PREFIX + "가나다", ErrorCode.MALFORMED),
    "base45-lone-character": (ENVELOPE_PREFIX + "0000", ErrorCode.MALFORMED),
    "base45-triplet-over-65535": (ENVELOPE_PREFIX + "GGW", ErrorCode.MALFORMED),
    "base45-pair-over-255": (ENVELOPE_PREFIX + "ZZ", ErrorCode.MALFORMED),
    "empty-body": (ENVELOPE_PREFIX, ErrorCode.MALFORMED),
    "pool-past-the-end": (ENVELOPE_PREFIX + b45encode(b"\x10abc"), ErrorCode.MALFORMED),
    "invalid-deflate": (wire(b"", deflated=b"\xff\xff\xff\xff"), ErrorCode.MALFORMED),
    "truncated-deflate": (wire(b"", deflated=deflate(MINIMAL_STRUCTURE)[:-2]), ErrorCode.MALFORMED),
    "bytes-after-deflate": (
        wire(b"", deflated=deflate(MINIMAL_STRUCTURE) + b"\x00"),
        ErrorCode.MALFORMED,
    ),
    "decompression-bomb": (wire(b"", deflated=BOMB), ErrorCode.TOO_LARGE),
    "just-over-decompressed-limit": (
        wire(bytes(DEFAULT_LIMITS.max_decompressed_bytes + 1)),
        ErrorCode.TOO_LARGE,
    ),
    "empty-structure": (wire(b""), ErrorCode.MALFORMED),
    "reserved-flag-bits": (wire(b"\x04" + MINIMAL_STRUCTURE[1:], b"\x00"), ErrorCode.MALFORMED),
    "too-many-disclosures": (wire(b"\x00" + varint(65)), ErrorCode.TOO_LARGE),
    "varint-not-shortest": (wire(b"\x00\x80\x00"), ErrorCode.MALFORMED),
    "varint-too-long": (wire(b"\x00\x80\x80\x80\x01"), ErrorCode.MALFORMED),
    "segment-past-the-end": (wire(b"\x00\x00\x05{}"), ErrorCode.MALFORMED),
    "signature-past-the-pool": (wire(MINIMAL_STRUCTURE), ErrorCode.MALFORMED),
    "bytes-after-structure": (wire(MINIMAL_STRUCTURE + b"\x00", b"\x01"), ErrorCode.MALFORMED),
    "pool-not-used-up": (wire(MINIMAL_STRUCTURE, b"\x01\x02"), ErrorCode.MALFORMED),
    "marker-past-the-pool": (
        wire(b"\x02\x00" + text_part(b'{"a":"\xff"}') + text_part(b"{}") + varint(1), b"\x01"),
        ErrorCode.MALFORMED,
    ),
    "markers-past-the-pool": (
        wire(b"\x02\x00" + text_part(b"\xfe" * 9000) + text_part(b"{}") + varint(1), b"\x01"),
        ErrorCode.MALFORMED,
    ),
    "empty-part": (
        wire(b"\x00\x00" + text_part(b"") + text_part(b"{}") + varint(1), b"\x01"),
        ErrorCode.MALFORMED,
    ),
    "missing-kb-jwt": (wire(b"\x01" + MINIMAL_STRUCTURE[1:], b"\x01"), ErrorCode.MALFORMED),
}


@pytest.mark.parametrize(("text", "code"), REFUSED.values(), ids=REFUSED.keys())
def test_refused(text: str, code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as refused:
        decode_envelope(text)
    assert refused.value.code is code


def test_a_part_with_more_markers_than_the_pool_builds_no_layout() -> None:
    """The run formats are built (and cached) only for runs the pool really holds: a hostile
    part cannot make the decoder build and keep formats thousands of codes long."""
    before = envelope._run_layout.cache_info().currsize
    with pytest.raises(VerificationError):
        decode_envelope(REFUSED["markers-past-the-pool"][0])
    assert envelope._run_layout.cache_info().currsize == before


def test_minimal_structure_is_accepted() -> None:
    # The negative cases above are each one change away from this valid envelope.
    assert decode_envelope(wire(MINIMAL_STRUCTURE, b"\x01")) == "e30.e30.AQ~"


def test_decompressed_limit_is_inclusive() -> None:
    header = b"{" * 16_376  # with its 2-byte length, the structure is exactly at the limit
    structure = b"\x00\x00" + text_part(header) + text_part(b"{}") + varint(1)
    assert len(structure) == DEFAULT_LIMITS.max_decompressed_bytes
    assert decode_envelope(wire(structure, b"\x01")).endswith(".e30.AQ~")


def test_disclosure_limit_is_the_callers() -> None:
    text = encode_envelope(resident_register_presentation())
    with pytest.raises(VerificationError) as refused:
        decode_envelope(text, EnvelopeLimits(max_disclosures=2))
    assert refused.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(VerificationError) as refused:
        decode_envelope(text, EnvelopeLimits(max_decompressed_bytes=100))
    assert refused.value.code is ErrorCode.TOO_LARGE
    with pytest.raises(VerificationError) as refused:
        decode_envelope(text, EnvelopeLimits(max_text_length=len(text) - 1))
    assert refused.value.code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize("field", ["max_text_length", "max_decompressed_bytes", "max_disclosures"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        EnvelopeLimits(**{field: 0})


def test_decompression_bomb_is_refused_without_inflating_it() -> None:
    """Memory, not time: the bomb's megabyte is never produced (timings belong in bench/)."""
    tracemalloc.start()
    try:
        with pytest.raises(VerificationError) as refused:
            decode_envelope(wire(b"", deflated=BOMB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code is ErrorCode.TOO_LARGE
    assert peak < 256 * 1024


ENCODE_REFUSED = {
    "no-tilde": ("e30.e30.AQ", ErrorCode.MALFORMED),
    "two-part-jwt": ("e30.e30~", ErrorCode.MALFORMED),
    "four-part-jwt": ("e30.e30.AQ.AQ~", ErrorCode.MALFORMED),
    "empty-signature": ("e30.e30.~", ErrorCode.MALFORMED),
    "empty-disclosure": ("e30.e30.AQ~~", ErrorCode.MALFORMED),
    "non-canonical-base64url": ("e30.e30.AR~", ErrorCode.MALFORMED),
    "padded-base64url": ("e30=.e30.AQ~", ErrorCode.MALFORMED),
    "bad-kb-jwt": ("e30.e30.AQ~e30", ErrorCode.MALFORMED),
    "non-ascii": ("e30.e30.가~", ErrorCode.MALFORMED),
    "too-many-disclosures": ("e30.e30.AQ~" + "AQ~" * 65, ErrorCode.TOO_LARGE),
    "over-qr-capacity": (
        "e30.e30." + b64url_encode(secrets.token_bytes(3000)) + "~",
        ErrorCode.TOO_LARGE,
    ),
}


@pytest.mark.parametrize(("text", "code"), ENCODE_REFUSED.values(), ids=ENCODE_REFUSED.keys())
def test_encode_refuses(text: str, code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as refused:
        encode_envelope(text)
    assert refused.value.code is code


# -- nothing but VerificationError escapes ----------------------------------------------------

VALID = encode_envelope(resident_register_presentation())
ALNUM = st.sampled_from(BASE45_ALPHABET)


def decodes_or_refuses(text: str) -> None:
    try:
        decode_envelope(text)
    except VerificationError as exc:
        assert isinstance(exc.code, ErrorCode)


@settings(max_examples=500)
@given(st.text(max_size=200) | st.text(ALNUM, max_size=400).map(ENVELOPE_PREFIX.__add__))
def test_arbitrary_text(text: str) -> None:
    decodes_or_refuses(text)


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    decodes_or_refuses(ENVELOPE_PREFIX + b45encode(data))


@settings(max_examples=500)
@given(st.binary(max_size=80), st.binary(max_size=400))
def test_arbitrary_structures(pool: bytes, structure: bytes) -> None:
    # Valid DEFLATE around arbitrary bytes: what reaches the structure parser after inflating.
    decodes_or_refuses(wire(structure, pool))


@settings(max_examples=500)
@given(st.data())
def test_mutated_envelopes(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(len(ENVELOPE_PREFIX), len(text) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        char = data.draw(ALNUM)
        if action == "flip":
            text = text[:at] + char + text[at + 1 :]
        elif action == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    decodes_or_refuses(text)


# -- the size target of the issue -------------------------------------------------------------


def test_resident_register_fits_qr_version_25(
    record_property: Callable[[str, object], None],
) -> None:
    qrcode_util = pytest.importorskip("qrcode.util")
    from verifier.qr_image import qr_version

    original = resident_register_presentation()
    text = encode_envelope(original)
    # qrcode's own mode detection puts the whole envelope in alphanumeric mode.
    assert qrcode_util.QRData(text.encode()).mode == qrcode_util.MODE_ALPHA_NUM
    envelope_version, plain_version = qr_version(text), qr_version(original)
    record_property("envelope_chars", len(text))
    record_property("plain_chars", len(original))
    record_property("envelope_qr_version_M", envelope_version)
    record_property("plain_qr_version_M", plain_version)
    assert envelope_version <= 25
    assert plain_version >= 33


# -- the specification agrees with the code ---------------------------------------------------


def test_docs_pin_the_dictionary() -> None:
    spec = DOCS.read_text(encoding="utf-8")
    pinned = re.search(r"SHA-256 of the dictionary: `([0-9a-f]{64})`", spec)
    assert pinned, "docs/qr-envelope.md must state the dictionary's SHA-256"
    assert pinned.group(1) == hashlib.sha256(envelope._DICTIONARY).hexdigest()
    length = re.search(r"It is (\d+) bytes\.", spec)
    assert length and int(length.group(1)) == len(envelope._DICTIONARY)
    listing = re.search(r"```hex\n(?P<hex>[0-9a-f\n]+)```", spec)
    assert listing and bytes.fromhex(listing["hex"].replace("\n", "")) == envelope._DICTIONARY


def test_docs_worked_example_decodes() -> None:
    spec = DOCS.read_text(encoding="utf-8")
    example = re.search(r"```text\nSD-JWT:\n(?P<sd>[^\n]+)\nEnvelope:\n(?P<env>[^\n]+)\n```", spec)
    assert example, "docs/qr-envelope.md must hold the worked example"
    assert decode_envelope(example["env"]) == example["sd"]
    assert decode_envelope(encode_envelope(example["sd"])) == example["sd"]


def test_fixture_is_a_consistent_presentation() -> None:
    # Guards the fixture: the disclosed digests are in `_sd`, and `sd_hash` covers the rest.
    original = resident_register_presentation()
    issuer, *disclosed, kb_jwt = original.split("~")
    payload = json.loads(b64url_decode(issuer.split(".")[1]))
    assert len(payload["_sd"]) == len(RESIDENT_REGISTER_CLAIMS)
    assert [json.loads(b64url_decode(d))[1] for d in disclosed] == list(DISCLOSED)
    assert all(digest(d) in payload["_sd"] for d in disclosed)
    kb_payload = json.loads(b64url_decode(kb_jwt.split(".")[1]))
    assert kb_payload["sd_hash"] == digest(original[: -len(kb_jwt)])


@given(st.binary(max_size=1200))
def test_base45_round_trip_is_exact(data: bytes) -> None:
    text = b45encode(data)
    assert b45decode(text) == data
    assert b45encode(b45decode(text)) == text


@given(st.text(alphabet=BASE45_ALPHABET + "abc\\n가", max_size=60))
def test_base45_decoding_refuses_only_with_verification_errors(text: str) -> None:
    try:
        decoded = b45decode(text)
    except VerificationError as exc:
        assert exc.code == ErrorCode.MALFORMED
    else:
        assert b45encode(decoded) == text


# -- scanner white space: stripped around, the same way as `Verifier.verify`, refused inside ---

_AROUND = ["\r\n", "\n", "\t", " ", " \r\n", "\f\v"]


@pytest.mark.parametrize("padding", _AROUND, ids=repr)
def test_white_space_around_an_envelope_is_stripped(padding: str) -> None:
    presentation = resident_register_presentation()
    text = encode_envelope(presentation)
    assert decode_envelope(padding + text + padding) == presentation
    assert decode_envelope(text + padding) == presentation


def test_white_space_inside_an_envelope_is_refused() -> None:
    text = encode_envelope(resident_register_presentation())
    for inside in (text[:20] + "\n" + text[20:], text[:21] + "\t" + text[21:]):
        with pytest.raises(VerificationError) as caught:
            decode_envelope(inside)
        assert caught.value.code == ErrorCode.MALFORMED


def test_only_ascii_white_space_is_stripped() -> None:
    """What is stripped is listed (docs/qr-envelope.md); other spaces are not a scanner's."""
    assert envelope.SCANNER_WHITESPACE == " \t\n\r\f\v"
    text = encode_envelope(resident_register_presentation())
    with pytest.raises(VerificationError) as caught:
        decode_envelope(text + "\u3000")
    assert caught.value.code == ErrorCode.MALFORMED


def test_the_length_limit_counts_the_envelope_not_its_padding() -> None:
    text = encode_envelope(resident_register_presentation())
    limits = EnvelopeLimits(max_text_length=len(text))
    assert decode_envelope(text + "\r\n", limits) == decode_envelope(text)


@given(st.binary(min_size=1, max_size=64))
def test_base45_text_never_ends_with_a_space(data: bytes) -> None:
    """Why stripping a trailing space is safe: no base45 text ends with the alphabet's space."""
    assert not b45encode(data).endswith(" ")
