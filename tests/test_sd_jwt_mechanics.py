"""SD-JWT mechanics (RFC 9901 §4, §7.1) under tampering: each case names the code it must raise.

The disclosures are built with fixed salts so every case is the same bytes on every run; the
spec's own examples are replayed in ``test_rfc9901_vectors.py``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.encoding import b64url_decode, b64url_encode, json_dumps
from verifier.errors import ErrorCode, VerificationError
from verifier.sd_jwt import (
    MAX_DISCLOSURES,
    SdJwt,
    decode_disclosure,
    decode_disclosures,
    decoy_digest,
    digest,
    encode_disclosure,
    new_salt,
    resolve_claims,
    split_compact,
)

# -- the disclosures the cases are made of -------------------------------------------------


def _disclosure(name: str | None, value: Any, salt: str) -> str:
    return encode_disclosure(name, value, salt=salt).encoded


def _raw(json_text: str) -> str:
    """A disclosure spelled exactly as given, for JSON no well-behaved encoder would write."""
    return b64url_encode(json_text.encode())


GIVEN = _disclosure("given_name", "길동", "2GLC42sKQveCfGfryNRN9w")
GIVEN_OTHER = _disclosure("given_name", "철수", "eluV5Og3gSNII8EYnsxA_A")
FAMILY = _disclosure("family_name", "홍", "6Ij7tM-a5iVPGboS5tmvVA")
KR = _disclosure(None, "KR", "lklxF5jMYlGTPUovMNIvCA")
REGION = _disclosure("region", "서울특별시", "Qg_O64zqAxe412a108iroA")
ADDRESS = _disclosure("address", {"_sd": [digest(REGION)]}, "AJx-095VPrpTtN4QMOqROA")
# Recursive disclosures that repeat a digest the payload already holds (§7.1 step 4).
ADDRESS_REPEATING_GIVEN = _disclosure("address", {"_sd": [digest(GIVEN)]}, "Pc33JM2LchcU_lHggv_ufQ")
NATIONALITIES_REPEATING_KR = _disclosure(
    "nationalities", [{"...": digest(KR)}], "G02NSrQfjFXQ7Io09syajA"
)
# A recursive disclosure whose object already has the name its child discloses.
ADDRESS_CLASHING = _disclosure(
    "address", {"region": "부산광역시", "_sd": [digest(REGION)]}, "nPuoQnkRFq3BIeAm7AnXFA"
)
NAMED_SD = _raw('["yytVbdAPGcgl2rI4C9GSog", "_sd", []]')
NAMED_ELLIPSIS = _raw('["yytVbdAPGcgl2rI4C9GSog", "...", "x"]')
DECOY = digest("not a disclosure")


def _process(payload: dict[str, Any], disclosures: list[str]) -> dict[str, Any]:
    return resolve_claims(payload, decode_disclosures(disclosures))


# -- §7.1 processing: tamper cases -----------------------------------------------------------

TAMPERED_PRESENTATIONS = [
    # §7.1 step 5: every disclosure must be reachable from the payload.
    pytest.param(
        {"_sd": [digest(GIVEN)]},
        [GIVEN, FAMILY],
        ErrorCode.DISCLOSURE_UNREFERENCED,
        id="unreferenced-object-disclosure",
    ),
    pytest.param(
        {"nationalities": ["US"]},
        [KR],
        ErrorCode.DISCLOSURE_UNREFERENCED,
        id="unreferenced-array-element-disclosure",
    ),
    pytest.param({}, [GIVEN], ErrorCode.DISCLOSURE_UNREFERENCED, id="payload-without-digests"),
    pytest.param(
        {"_sd": [digest(ADDRESS)]},
        [REGION],
        ErrorCode.DISCLOSURE_UNREFERENCED,
        id="child-disclosure-without-its-parent",  # §4.2.6: it must "connect" to the payload
    ),
    pytest.param(
        {"note": digest(GIVEN)},
        [GIVEN],
        ErrorCode.DISCLOSURE_UNREFERENCED,
        id="digest-as-a-plain-claim-value",
    ),
    # The same disclosure twice (§7.1 step 3, one digest per disclosure).
    pytest.param(
        {"_sd": [digest(GIVEN)]},
        [GIVEN, GIVEN],
        ErrorCode.DISCLOSURE_DUPLICATED,
        id="same-disclosure-twice",
    ),
    pytest.param(
        {"nationalities": [{"...": digest(KR)}]},
        [KR, GIVEN, KR],
        ErrorCode.DISCLOSURE_DUPLICATED,
        id="same-array-element-disclosure-twice",
    ),
    # §7.1 step 4: a digest encountered twice, directly or via a recursive disclosure.
    pytest.param(
        {"_sd": [digest(GIVEN), digest(GIVEN)]},
        [GIVEN],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-twice-in-one-sd",
    ),
    pytest.param(
        {"_sd": [DECOY, DECOY]}, [], ErrorCode.DISCLOSURE_BAD_DIGEST, id="decoy-digest-twice"
    ),
    pytest.param(
        {"_sd": [digest(GIVEN)], "address": {"_sd": [digest(GIVEN)]}},
        [GIVEN],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-in-two-objects",
    ),
    pytest.param(
        {"_sd": [DECOY], "nationalities": [{"...": DECOY}]},
        [],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-in-sd-and-in-an-array",
    ),
    pytest.param(
        {"nationalities": [{"...": digest(KR)}, {"...": digest(KR)}]},
        [KR],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-twice-in-one-array",
    ),
    pytest.param(
        {"_sd": [digest(GIVEN), digest(ADDRESS_REPEATING_GIVEN)]},
        [GIVEN, ADDRESS_REPEATING_GIVEN],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-repeated-inside-a-recursive-disclosure",
    ),
    pytest.param(
        {"_sd": [digest(NATIONALITIES_REPEATING_KR)], "former": [{"...": digest(KR)}]},
        [NATIONALITIES_REPEATING_KR, KR],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="array-digest-repeated-inside-a-recursive-disclosure",
    ),
    # §4.2.4.1: `_sd` is an array of digest strings.
    pytest.param(
        {"_sd": digest(GIVEN)}, [GIVEN], ErrorCode.DISCLOSURE_BAD_DIGEST, id="sd-is-a-string"
    ),
    pytest.param(
        {"_sd": {"d": digest(GIVEN)}},
        [GIVEN],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="sd-is-an-object",
    ),
    pytest.param({"_sd": None}, [], ErrorCode.DISCLOSURE_BAD_DIGEST, id="sd-is-null"),
    pytest.param(
        {"address": {"_sd": 1}}, [], ErrorCode.DISCLOSURE_BAD_DIGEST, id="nested-sd-is-a-number"
    ),
    pytest.param({"_sd": [1]}, [], ErrorCode.DISCLOSURE_BAD_DIGEST, id="digest-is-a-number"),
    pytest.param({"_sd": [None]}, [], ErrorCode.DISCLOSURE_BAD_DIGEST, id="digest-is-null"),
    pytest.param(
        {"_sd": [[digest(GIVEN)]]}, [GIVEN], ErrorCode.DISCLOSURE_BAD_DIGEST, id="digest-in-a-list"
    ),
    pytest.param({"_sd": [""]}, [], ErrorCode.DISCLOSURE_BAD_DIGEST, id="digest-is-empty"),
    pytest.param(
        {"_sd": [digest(GIVEN)[:-1]]},
        [],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-of-42-chars",
    ),
    pytest.param(
        {"_sd": [digest(GIVEN) + "A"]},
        [],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-of-44-chars",
    ),
    pytest.param(
        {"_sd": [digest(GIVEN) + "="]},
        [],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-padded",
    ),
    pytest.param(
        # §4.2.3: the digest is base64url, never the hex form.
        {"_sd": [hashlib.sha256(GIVEN.encode()).hexdigest()]},
        [],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="digest-as-hex",
    ),
    pytest.param(
        {"nationalities": [{"...": 1}]},
        [],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="array-digest-is-a-number",
    ),
    pytest.param(
        {"nationalities": [{"...": "KR"}]},
        [],
        ErrorCode.DISCLOSURE_BAD_DIGEST,
        id="array-digest-too-short",
    ),
    # §4.1.1 / §7.1 step 2.4: only the hash we understand.
    *(
        pytest.param(
            {"_sd": [digest(GIVEN)], "_sd_alg": alg},
            [GIVEN],
            ErrorCode.DISCLOSURE_BAD_DIGEST,
            id=f"sd-alg-{label}",
        )
        for label, alg in [
            ("sha-512", "sha-512"),
            ("upper-case", "SHA-256"),
            ("without-dash", "sha256"),
            ("none", "none"),
            ("null", None),
            ("number", 256),
            ("list", ["sha-256"]),
        ]
    ),
    # §4.2.1 / §7.1 step 3.3.2: reserved names and names already present.
    pytest.param(
        {"_sd": [digest(NAMED_SD)]},
        [NAMED_SD],
        ErrorCode.DISCLOSURE_RESERVED_NAME,
        id="disclosure-named-sd",
    ),
    pytest.param(
        {"_sd": [digest(NAMED_ELLIPSIS)]},
        [NAMED_ELLIPSIS],
        ErrorCode.DISCLOSURE_RESERVED_NAME,
        id="disclosure-named-ellipsis",
    ),
    pytest.param(
        {"given_name": "Alice", "_sd": [digest(GIVEN)]},
        [GIVEN],
        ErrorCode.DISCLOSURE_RESERVED_NAME,
        id="name-already-a-plaintext-claim",
    ),
    pytest.param(
        {"address": {"region": "부산광역시", "_sd": [digest(REGION)]}},
        [REGION],
        ErrorCode.DISCLOSURE_RESERVED_NAME,
        id="name-already-a-plaintext-claim-nested",
    ),
    pytest.param(
        {"_sd": [digest(ADDRESS_CLASHING)]},
        [ADDRESS_CLASHING, REGION],
        ErrorCode.DISCLOSURE_RESERVED_NAME,
        id="name-already-a-claim-inside-a-recursive-disclosure",
    ),
    pytest.param(
        {"_sd": [digest(GIVEN), digest(GIVEN_OTHER)]},
        [GIVEN, GIVEN_OTHER],
        ErrorCode.DISCLOSURE_RESERVED_NAME,
        id="two-disclosures-of-one-name",
    ),
    # §7.1 steps 3.3.2.1 and 3.3.3.1: the disclosure's shape must fit where it is referenced.
    pytest.param(
        {"_sd": [digest(KR)]}, [KR], ErrorCode.MALFORMED, id="array-element-disclosure-in-sd"
    ),
    pytest.param(
        {"nationalities": [{"...": digest(GIVEN)}]},
        [GIVEN],
        ErrorCode.MALFORMED,
        id="object-disclosure-in-an-array",
    ),
    pytest.param(
        {"nationalities": [{"...": digest(KR), "note": "x"}]},
        [KR],
        ErrorCode.MALFORMED,
        id="array-digest-object-with-another-key",  # §4.2.4.2: no other keys
    ),
]


@pytest.mark.parametrize(("payload", "disclosures", "code"), TAMPERED_PRESENTATIONS)
def test_tampered_presentation_is_refused(
    payload: dict[str, Any], disclosures: list[str], code: ErrorCode
) -> None:
    with pytest.raises(VerificationError) as caught:
        _process(payload, disclosures)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("payload", "disclosures", "processed"),
    [
        pytest.param(
            {"_sd": [digest(GIVEN), DECOY], "_sd_alg": "sha-256"},
            [GIVEN],
            {"given_name": "길동"},
            id="decoy-beside-a-disclosed-claim",
        ),
        pytest.param(
            {"nationalities": [{"...": DECOY}, {"...": digest(KR)}, "JP"]},
            [KR],
            {"nationalities": ["KR", "JP"]},
            id="decoy-array-element-dropped",
        ),
        pytest.param(
            {"_sd": [digest(ADDRESS)]},
            [ADDRESS, REGION],
            {"address": {"region": "서울특별시"}},
            id="recursive-disclosure",
        ),
        pytest.param(
            {"_sd": [digest(ADDRESS)]},
            [ADDRESS],
            {"address": {}},
            id="recursive-disclosure-children-withheld",  # §7.1 step 3.5: an empty object
        ),
        pytest.param(
            {"_sd": [], "sub": "x"}, [], {"sub": "x"}, id="empty-sd-array"
        ),  # §4.2.4.1: MAY be empty
        pytest.param(
            {"nationalities": [{"...": digest(KR)}]},
            [KR],
            {"nationalities": ["KR"]},
            id="disclosures-in-any-order",
        ),
    ],
)
def test_well_formed_presentation_is_processed(
    payload: dict[str, Any], disclosures: list[str], processed: dict[str, Any]
) -> None:
    assert _process(payload, disclosures) == processed
    assert _process(payload, list(reversed(disclosures))) == processed


def test_processing_leaves_the_payload_unchanged() -> None:
    payload = {"_sd": [digest(ADDRESS)], "nationalities": [{"...": digest(KR)}, "JP"]}
    before = copy.deepcopy(payload)
    _process(payload, [ADDRESS, REGION, KR])
    assert payload == before


def test_deep_chain_of_recursive_disclosures_is_too_large() -> None:
    nested: Any = {"leaf": True}
    chain: list[str] = []
    for index in range(20):  # well under MAX_DISCLOSURES, each disclosure 30 levels deep
        for _ in range(29):
            nested = {"n": nested}
        chain.append(_disclosure(f"c{index}", nested, f"salt-{index:017d}"))
        nested = {"_sd": [digest(chain[-1])]}
    presentation = split_compact(SdJwt("h.p.s", tuple(chain), None).serialize())
    with pytest.raises(VerificationError) as caught:
        _process(nested, list(presentation.disclosures))
    assert caught.value.code == ErrorCode.TOO_LARGE


# -- disclosures: one canonical spelling, one JSON shape ----------------------------------------

# Disclosures whose canonical spelling exercises the base64url corner cases.
_TWO_SPARE_CHARS = _disclosure("note", "??>>", "2GLC42sKQveCfGfryNRN9w")  # length = 2 (mod 4)
_DASH_AND_UNDERSCORE = _disclosure("note", "~~~???", "2GLC42sKQveCfGfryNRN9w")


def _padded(canonical: str) -> str:
    assert len(canonical) % 4
    return canonical + "=" * (-len(canonical) % 4)


def _standard_alphabet(canonical: str) -> str:
    assert "-" in canonical
    assert "_" in canonical
    return canonical.translate(str.maketrans("-_", "+/"))


def _dirty_trailing_bits(canonical: str) -> str:
    assert len(canonical) % 4 == 2  # the last character carries 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return canonical[:-1] + alphabet[alphabet.index(canonical[-1]) | 1]


def test_non_canonical_spellings_carry_the_same_bytes() -> None:
    """The spellings below differ only in encoding, so their refusal is about the spelling."""
    for canonical, spelled in [
        (_TWO_SPARE_CHARS, _padded(_TWO_SPARE_CHARS)),
        (_DASH_AND_UNDERSCORE, _standard_alphabet(_DASH_AND_UNDERSCORE)),
        (_TWO_SPARE_CHARS, _dirty_trailing_bits(_TWO_SPARE_CHARS)),
    ]:
        assert spelled != canonical
        lenient = base64.b64decode(spelled.translate(str.maketrans("-_", "+/")) + "==")
        assert lenient == b64url_decode(canonical)


MALFORMED_DISCLOSURES = [
    pytest.param(_padded(_TWO_SPARE_CHARS), ErrorCode.MALFORMED, id="base64-padding"),
    pytest.param(
        _standard_alphabet(_DASH_AND_UNDERSCORE), ErrorCode.MALFORMED, id="base64-plus-and-slash"
    ),
    pytest.param(
        _dirty_trailing_bits(_TWO_SPARE_CHARS), ErrorCode.MALFORMED, id="base64-trailing-bits"
    ),
    pytest.param(GIVEN[:10] + " " + GIVEN[10:], ErrorCode.MALFORMED, id="base64-with-a-space"),
    pytest.param(GIVEN + "\n", ErrorCode.MALFORMED, id="base64-with-a-newline"),
    pytest.param(
        GIVEN[: len(GIVEN) - (len(GIVEN) - 1) % 4], ErrorCode.MALFORMED, id="base64-length-1-mod-4"
    ),
    pytest.param(GIVEN + ".", ErrorCode.MALFORMED, id="base64-with-a-dot"),
    pytest.param("", ErrorCode.MALFORMED, id="empty"),
    pytest.param(b64url_encode(b"\xff\xfe[]"), ErrorCode.MALFORMED, id="not-utf-8"),
    pytest.param(_raw('["s", "n",'), ErrorCode.MALFORMED, id="json-truncated"),
    pytest.param(
        _raw('["s", "address", {"city": "a", "city": "b"}]'),
        ErrorCode.MALFORMED,
        id="json-duplicate-member",
    ),
    pytest.param(_raw('["s", "n", NaN]'), ErrorCode.MALFORMED, id="json-nan"),
    pytest.param(
        _raw('["s", "n", 9007199254740993]'), ErrorCode.MALFORMED, id="json-integer-beyond-i-json"
    ),
    pytest.param(_raw('{"salt": "s", "n": 1}'), ErrorCode.MALFORMED, id="json-object"),
    pytest.param(_raw('"s"'), ErrorCode.MALFORMED, id="json-string"),
    pytest.param(_raw("null"), ErrorCode.MALFORMED, id="json-null"),
    pytest.param(_raw("[]"), ErrorCode.MALFORMED, id="empty-array"),
    pytest.param(_raw('["s"]'), ErrorCode.MALFORMED, id="one-element"),
    pytest.param(_raw('["s", "n", "v", "x"]'), ErrorCode.MALFORMED, id="four-elements"),
    pytest.param(_raw('[1, "n", "v"]'), ErrorCode.MALFORMED, id="salt-is-a-number"),
    pytest.param(_raw('[null, "v"]'), ErrorCode.MALFORMED, id="array-element-salt-is-null"),
    pytest.param(_raw('[["s"], "v"]'), ErrorCode.MALFORMED, id="array-element-salt-is-a-list"),
    pytest.param(_raw('["s", 1, "v"]'), ErrorCode.MALFORMED, id="name-is-a-number"),
    pytest.param(_raw('["s", null, "v"]'), ErrorCode.MALFORMED, id="name-is-null"),
    pytest.param(_raw('["s", ["n"], "v"]'), ErrorCode.MALFORMED, id="name-is-a-list"),
    pytest.param(NAMED_SD, ErrorCode.DISCLOSURE_RESERVED_NAME, id="name-is-sd"),
    pytest.param(NAMED_ELLIPSIS, ErrorCode.DISCLOSURE_RESERVED_NAME, id="name-is-ellipsis"),
]


@pytest.mark.parametrize(("encoded", "code"), MALFORMED_DISCLOSURES)
def test_malformed_disclosure_is_refused(encoded: str, code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as caught:
        decode_disclosure(encoded)
    assert caught.value.code == code
    with pytest.raises(VerificationError) as caught:
        decode_disclosures([GIVEN, encoded])
    assert caught.value.code == code


# -- the compact form -------------------------------------------------------------------------

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
KB_JWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImtiK2p3dCJ9.eyJub25jZSI6Im4ifQ.c2ln"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("", ErrorCode.MALFORMED, id="empty"),
        pytest.param(JWT, ErrorCode.MALFORMED, id="no-tilde"),
        pytest.param("~", ErrorCode.MALFORMED, id="only-a-tilde"),
        pytest.param(f"~{GIVEN}~", ErrorCode.MALFORMED, id="empty-issuer-jwt"),
        pytest.param(f"{JWT}~~{GIVEN}~", ErrorCode.MALFORMED, id="empty-disclosure-part"),
        pytest.param(f"{JWT}~{GIVEN}~~", ErrorCode.MALFORMED, id="empty-last-disclosure"),
        pytest.param(f"{JWT}~~", ErrorCode.MALFORMED, id="double-tilde"),
        pytest.param(
            JWT + "~" + f"{GIVEN}~" * (MAX_DISCLOSURES + 1),
            ErrorCode.TOO_LARGE,
            id="one-disclosure-over-the-limit",
        ),
        pytest.param(
            JWT + "~" + f"{GIVEN}~" * (MAX_DISCLOSURES + 1) + KB_JWT,
            ErrorCode.TOO_LARGE,
            id="one-disclosure-over-the-limit-with-kb-jwt",
        ),
    ],
)
def test_malformed_compact_form_is_refused(text: str, code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as caught:
        split_compact(text)
    assert caught.value.code == code


@pytest.mark.parametrize("kb_jwt", [None, KB_JWT], ids=["sd-jwt", "sd-jwt-kb"])
def test_disclosure_limit_is_inclusive(kb_jwt: str | None) -> None:
    at_limit = SdJwt(JWT, (GIVEN,) * MAX_DISCLOSURES, kb_jwt).serialize()
    assert len(split_compact(at_limit).disclosures) == MAX_DISCLOSURES
    with pytest.raises(VerificationError) as caught:
        split_compact(SdJwt(JWT, (GIVEN,) * 3, kb_jwt).serialize(), max_disclosures=2)
    assert caught.value.code == ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    "sd_jwt",
    [
        pytest.param(SdJwt(JWT, (), None), id="no-disclosures"),
        pytest.param(SdJwt(JWT, (GIVEN, KR, ADDRESS), None), id="disclosures"),
        pytest.param(SdJwt(JWT, (), KB_JWT), id="kb-jwt-only"),
        pytest.param(SdJwt(JWT, (GIVEN, KR, ADDRESS), KB_JWT), id="disclosures-and-kb-jwt"),
    ],
)
def test_split_compact_inverts_serialize(sd_jwt: SdJwt) -> None:
    text = sd_jwt.serialize()
    assert split_compact(text) == sd_jwt
    assert split_compact(text).serialize() == text
    # §4.3.1: what `sd_hash` covers always ends with the separator and never holds the KB-JWT.
    assert sd_jwt.without_key_binding().endswith("~")
    assert split_compact(sd_jwt.without_key_binding()) == SdJwt(JWT, sd_jwt.disclosures, None)


# -- encoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("given_name", "길동", id="korean-string"),
        pytest.param("address", {"region": "서울특별시", "zip": "03154"}, id="object"),
        pytest.param("nationalities", ["KR", "US"], id="array"),
        pytest.param("age_over_19", True, id="boolean"),
        pytest.param("updated_at", 1570000000, id="integer"),
        pytest.param("middle_name", None, id="null"),
        pytest.param("", "empty name", id="empty-name"),
        pytest.param(None, "KR", id="array-element"),
        pytest.param(None, {"type": "passport", "number": "M12345678"}, id="array-element-object"),
    ],
)
def test_encode_then_decode_disclosure(name: str | None, value: Any) -> None:
    encoded = encode_disclosure(name, value, salt="lklxF5jMYlGTPUovMNIvCA")
    decoded = decode_disclosure(encoded.encoded)
    assert decoded == encoded
    assert (decoded.salt, decoded.name, decoded.value) == ("lklxF5jMYlGTPUovMNIvCA", name, value)
    assert decoded.digest == digest(encoded.encoded)
    # jigap writes the compact spelling it signs everywhere else.
    array = [encoded.salt, value] if name is None else [encoded.salt, name, value]
    assert encoded.encoded == b64url_encode(json_dumps(array))


def test_salts_are_22_characters_and_distinct() -> None:
    salts = [new_salt() for _ in range(1000)]
    assert {len(salt) for salt in salts} == {22}
    assert len(set(salts)) == len(salts)
    assert {len(b64url_decode(salt)) for salt in salts} == {16}  # §9.3: 128 bits
    drawn = {encode_disclosure("given_name", "길동").salt for _ in range(1000)}
    assert len(drawn) == 1000
    assert {len(salt) for salt in drawn} == {22}


def test_decoy_digests_look_like_digests() -> None:
    decoys = {decoy_digest() for _ in range(1000)}
    assert len(decoys) == 1000
    assert {len(decoy) for decoy in decoys} == {len(digest(GIVEN))}
    assert _process({"_sd": sorted(decoys)}, []) == {}


# -- properties ---------------------------------------------------------------------------------

_B64URL_AND_TILDE = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~.=", max_size=300
)


def _only_verification_errors(text: str) -> None:
    with contextlib.suppress(VerificationError):
        decode_disclosures(split_compact(text).disclosures)


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_verification_error(text: str) -> None:
    _only_verification_errors(text)


@given(_B64URL_AND_TILDE)
def test_arbitrary_base64url_raises_only_verification_error(text: str) -> None:
    _only_verification_errors(text)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.lists(_JSON | st.binary(max_size=40), max_size=4))
def test_arbitrary_disclosure_content_raises_only_verification_error(
    contents: list[Any],
) -> None:
    """Reach the JSON parser and the shape checks, not just the base64url one."""
    parts = [
        b64url_encode(item if isinstance(item, bytes) else json_dumps(item)) or "A"
        for item in contents
    ]
    _only_verification_errors(SdJwt(JWT, tuple(parts), None).serialize())


_DIGESTS = st.sampled_from([digest(GIVEN), digest(KR), digest(ADDRESS), digest(REGION), DECOY])
_NODES = st.recursive(
    _DIGESTS | st.none() | st.integers() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner | st.fixed_dictionaries({"...": inner}), max_size=4)
        | st.dictionaries(st.sampled_from(["_sd", "_sd_alg", "region", "a"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(
    st.dictionaries(st.sampled_from(["_sd", "_sd_alg", "given_name", "b"]), _NODES, max_size=4),
    st.lists(st.sampled_from([GIVEN, KR, ADDRESS, REGION, GIVEN_OTHER]), max_size=4),
)
def test_arbitrary_payload_raises_only_verification_error(
    payload: dict[str, Any], disclosures: list[str]
) -> None:
    with contextlib.suppress(VerificationError):
        _process(payload, disclosures)
