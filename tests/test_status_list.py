"""Token Status List (draft-ietf-oauth-status-list-20): the draft's vectors, then our refusals.

Vectors: §4.1 (the two worked byte arrays), Appendix C (1-, 2-, 4- and 8-bit lists of 2^20
entries) and the §5.1/§8.2 example token, signed with the example key published with the
draft's generator (src/util.py in github.com/oauth-wg/draft-ietf-oauth-status-list).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import random
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verifier.status_list as status_list_module
import verifier.sync as sync_module
import verifier.trust_store as trust_store_module
from keys.encoding import b64url_decode, b64url_encode, json_dumps
from keys.errors import KeyErrorCode, MalformedError, TrustListError
from keys.jwk import Algorithm, Jwks, SigningKey, public_key_from_jwk
from keys.jws import sign_compact
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from tests._world import ISSUER, STATUS_URI, World
from tests._world import NOW as WORLD_NOW
from verifier import TrustStore
from verifier.errors import ErrorCode, VerificationError, from_key_error
from verifier.status_list import (
    MAX_STATUS_LIST_BYTES,
    MAX_STATUS_LIST_TOKEN_LENGTH,
    STATUS_LIST_CLOCK_SKEW,
    STATUS_LIST_TYP,
    StatusList,
    StatusListSnapshot,
    StatusValue,
    build_status_list_token,
    read_status_list_token,
    read_status_list_token_with_jwks,
)
from verifier.sync import sync_trust_store

NOW = 1_700_000_000
URI = "https://status.example.go.kr/lists/7"
KEY = SigningKey.generate(Algorithm.ES256)
OTHER_KEY = SigningKey.generate(Algorithm.ES256)
ED_KEY = SigningKey.generate(Algorithm.EDDSA)

# -- §4.1: the two worked examples -----------------------------------------------------------

SMALL_VECTORS = [
    pytest.param(
        1,
        [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1],
        "b9a3",
        "78dadbb918000217015d",
        "eNrbuRgAAhcBXQ",
        id="4.1-1bit",
    ),
    pytest.param(
        2,
        [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3],
        "c944f9",
        "78da3be9f2130003df0207",
        "eNo76fITAAPfAgc",
        id="4.1-2bit",
    ),
]

# -- Appendix C: lists of 2^20 entries, all VALID but these ----------------------------------

LONG_SIZE = 2**20
_LST_1_LONG = (
    "eNrt3AENwCAMAEGogklACtKQPg9LugC9k_ACvreiogEAAKkeCQAAAAAAAAAAAAAAAAAAAIBylgQAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAXG9IAAAAAAAAAPwsJAAAAAAAAAAAAAAAvhsSAAAAAAAAAAAA7KpL"
    "AAAAAAAAAAAAAAAAAAAAAJsLCQAAAAAAAAAAADjelAAAAAAAAAAAKjDMAQAAAACAZC8L2AEb"
)

_LST_2_LONG = (
    "eNrt2zENACEQAEEuoaBABP5VIO01fCjIHTMStt9ovGVIAAAAAABAbiEBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAEB5WwIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAID0ugQAAAAAAAAAAAAAAAAAQG12SgAAAAAAAAAAAAAAAAAAAAAAAAAAAOCSIQ"
    "EAAAAAAAAAAAAAAAAAAAAAAAD8ExIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAwJEuAQAAAAAAAAAAAAAA"
    "AAAAAAAAAMB9SwIAAAAAAAAAAAAAAAAAAACoYUoAAAAAAAAAAAAAAEBqH81gAQw"
)

_LST_4 = (
    "eNrt0EENgDAQADAIHwImkIIEJEwCUpCEBBQRHOy35Li1EjoOQGabAgAAAAAAAAAAAAAAAAAAACC1SQEAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABADrsCAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADoxaEAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAIIoCgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACArpwKAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGhqVkAzlwIAAAAAiGVRAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAABx3AoAgLpVAQAAAAAAAAAAAAAAwM89rwMAAAAAAAAAAAjsA9xMBMA"
)

_LST_8 = (
    "eNrt0WOQM2kYhtGsbdu2bdu2bdu2bdu2bdu2jVnU1my-SWYm6U5enFPVf7ue97orFYAo7CQBAACQuuckAABStqUEAA"
    "AAAAAAtN6wEgAE71QJAAAAAIrwhwQAAAAAAdtAAgAAAAAAACLwkAQAAAAAAAAAAACUaFcJAACAeJwkAQAAAAAAAABQ"
    "vL4kAAAAWmJwCQAAAAAAAAjAwBIAAAB06ywJoDKQBARpfgkAAAAAAAAAAAAAAAAAAACo50sJAAAAAAAAAOiRcSQAAA"
    "AAgAJNKgEAAG23mgQAAAAAAECw3pUAQvegBAAAAAAAAADduE4CAAAAyjSvBAAQiw8koHjvSABAb-wlARCONyVoxtMS"
    "ZOd0CQAAAOjWDRKQmLckAAAAAACysLYEQGcnSAAAAAAQooUlAABI15kSAIH5RAIgLB9LABC4_SUgGZNIAABAmM6RoL"
    "bTJIASzCIBAEAhfpcAAAAAAABquk8CAAAAAAAAaJl9SvvzBOICAFWmkIBgfSgBAAAANOgrCQAAAAAAAADStK8EAAC0"
    "3gASAAAAAAAAAADFWFUCAAAAMjOaBEADHpYAQjCIBADduFwCAAAAAGitMSSI3BUSAECOHpAA6IHrJQAAAAAAsjeVBA"
    "AAKRpVAorWvwQAAAAAAAAAkKRtJAAAAAAAgCbcLAF0bXUJAAAAoF02kYDg7CYBAAAAAEB6NpQAAAAAAAAAAAAAAEr1"
    "uQQAAF06VgIAAAAAAAAAqDaeBAAQqgMkAAAAAABogQMlAAAAAAAa87MEAAAQiwslAAAAAAAAAAAAAAAAMrOyBAAAie"
    "kv-hcsY0Sgne6QAAAAAAAgaUtJAAAAAAAAAAAAAAAAAAAAAAAAAADwt-"
    "07vjVkAAAAgDy8KgFAUEaSAAAAAJL3vgQAWdhcAgAAoBHDSUDo1pQAAACI2o4SAABZm14CALoyuwQAAPznGQkgZwdL"
    "AAAQukclAAAAAAAAAAAAgKbMKgEAAAAAAAAAAAAAAAAAAECftpYAAAAAAAAAAAAACnaXBAAAAADk7iMJAAAAAAAAAA"
    "Bqe00CAnGbBBG4TAIAgFDdKgFAXCaWAAAAAAAAAAAAAAAAAKAJQwR72XbGAQAAAKAhh0sAAAAAAABQgO8kAAAAAAAA"
    "AAAAACAaM0kAAAC5W0QCAIJ3mAQAxGwxCQAA6nhSAsjZBRIAANEbWQIAAAAAaJE3JACAwA0qAUBIVpKAlphbAiAPp0"
    "iQnKEkAAAAAAAgBP1KAAAAdOl4CQAAAAAAAPjLZBIAAG10RtrPm8_CAEBMTpYAAAAAAIjQYBL8z5QSAAAAAEDYPpUA"
    "ACAsj0gAAADQkHMlAAjHDxIA0Lg9JQAAgHDsLQEAAABAQS6WAAAAgLjNFs2l_RgLAIAEfCEBlGZZCQAAaIHjJACgtl"
    "skAAAozb0SAAAAVFtfAgAAAAAAAAAAAAAAAAAAAAAAAKDDtxIAAAAAVZaTAKB5W0kAANCAsSUgJ0tL0GqHSNBbL0gA"
    "ZflRAgCARG0kQXNmlgCABiwkAQAAAEB25pIAAAAAAAAAAAAAoFh9SwAAAAAAADWNmOSrpjFsEoaRgDKcF9Q1dxsEAA"
    "AAAAAAAAAAAAAAgPZ6SQIAAAAAAAAAgChMLgEAAAAAAAAAqZlQAsK2qQQAAAAAAAD06XUJAAAAqG9bCQAAgLD9IgEA"
    "AAAAAAAAAAAAAAAAAEBNe0gAAAAAAAAAAEBPHSEBAAAAlOZtCYA4fS8B0GFRCQAo0gISAOTgNwmC840EAAAAAAAAAA"
    "AAAAAAAAAAUJydJfjXPBIAAAAAAAAAAAAAAABk6WwJAAAAAAAAAAAAAAAAqG8UCQAAgPpOlAAAIA83SQAANWwc9HUj"
    "GAgAAAAAAACAusaSAAAAAAAAAAAAAAAAAAAAAAAAAAAAqHKVBACQjxklAAAAAAAAAKBHxpQAAAAAACBME0lAdlaUAA"
    "Cyt7sEAAAA0Nl0EgAAAAAAAAAAAABA-"
    "8wgAQAAAAAAAKU4SgKgUtlBAgAAAAAAAAAAgMCMLwEE51kJICdzSgCJGl2CsE0tAQAA0L11JQAAAAAAAAjUOhIAAAA"
    "AAAAAAAAAAGTqeQkAAAAAAAAAAAAAKM8SEjTrJwkAAAAAAACocqQEULgVJAAAACjDUxJUKgtKAAAAqbpRAgCA0n0mA"
    "QAAAABAGzwmAUCTLpUAAAAAAAAAAEjZNRIAAAAAAAAAAAAAAAAAAAAA8I-vJaAlhpQAAAAAAHrvzjJ-OqCuuVlLAoj"
    "P8BJAr70sQZVDJYAgXS0BAAAAAAAAAAAAtMnyEgAAAAAAFONKCQAAAAAAAADorc0kAAAAAAAAgDqOlgAAAAAAAAAAA"
    "ADIwv0SAAAAAAAAAAAAAADBuV0CIFVDSwAAAABAAI6RAAAAAGIwrQSEZAsJAABouRclAAAAAKDDrxIAAAA0bkkJgFi"
    "MKwEAAAAAAHQyhwRk7h4JAAAAAAAAAAAgatdKAACUYj0JAAAAAAAAAAAAQnORBLTFJRIAAAAAkIaDJAAAAJryngQAA"
    "AAAAAAAAAA98oQEAAAAAAAAAEC2zpcgWY9LQKL2kwAgGK9IAAAAAPHaRQIAAAAAAAAAAADIxyoSAAAAAAAAAAAAAAD"
    "QFotLAECz_gQ1PX-B"
)

# C.4 lists one index per 8-bit value, in value order.
_C4_INDICES = (
    "233478 52451 576778 513575 468106 292632 214947 182323 884834 66653 62489 196493 "
    "458517 487925 55649 416992 879796 462297 942059 583408 13628 334829 886286 713557 "
    "582738 326064 451545 705889 214350 194502 796765 202828 752834 721327 554740 91122 "
    "963483 261779 793844 165255 614839 758403 403258 145867 96100 477937 606890 167335 "
    "488197 211815 797182 582952 950870 765108 341110 776325 745056 439368 559893 149741 "
    "358903 513405 342679 969429 795775 566121 460566 680070 117310 480348 67319 661552 "
    "841303 561493 138807 442463 659927 445910 1046963 829700 962282 299623 555493 292826 "
    "517215 551009 898490 837603 759161 459948 290102 1034977 190650 98810 229950 320531 "
    "335506 885333 133227 806915 800313 981571 527253 24077 240232 559572 713399 233941 "
    "615514 911768 331680 951527 6805 552366 374660 223159 625884 417146 320527 784154 "
    "338792 1199 679804 1024680 40845 234603 761225 644903 502167 121477 505144 165165 "
    "179628 1019195 145149 263738 269256 996739 346296 555864 887384 444173 421844 653716 "
    "836747 783119 918762 946835 253764 519895 471224 134272 709016 44112 482585 461829 "
    "15080 148883 123467 480125 141348 65877 692958 148598 499131 584009 1017987 449287 "
    "277478 991262 509602 991896 853666 399318 197815 203278 903979 743015 888308 862143 "
    "979421 113605 206397 127113 844358 711569 229153 521470 401793 398896 940810 293983 "
    "884749 384802 584151 970201 523882 158093 929312 205329 106091 30949 195586 495723 "
    "348779 852312 1018463 1009481 448260 841042 122967 345269 794764 4520 818773 556171 "
    "954221 598210 887110 1020623 324632 398244 622241 456551 122648 127837 657676 119884 "
    "105156 999897 330160 119285 168005 389703 143699 142524 493258 846778 251420 516351 "
    "83344 171931 879178 663475 546865 428362 658891 500560 557034 830023 274471 629139 "
    "958869 663071 152133 19535 "
)
_INDICES_8 = [int(index) for index in _C4_INDICES.split()]


def _entries(text: str) -> dict[int, int]:
    """``"index=value index=value"`` as the appendix lists them."""
    return {int(i): int(v) for i, v in (pair.split("=") for pair in text.split())}


LONG_VECTORS = [
    pytest.param(
        1,
        _entries(
            "0=1 1993=1 25460=1 159495=1 495669=1 554353=1 645645=1 723232=1 854545=1 934534=1"
            " 1000345=1"
        ),
        _LST_1_LONG,
        id="C.1-1bit",
    ),
    pytest.param(
        2,
        _entries(
            "0=1 1993=2 25460=1 159495=3 495669=1 554353=1 645645=2 723232=1 854545=1 934534=2"
            " 1000345=3"
        ),
        _LST_2_LONG,
        id="C.2-2bit",
    ),
    pytest.param(
        4,
        _entries(
            "0=1 1993=2 35460=3 459495=4 595669=5 754353=6 845645=7 923232=8 924445=9 934534=10"
            " 1004534=11 1000345=12 1030203=13 1030204=14 1030205=15"
        ),
        _LST_4,
        id="C.3-4bit",
    ),
    pytest.param(
        8, {index: value for value, index in enumerate(_INDICES_8)}, _LST_8, id="C.4-8bit"
    ),
]

# -- §5.1 / §8.2: the example Status List Token ----------------------------------------------

DRAFT_EXAMPLE_KEY = public_key_from_jwk(
    {
        "kty": "EC",
        "crv": "P-256",
        "x": "I3HWm_0Ds1dPMI-IWmf4mBmH-YaeAVbPVu7vB27CxXo",
        "y": "6N_d5Elj9bs1htgV3okJKIdbHEpkgTmAluYKJemzn1M",
    }
)
DRAFT_EXAMPLE_TOKEN = (
    "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEyIiwidHlwIjoic3RhdHVzbGlzdCtqd3QifQ.e"
    "yJleHAiOjIyOTE3MjAxNzAsImlhdCI6MTY4NjkyMDE3MCwiaXNzIjoiaHR0cHM6Ly9le"
    "GFtcGxlLmNvbSIsInN0YXR1c19saXN0Ijp7ImJpdHMiOjEsImxzdCI6ImVOcmJ1UmdBQ"
    "WhjQlhRIn0sInN1YiI6Imh0dHBzOi8vZXhhbXBsZS5jb20vc3RhdHVzbGlzdHMvMSIsI"
    "nR0bCI6NDMyMDB9.2lKUUNG503R9htu4aHAYi7vjmr3sgApbfoDvPrl65N3URUO1EYqq"
    "Ql45Jfzd-Av4QzlKa3oVALpLwOEUOq-U_g"
)


def _signed(claims: dict[str, Any], key: SigningKey = KEY, **header: Any) -> str:
    return sign_compact(claims, key, {"typ": STATUS_LIST_TYP, "kid": key.kid, **header})


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": URI,
        "iat": NOW,
        "exp": NOW + 86_400,
        "ttl": 3_600,
        "status_list": StatusList(16).encode(),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not _ABSENT}


_ABSENT = object()


def _read(token: str, *, now: int = NOW) -> StatusListSnapshot:
    return read_status_list_token(token, KEY.public_key, expected_uri=URI, now=now)


def _lst(raw: bytes) -> dict[str, Any]:
    return {"bits": 2, "lst": b64url_encode(raw)}


# -- the draft's vectors ----------------------------------------------------------------------


@pytest.mark.parametrize(("bits", "statuses", "array_hex", "compressed_hex", "lst"), SMALL_VECTORS)
def test_worked_example_encodes_byte_for_byte(
    bits: int, statuses: list[int], array_hex: str, compressed_hex: str, lst: str
) -> None:
    status_list = StatusList(len(statuses), bits)
    for index, status in enumerate(statuses):
        status_list.set(index, status)
    assert status_list.to_bytes().hex() == array_hex
    assert status_list.encode() == {"bits": bits, "lst": lst}
    assert b64url_decode(lst).hex() == compressed_hex


@pytest.mark.parametrize(("bits", "statuses", "array_hex", "compressed_hex", "lst"), SMALL_VECTORS)
def test_worked_example_reads_back(
    bits: int, statuses: list[int], array_hex: str, compressed_hex: str, lst: str
) -> None:
    del compressed_hex
    snapshot = _read(_signed(_claims(status_list={"bits": bits, "lst": lst})))
    assert snapshot.statuses.hex() == array_hex
    assert [snapshot.status_at(i) for i in range(len(statuses))] == statuses


@pytest.mark.parametrize(("bits", "statuses", "lst"), LONG_VECTORS)
def test_appendix_c_vector_encodes_byte_for_byte(
    bits: int, statuses: dict[int, int], lst: str
) -> None:
    status_list = StatusList(LONG_SIZE, bits)
    for index, status in statuses.items():
        status_list.set(index, status)
    assert status_list.encode() == {"bits": bits, "lst": lst}


@pytest.mark.parametrize(("bits", "statuses", "lst"), LONG_VECTORS)
def test_appendix_c_vector_reads_back(bits: int, statuses: dict[int, int], lst: str) -> None:
    snapshot = _read(_signed(_claims(status_list={"bits": bits, "lst": lst})))
    assert snapshot.size == LONG_SIZE
    assert snapshot.bits == bits
    for index, status in statuses.items():
        assert snapshot.status_at(index) == status
    unset = [i for i in (1, 2, 1992, 1994, LONG_SIZE - 1) if i not in statuses]
    assert all(snapshot.status_at(i) == 0 for i in unset)


def test_draft_example_token_verifies_with_the_example_key() -> None:
    # Its `kid` is "12", not a thumbprint: the direct reader trusts the key it is given.
    snapshot = read_status_list_token(
        DRAFT_EXAMPLE_TOKEN,
        DRAFT_EXAMPLE_KEY,
        expected_uri="https://example.com/statuslists/1",
        now=1686920170,
    )
    assert (snapshot.uri, snapshot.issued_at, snapshot.expires_at, snapshot.ttl) == (
        "https://example.com/statuslists/1",
        1686920170,
        2291720170,
        43200,
    )
    assert (snapshot.bits, snapshot.statuses) == (1, bytes([0xB9, 0xA3]))


def test_status_values_are_the_registered_ones() -> None:
    assert [(v.name, v.value) for v in StatusValue] == [
        ("VALID", 0),
        ("INVALID", 1),
        ("SUSPENDED", 2),
    ]


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [KEY, ED_KEY], ids=["ES256", "EdDSA"])
def test_round_trip(key: SigningKey) -> None:
    status_list = StatusList(1000)
    status_list.set(0, StatusValue.INVALID)
    status_list.set(1, StatusValue.SUSPENDED)
    status_list.set(999, StatusValue.INVALID)
    token = build_status_list_token(status_list, URI, key, now=NOW, ttl=600, exp=NOW + 7200)
    snapshot = read_status_list_token(token, key.public_key, expected_uri=URI, now=NOW)
    assert (snapshot.uri, snapshot.issued_at, snapshot.ttl, snapshot.expires_at) == (
        URI,
        NOW,
        600,
        NOW + 7200,
    )
    assert [snapshot.status_at(i) for i in (0, 1, 2, 998, 999)] == [1, 2, 0, 0, 1]
    assert snapshot.size == 1000


def test_token_without_exp_is_read() -> None:
    token = build_status_list_token(StatusList(8), URI, KEY, now=NOW, ttl=60)
    assert _read(token, now=NOW + 10**8).expires_at is None


def test_jwks_variant_chooses_the_key_by_kid() -> None:
    token = build_status_list_token(StatusList(8), URI, ED_KEY, now=NOW, ttl=60)
    jwks = Jwks.of(KEY.public_key, ED_KEY.public_key)
    snapshot = read_status_list_token_with_jwks(token, jwks, expected_uri=URI, now=NOW)
    assert snapshot.size == 8


def test_neighbouring_entries_do_not_disturb_each_other() -> None:
    for bits in (1, 2, 4, 8):
        status_list = StatusList(64, bits)
        top = (1 << bits) - 1
        for index in range(64):
            status_list.set(index, top if index % 2 else 0)
        status_list.set(5, 0)
        assert [status_list.get(i) for i in (4, 5, 6, 7)] == [0, 0, 0, top]


def test_from_bytes_round_trip() -> None:
    status_list = StatusList(12)
    status_list.set(11, 3)
    again = StatusList.from_bytes(status_list.to_bytes())
    assert (again.size, again.get(11)) == (12, 3)


def test_list_exactly_at_the_bound_is_read() -> None:
    snapshot = _read(
        _signed(_claims(status_list=_lst(zlib.compress(bytes(MAX_STATUS_LIST_BYTES)))))
    )
    assert snapshot.status_at(snapshot.size - 1) == 0


# -- refusals -----------------------------------------------------------------------------------


ZEROS = zlib.compress(bytes(4))
PADDED_LST = base64.urlsafe_b64encode(zlib.compress(bytes(8))).decode()  # 11 bytes: "=" follows
REFUSED_CLAIMS = [
    pytest.param(
        _claims(sub="https://status.example.go.kr/lists/8"),
        ErrorCode.STATUS_LIST_INVALID,
        id="other-sub",
    ),
    pytest.param(_claims(sub=_ABSENT), ErrorCode.MALFORMED, id="no-sub"),
    pytest.param(_claims(sub=7), ErrorCode.MALFORMED, id="sub-number"),
    pytest.param(_claims(iat=_ABSENT), ErrorCode.MALFORMED, id="no-iat"),
    pytest.param(_claims(iat=str(NOW)), ErrorCode.MALFORMED, id="iat-string"),
    pytest.param(_claims(iat=float(NOW)), ErrorCode.MALFORMED, id="iat-float"),
    pytest.param(_claims(iat=True), ErrorCode.MALFORMED, id="iat-bool"),
    pytest.param(_claims(iat=-1), ErrorCode.MALFORMED, id="iat-negative"),
    pytest.param(_claims(ttl=_ABSENT), ErrorCode.MALFORMED, id="no-ttl"),
    pytest.param(_claims(ttl=0), ErrorCode.MALFORMED, id="ttl-zero"),
    pytest.param(_claims(ttl="60"), ErrorCode.MALFORMED, id="ttl-string"),
    pytest.param(_claims(ttl=True), ErrorCode.MALFORMED, id="ttl-bool"),
    pytest.param(_claims(exp=None), ErrorCode.MALFORMED, id="exp-null"),
    pytest.param(_claims(exp=NOW), ErrorCode.STATUS_STALE, id="exp-now"),
    pytest.param(
        _claims(iat=NOW + STATUS_LIST_CLOCK_SKEW + 1),
        ErrorCode.STATUS_LIST_INVALID,
        id="iat-future",
    ),
    pytest.param(
        _claims(nbf=NOW + STATUS_LIST_CLOCK_SKEW + 1),
        ErrorCode.STATUS_LIST_INVALID,
        id="nbf-future",
    ),
    pytest.param(_claims(nbf="0"), ErrorCode.MALFORMED, id="nbf-string"),
    pytest.param(_claims(status_list=_ABSENT), ErrorCode.MALFORMED, id="no-status-list"),
    pytest.param(_claims(status_list=[2, "x"]), ErrorCode.MALFORMED, id="status-list-array"),
    pytest.param(
        _claims(status_list={"bits": 3, "lst": b64url_encode(ZEROS)}),
        ErrorCode.MALFORMED,
        id="bits-3",
    ),
    pytest.param(
        _claims(status_list={"bits": True, "lst": b64url_encode(ZEROS)}),
        ErrorCode.MALFORMED,
        id="bits-bool",
    ),
    pytest.param(
        _claims(status_list={"bits": 2.0, "lst": b64url_encode(ZEROS)}),
        ErrorCode.MALFORMED,
        id="bits-float",
    ),
    pytest.param(_claims(status_list={"bits": 2}), ErrorCode.MALFORMED, id="no-lst"),
    pytest.param(
        _claims(status_list={"bits": 2, "lst": ZEROS.hex(), "aggregation_uri": 1}),
        ErrorCode.MALFORMED,
        id="aggregation-uri-number",
    ),
    pytest.param(
        _claims(status_list={"bits": 2, "lst": PADDED_LST}), ErrorCode.MALFORMED, id="lst-padded"
    ),
    pytest.param(
        _claims(status_list={"bits": 2, "lst": "eNo+"}), ErrorCode.MALFORMED, id="lst-not-base64url"
    ),
    pytest.param(_claims(status_list=_lst(ZEROS[2:-4])), ErrorCode.MALFORMED, id="raw-deflate"),
    pytest.param(
        _claims(status_list=_lst(gzip.compress(bytes(4)))), ErrorCode.MALFORMED, id="gzip"
    ),
    pytest.param(_claims(status_list=_lst(ZEROS[:-1])), ErrorCode.MALFORMED, id="truncated"),
    pytest.param(
        _claims(status_list=_lst(ZEROS + b"\x00")), ErrorCode.MALFORMED, id="trailing-byte"
    ),
    pytest.param(_claims(status_list=_lst(ZEROS + ZEROS)), ErrorCode.MALFORMED, id="two-streams"),
    pytest.param(
        _claims(status_list=_lst(ZEROS[:-1] + bytes([ZEROS[-1] ^ 1]))),
        ErrorCode.MALFORMED,
        id="bad-adler32",
    ),
    pytest.param(
        _claims(status_list=_lst(zlib.compress(b""))), ErrorCode.MALFORMED, id="empty-list"
    ),
    pytest.param(
        _claims(status_list=_lst(zlib.compress(bytes(MAX_STATUS_LIST_BYTES + 1)))),
        ErrorCode.TOO_LARGE,
        id="decompression-bomb",
    ),
]


@pytest.mark.parametrize(("claims", "code"), REFUSED_CLAIMS)
def test_refused_claims(claims: dict[str, Any], code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as caught:
        _read(_signed(claims))
    assert caught.value.code is code


def test_exp_boundary_is_exact() -> None:
    token = _signed(_claims(exp=NOW + 100))
    assert _read(token, now=NOW + 99).expires_at == NOW + 100
    with pytest.raises(VerificationError) as caught:
        _read(token, now=NOW + 100)
    assert caught.value.code is ErrorCode.STATUS_STALE


def test_iat_boundary_is_exact() -> None:
    token = _signed(_claims(iat=NOW + STATUS_LIST_CLOCK_SKEW))
    assert _read(token).issued_at == NOW + STATUS_LIST_CLOCK_SKEW
    with pytest.raises(VerificationError) as caught:
        _read(token, now=NOW - 1)
    assert caught.value.code is ErrorCode.STATUS_LIST_INVALID


def _tamper_payload(token: str) -> str:
    header, _, signature = token.split(".")
    payload = b64url_encode(json_dumps(_claims(ttl=7200)))
    return f"{header}.{payload}.{signature}"


REFUSED_TOKENS = [
    pytest.param(
        sign_compact(_claims(), KEY, {"typ": "JWT", "kid": KEY.kid}),
        ErrorCode.WRONG_TOKEN_TYPE,
        id="typ-jwt",
    ),
    pytest.param(
        sign_compact(_claims(), KEY, {"kid": KEY.kid}), ErrorCode.WRONG_TOKEN_TYPE, id="no-typ"
    ),
    pytest.param(_signed(_claims(), OTHER_KEY), ErrorCode.BAD_SIGNATURE, id="other-key"),
    pytest.param(
        _signed(_claims(), ED_KEY), ErrorCode.UNSUPPORTED_ALGORITHM, id="eddsa-for-es256-key"
    ),
    pytest.param(
        _tamper_payload(_signed(_claims())), ErrorCode.BAD_SIGNATURE, id="tampered-payload"
    ),
    pytest.param(
        _signed(_claims(), jwk=KEY.public_key.to_jwk()),
        ErrorCode.UNTRUSTED_KEY_REFERENCE,
        id="embedded-jwk",
    ),
    pytest.param(
        _signed(_claims(), jku="https://evil.example/jwks"),
        ErrorCode.UNTRUSTED_KEY_REFERENCE,
        id="jku",
    ),
    pytest.param(_signed(_claims(), crit=["exp"]), ErrorCode.CRITICAL_HEADER, id="crit"),
    pytest.param(_signed(_claims())[:-1], ErrorCode.MALFORMED, id="signature-not-base64url"),
    pytest.param("a.b", ErrorCode.MALFORMED, id="two-parts"),
    pytest.param("x" * (MAX_STATUS_LIST_TOKEN_LENGTH + 1), ErrorCode.TOO_LARGE, id="too-long"),
    pytest.param(
        _signed(_claims()).rsplit(".", 1)[0] + ".", ErrorCode.BAD_SIGNATURE, id="no-signature"
    ),
]


@pytest.mark.parametrize(("token", "code"), REFUSED_TOKENS)
def test_refused_tokens(token: str, code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as caught:
        _read(token)
    assert caught.value.code is code


def test_payload_that_is_not_an_object_is_malformed() -> None:
    token = sign_compact(b"[1]", KEY, {"typ": STATUS_LIST_TYP})
    with pytest.raises(VerificationError) as caught:
        _read(token)
    assert caught.value.code is ErrorCode.MALFORMED


@pytest.mark.parametrize(
    "header",
    [{"typ": STATUS_LIST_TYP}, {"typ": STATUS_LIST_TYP, "kid": OTHER_KEY.kid}],
    ids=["no-kid", "kid-not-in-jwks"],
)
def test_jwks_variant_refuses_an_unknown_kid(header: dict[str, str]) -> None:
    token = sign_compact(_claims(), KEY, header)
    with pytest.raises(VerificationError) as caught:
        read_status_list_token_with_jwks(token, Jwks.of(KEY.public_key), expected_uri=URI, now=NOW)
    assert caught.value.code is ErrorCode.UNKNOWN_KEY


@pytest.mark.parametrize("index", [-1, 16, 10**12, True], ids=["negative", "size", "huge", "bool"])
def test_index_outside_the_list_is_refused(index: int) -> None:
    snapshot = _read(_signed(_claims()))
    with pytest.raises(VerificationError) as caught:
        snapshot.status_at(index)
    assert caught.value.code is ErrorCode.STATUS_LIST_INVALID


def test_snapshot_repr_leaves_out_the_list() -> None:
    assert "statuses" not in repr(_read(_signed(_claims())))


# -- the issuer side refuses its caller's mistakes --------------------------------------------


@pytest.mark.parametrize(
    ("size", "bits"),
    [(0, 2), (-1, 2), (8, 3), (8, 0), (MAX_STATUS_LIST_BYTES * 4 + 1, 2)],
)
def test_builder_refuses_impossible_lists(size: int, bits: int) -> None:
    with pytest.raises(ValueError, match=r"bits|size"):
        StatusList(size, bits)


def test_builder_refuses_bad_entries() -> None:
    status_list = StatusList(8, 2)
    with pytest.raises(IndexError):
        status_list.set(8, 1)
    with pytest.raises(IndexError):
        status_list.get(-1)
    with pytest.raises(ValueError, match="fit"):
        status_list.set(0, 4)


@pytest.mark.parametrize(("ttl", "exp"), [(0, None), (60, NOW), (60, NOW - 1)])
def test_builder_refuses_bad_times(ttl: int, exp: int | None) -> None:
    with pytest.raises(ValueError, match=r"ttl|exp"):
        build_status_list_token(StatusList(8), URI, KEY, now=NOW, ttl=ttl, exp=exp)


# -- one translation of `keys` errors, complete -------------------------------------------------


def test_translation_keeps_the_detail_and_passes_bugs_through() -> None:
    translated = from_key_error(MalformedError(KeyErrorCode.EMBEDDED_KEY, "names its key"))
    assert (translated.code, translated.detail) == (
        ErrorCode.UNTRUSTED_KEY_REFERENCE,
        "names its key",
    )
    bug = TrustListError(KeyErrorCode.TRUST_LIST_EXPIRED, "not from a token")
    with pytest.raises(TrustListError):
        from_key_error(bug)


def test_public_names_are_guarded() -> None:
    assert sorted(status_list_module.__all__) == [
        "ALLOWED_BITS",
        "MAX_STATUS_LIST_BYTES",
        "MAX_STATUS_LIST_TOKEN_LENGTH",
        "STATUS_LIST_CLOCK_SKEW",
        "STATUS_LIST_TYP",
        "StatusList",
        "StatusListSnapshot",
        "StatusValue",
        "build_status_list_token",
        "decode_status_list_token",
        "read_status_list_token",
        "read_status_list_token_with_jwks",
    ]


# -- nothing from outside raises anything but VerificationError --------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_claim_values = st.fixed_dictionaries(
    {},
    optional={
        "sub": st.sampled_from([URI, "other"]) | _json,
        "iat": st.sampled_from([NOW, NOW + 10**6]) | _json,
        "exp": st.sampled_from([NOW + 1, NOW]) | _json,
        "nbf": _json,
        "ttl": st.sampled_from([1, 0]) | _json,
        "status_list": st.fixed_dictionaries(
            {},
            optional={
                "bits": st.sampled_from([1, 2, 4, 8, 3]) | _json,
                "lst": st.binary(max_size=40).map(b64url_encode)
                | st.binary(max_size=40).map(lambda raw: b64url_encode(zlib.compress(raw)))
                | _json,
                "aggregation_uri": _json,
            },
        )
        | _json,
    },
)
_fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fuzz
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_raises_only_verification_errors(token: str) -> None:
    for candidate in (token, f"{token}.{token}.{token}", ".".join(token.split(".")[:3])):
        with contextlib.suppress(VerificationError):
            _read(candidate)


@_fuzz
@given(_claim_values)
def test_arbitrary_signed_claims_raise_only_verification_errors(claims: dict[str, Any]) -> None:
    try:
        snapshot = _read(_signed(claims))
    except VerificationError:
        return
    assert snapshot.uri == URI
    assert snapshot.size > 0


def test_optional_and_extra_claims_are_accepted() -> None:
    status_list = {**StatusList(8).encode(), "aggregation_uri": "https://status.example.go.kr/all"}
    claims = _claims(nbf=NOW - 1, iss="https://issuer.gov.kr", status_list=status_list)
    assert _read(_signed(claims)).size == 8


# -- national scale: every door a status list passes follows the reader's limit ---------------


def _list_with_revoked(size: int, revoked_share: float, seed: int) -> tuple[StatusList, list[int]]:
    status_list = StatusList(size, 2)
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    revoked = rng.sample(range(size), int(size * revoked_share))
    for index in revoked:
        status_list.set(index, StatusValue.INVALID)
    return status_list, revoked


def _synced_world(tmp_path: Path, status_list: StatusList) -> tuple[World, TrustStore]:
    """A counter that ran `sync` on the trust list and ``status_list``, then loaded its store."""
    world = World()
    anchor = SigningKey.generate()
    entry = world.trusted_issuer(WORLD_NOW - 86400, WORLD_NOW + 86400)
    trust_list = TrustList(
        "https://trust.example", 1, WORLD_NOW, WORLD_NOW + 86400, {ISSUER: entry}
    )
    (tmp_path / "trust-list.jwt").write_text(sign_trust_list(trust_list, anchor))
    (tmp_path / "anchor.jwk").write_bytes(json_dumps(anchor.public_key.to_jwk()))
    token = build_status_list_token(
        status_list, STATUS_URI, world.issuer_key, now=WORLD_NOW, ttl=3600
    )
    (tmp_path / "status.jwt").write_text(token)
    sources = [str(tmp_path / "trust-list.jwt"), str(tmp_path / "status.jwt")]
    sync_trust_store(
        sources, tmp_path / "store", anchor_file=tmp_path / "anchor.jwk", now=WORLD_NOW
    )
    world.store = TrustStore.load(tmp_path / "store", now=WORLD_NOW)
    return world, world.store


@pytest.mark.parametrize(
    ("size", "revoked_share"),
    [
        pytest.param(2**20, 0.04, id="2^20-entries-4%-revoked"),
        pytest.param(2**24, 0.01, id="2^24-entries-1%-revoked", marks=pytest.mark.slow),
    ],
)
def test_a_national_list_is_synced_loaded_and_answers(
    tmp_path: Path, size: int, revoked_share: float
) -> None:
    status_list, revoked = _list_with_revoked(size, revoked_share, seed=size)
    world, store = _synced_world(tmp_path, status_list)
    held = store.status_list(STATUS_URI)
    assert held is not None and held.snapshot.size == size
    assert len(held.token) > 64 * 1024  # what the old intake limit refused
    assert all(held.snapshot.status_at(i) == StatusValue.INVALID for i in revoked)
    assert held.snapshot.statuses == status_list.to_bytes()  # every entry, as the issuer set it
    valid_index = next(
        i for i in range(size) if i not in set(revoked[:1000]) and not status_list.get(i)
    )
    verifier = world.verifier()
    result = verifier.verify(world.present(world.credential(index=valid_index)), now=WORLD_NOW)
    assert result.valid, result.detail
    last_revoked = max(revoked)  # far beyond any list of 64 KiB
    presentation = world.present(world.credential(index=last_revoked))
    assert verifier.verify(presentation, now=WORLD_NOW).error == ErrorCode.REVOKED


def test_the_token_limit_follows_from_the_decompression_limit() -> None:
    """One number, MAX_STATUS_LIST_BYTES; the doors before the reader let through what it reads."""
    assert sync_module.MAX_SOURCE_BYTES >= MAX_STATUS_LIST_TOKEN_LENGTH
    assert trust_store_module.MAX_STORE_FILE_BYTES > MAX_STATUS_LIST_TOKEN_LENGTH
    header = b64url_encode(json_dumps({"alg": "ES256", "typ": STATUS_LIST_TYP, "kid": "k"}))
    at_limit = f"{header}.{'A' * (MAX_STATUS_LIST_TOKEN_LENGTH - len(header) - 4)}.AA"
    assert len(at_limit) == MAX_STATUS_LIST_TOKEN_LENGTH
    store = TrustStore()
    store.add_issuer(ISSUER, Jwks.of(KEY.public_key))
    with pytest.raises(VerificationError) as caught:
        store.add_status_list(URI, at_limit, now=NOW)
    assert caught.value.code == ErrorCode.UNKNOWN_KEY  # read to the kid: not refused for size
    with pytest.raises(VerificationError) as caught:
        store.add_status_list(URI, "A" + at_limit, now=NOW)
    assert caught.value.code == ErrorCode.TOO_LARGE


@pytest.mark.slow
def test_an_incompressible_list_at_the_decompression_limit_fits_the_token_limit() -> None:
    """The worst case the reader accepts: 16 MiB of noise, stored by zlib, base64url twice."""
    noise = random.Random(1).randbytes(MAX_STATUS_LIST_BYTES)  # noqa: S311 - not a secret
    status_list = StatusList.from_bytes(noise)
    token = build_status_list_token(status_list, URI, KEY, now=NOW, ttl=60)
    assert len(token) <= MAX_STATUS_LIST_TOKEN_LENGTH
    store = TrustStore()
    store.add_issuer(ISSUER, Jwks.of(KEY.public_key))
    store.add_status_list(URI, token, fetched_at=NOW, now=NOW)
    held = store.status_list(URI)
    assert held is not None and held.snapshot.size == MAX_STATUS_LIST_BYTES * 4


# -- times that contradict each other: a list fetched in the future ---------------------------


def test_a_list_fetched_in_the_future_is_refused_at_intake() -> None:
    store = TrustStore()
    store.add_issuer(ISSUER, Jwks.of(KEY.public_key))
    token = build_status_list_token(StatusList(16), URI, KEY, now=NOW, ttl=60)
    store.add_status_list(URI, token, fetched_at=NOW + STATUS_LIST_CLOCK_SKEW, now=NOW)
    with pytest.raises(VerificationError) as caught:
        store.add_status_list(URI, token, fetched_at=NOW + STATUS_LIST_CLOCK_SKEW + 1, now=NOW)
    assert caught.value.code == ErrorCode.STATUS_LIST_INVALID


def test_a_saved_list_fetched_in_the_future_is_refused_when_loaded(tmp_path: Path) -> None:
    _synced_world(tmp_path, StatusList(16))
    saved = tmp_path / "store" / "status-lists.json"
    entries = json.loads(saved.read_text())
    entries[STATUS_URI]["fetched_at"] = WORLD_NOW + 3600
    saved.write_text(json.dumps(entries))
    with pytest.raises(VerificationError) as caught:
        TrustStore.load(tmp_path / "store", now=WORLD_NOW)
    assert caught.value.code == ErrorCode.STATUS_LIST_INVALID
    TrustStore.load(tmp_path / "store", now=WORLD_NOW + 3600)  # an hour later, it is not


def test_jigap_verify_sync_takes_a_list_over_64_kib(tmp_path: Path) -> None:
    """The command itself, in a subprocess, on today's clock: what a bank's operator types."""
    now = int(time.time())
    issuer_key, anchor = SigningKey.generate(), SigningKey.generate()
    entry = TrustedIssuer(
        ISSUER,
        {"ko": "주민등록 발급기관", "en": "Resident register office"},
        Jwks.of(issuer_key.public_key),
        frozenset({"urn:jigap:resident-register-extract:1"}),
        now - 86400,
        now + 86400,
    )
    trust_list = TrustList("https://trust.example", 1, now - 60, now + 86400, {ISSUER: entry})
    status_list, _ = _list_with_revoked(2**20, 0.04, seed=20)
    token = build_status_list_token(status_list, STATUS_URI, issuer_key, now=now - 60, ttl=3600)
    assert len(token) > 64 * 1024
    (tmp_path / "anchor.jwk").write_bytes(json_dumps(anchor.public_key.to_jwk()))
    (tmp_path / "trust-list.jwt").write_text(sign_trust_list(trust_list, anchor))
    (tmp_path / "status.jwt").write_text(token)
    store = tmp_path / "store"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("jigap")),
            "verify",
            "sync",
            str(tmp_path / "trust-list.jwt"),
            str(tmp_path / "status.jwt"),
            "--into",
            str(store),
            "--anchor",
            str(tmp_path / "anchor.jwk"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    held = TrustStore.load(store).status_list(STATUS_URI)
    assert held is not None and held.snapshot.statuses == status_list.to_bytes()
