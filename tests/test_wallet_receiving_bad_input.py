"""The wallet's receiving path under bad input, and under broken and hostile issuers.

Every endpoint of receiving and holding meets malformed JSON, wrong types, unknown members,
oversize bodies and bad DPoP proofs and answers its documented code, never a 500 (the
TestClient raises a server error in the test). Offers naming an issuer off the trust list are
refused before that server is sent anything (a real loopback server records what it gets);
issuers that are unreachable or never answer cost at most ``issuer_timeout_seconds``; and a
trusted agency on a real socket answering nonsense, oversized bodies or credentials our verifier
refuses leaves nothing in ``wallet_credentials`` or ``wallet_credential_copies``.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from keys.encoding import b64url_encode
from keys.jwk import Algorithm, SigningKey
from keys.sealing import SealingKeyStore
from keys.store import MIN_SCRYPT_N
from protocols.dpop import make_dpop_proof
from tests._agency import (
    CONFIGURATION_ID,
    CREDENTIAL_PATH,
    DEFERRED_PATH,
    NONCE_PATH,
    NOTIFICATION_PATH,
    OFFER_PATH,
    SECRET_CLAIM,
    TOKEN_PATH,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    Agency,
    Defect,
    closed_port_url,
    hold_trust,
    offer_by_reference,
    offer_by_value,
    serve_agency,
    silent_url,
)
from tests._issuer import Clock
from tests._wallet_service import PASSPHRASE, PUBLIC_URL, START, WalletWorld, wallet_settings
from wallet_api.api.app import create_app
from wallet_api.api.routes.credentials import MAX_PHOTO_BYTES
from wallet_api.deployment import make_deployment
from wallet_api.holder.client import WalletApiError, WalletClient

TIMEOUT = 0.5  # issuer_timeout_seconds: small, so that a silent issuer costs little
SLACK = 1.5  # a loaded 2-core machine's scheduling, on top of the timeout


@dataclass
class Receiving:
    world: WalletWorld
    agency: Agency  # on the trust list, on a real socket; its answers are the test's
    stranger: Agency  # a live server the trust list does not name
    silent: str  # on the trust list: accepts, never answers
    closed: str  # on the trust list: nothing listens

    def phone(self) -> WalletClient:
        phone = self.world.phone()
        phone.register()
        return phone

    def intake(self, phone: WalletClient) -> str:
        return str(phone.hand_over(offer_by_value(self.agency.url))["intake_id"])

    def stored(self) -> tuple[int, int]:
        with self.world.deployment.engine.connect() as connection:
            credentials = connection.execute(text("SELECT count(*) FROM wallet_credentials"))
            copies = connection.execute(text("SELECT count(*) FROM wallet_credential_copies"))
            return int(credentials.scalar_one()), int(copies.scalar_one())

    def intakes(self) -> int:
        with self.world.deployment.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM wallet_intakes")).scalar_one())


@pytest.fixture
def bench(database_url: str, tmp_path: Path) -> Iterator[Receiving]:
    clock = Clock(START)
    with serve_agency(clock) as agency, serve_agency(clock) as stranger, silent_url() as silent:
        closed = closed_port_url()
        settings = wallet_settings(
            database_url,
            tmp_path / "wallet-data",
            allow_http_issuers=True,
            issuer_timeout_seconds=TIMEOUT,
        )
        SealingKeyStore(settings.sealing_dir, PASSPHRASE, scrypt_n=MIN_SCRYPT_N).generate()
        trusted = {agency.url: agency.key, silent: SigningKey.generate()}
        agency.sibling = (silent, trusted[silent])  # another issuer the list trusts
        agency.elsewhere = stranger.url
        trusted[closed] = SigningKey.generate()
        hold_trust(settings.trust_dir, int(START), trusted)
        deployment = make_deployment(settings, clock=clock)  # real sockets to the issuers
        try:
            with TestClient(create_app(deployment=deployment)) as http:
                world = WalletWorld(deployment, http, clock, tmp_path)
                yield Receiving(world, agency, stranger, silent, closed)
        finally:
            deployment.issuer_http.close()
            deployment.engine.dispose()


def _refused(call: Any) -> tuple[int, str]:
    with pytest.raises(WalletApiError) as refused:
        call()
    return refused.value.status, refused.value.error


def _error(response: Any) -> tuple[int, str]:
    assert response.status_code < 500, response.text
    return response.status_code, response.json().get("error", "") if response.content else ""


def _jwk() -> dict[str, Any]:
    return SigningKey.generate().public_key.to_jwk()


# -- every endpoint: bodies ----------------------------------------------------------------

NESTED = b'{"offer_uri": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
JSON, TEXT = "application/json", "text/plain"
Body = bytes | dict[str, Any] | list[Any]
# Per endpoint, bodies it cannot take: "OFFER" and "JWK" stand for a good offer and device key,
# so that each case differs from a good body in one thing only.
_BODIES: dict[str, list[tuple[str, Body, str]]] = {
    "/intakes": [
        ("malformed JSON", b'{"offer_uri": ', JSON),
        ("an array", [], JSON),
        ("null", b"null", JSON),
        ("no body", b"", JSON),
        ("a number", {"offer_uri": 5}, JSON),
        ("a null uri", {"offer_uri": None}, JSON),
        ("a list uri", {"offer_uri": ["OFFER"]}, JSON),
        ("an empty uri", {"offer_uri": ""}, JSON),
        ("a uri too long", {"offer_uri": "x" * 8193}, JSON),
        ("an extra member", {"offer_uri": "OFFER", "copies": 3}, JSON),
        ("JSON sent as text/plain", {"offer_uri": "OFFER"}, TEXT),
        ("deeply nested", NESTED, JSON),
        ("a NUL", b'{"offer_uri": "openid\\u0000"}', JSON),
    ],
    "/intakes/{intake}/accept": [
        ("malformed JSON", b'{"device_keys": [', JSON),
        ("keys a string", {"device_keys": "JWK"}, JSON),
        ("keys numbers", {"device_keys": [1]}, JSON),
        ("no keys", {"device_keys": []}, JSON),
        ("keys missing", {"tx_code": "1234"}, JSON),
        ("101 keys", {"device_keys": ["JWK"] * 101}, JSON),
        ("tx_code a number", {"device_keys": ["JWK"], "tx_code": 1234}, JSON),
        ("tx_code too long", {"device_keys": ["JWK"], "tx_code": "1" * 65}, JSON),
        ("configuration a number", {"device_keys": ["JWK"], "configuration_id": 7}, JSON),
        ("an extra member", {"device_keys": ["JWK"], "copies": 3}, JSON),
        ("JSON sent as text/plain", {"device_keys": ["JWK"]}, TEXT),
    ],
    "/intakes/{intake}/proofs": [
        ("malformed JSON", b'{"signatures": ["', JSON),
        ("a string", {"signatures": "sig"}, JSON),
        ("numbers", {"signatures": [1]}, JSON),
        ("null", {"signatures": [None]}, JSON),
        ("none", {"signatures": []}, JSON),
        ("one too long", {"signatures": ["A" * 201]}, JSON),
        ("an extra member", {"signatures": ["AA"], "keys": []}, JSON),
    ],
}


@pytest.mark.parametrize("path", list(_BODIES))
def test_bodies_not_what_an_endpoint_takes_are_invalid_request(bench: Receiving, path: str) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    seen = len(bench.agency.requests)
    answers = {}
    for name, body, content_type in _BODIES[path]:
        if isinstance(body, bytes):
            content = body
        else:
            raw = json.dumps(body).replace('"OFFER"', json.dumps(offer_by_value(bench.agency.url)))
            content = raw.replace('"JWK"', json.dumps(_jwk())).encode()
        response = phone.send(
            "POST", path.format(intake=intake), content=content, content_type=content_type
        )
        answers[name] = _error(response)
    assert answers == dict.fromkeys(answers, (400, "invalid_request"))
    assert phone.intake(intake)["state"] == "offered"  # nothing moved
    assert len(bench.agency.requests) == seen  # and the agency was not called
    assert bench.intakes() == 1


def test_a_body_where_none_is_taken_is_ignored(bench: Receiving) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    for method, path in [
        ("POST", f"/intakes/{intake}/poll"),
        ("GET", f"/intakes/{intake}"),
        ("GET", "/credentials"),
        ("GET", "/accounts/me/export"),
    ]:
        response = phone.send(method, path, content=b'{"x": [', content_type=JSON)
        assert response.status_code == 200, (method, path, response.text)


def test_device_keys_the_service_cannot_use_are_refused_before_the_agency_is_asked(
    bench: Receiving,
) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    good, eddsa = _jwk(), SigningKey.generate(Algorithm.EDDSA).public_key.to_jwk()
    bodies: dict[str, dict[str, Any]] = {
        "no kty": {"device_keys": [{"crv": "P-256", "x": good["x"], "y": good["y"]}]},
        "a private key": {"device_keys": [{**good, "d": good["x"]}]},
        "an Ed25519 key": {"device_keys": [eddsa]},
        "a point off the curve": {"device_keys": [{**good, "y": good["x"]}]},
        "coordinates as numbers": {"device_keys": [{**good, "x": 1, "y": 2}]},
        "a kid not its thumbprint": {"device_keys": [{**good, "kid": "mine"}]},
        "the same key twice": {"device_keys": [good, good]},
        "more keys than the batch": {"device_keys": [_jwk() for _ in range(11)]},
        "an unknown configuration": {"device_keys": [good], "configuration_id": "nope"},
    }
    seen = len(bench.agency.requests)
    answers = {
        name: _error(phone.send("POST", f"/intakes/{intake}/accept", json=body))
        for name, body in bodies.items()
    }
    assert answers == dict.fromkeys(bodies, (400, "invalid_request"))
    assert len(bench.agency.requests) == seen
    assert phone.intake(intake)["state"] == "offered"


def test_signatures_that_are_not_the_phones_are_refused_and_the_intake_waits(
    bench: Receiving,
) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    made = phone.keys.create_keys(2)
    answer = phone.send(
        "POST", f"/intakes/{intake}/accept", json={"device_keys": [k.to_jwk() for k in made]}
    ).json()
    items = answer["proofs_to_sign"]
    good = [
        b64url_encode(phone.keys.sign(item["key"], item["signing_input"].encode("ascii")))
        for item in items
    ]
    stranger = b64url_encode(SigningKey.generate().sign(items[0]["signing_input"].encode()))
    cases = {
        "one signature short": (good[:1], "invalid_request"),
        "one too many": ([*good, good[0]], "invalid_request"),
        "not base64url": (["!!!!", good[1]], "invalid_signature"),
        "padded base64url": ([good[0] + "=", good[1]], "invalid_signature"),
        "empty": (["", good[1]], "invalid_signature"),
        "another key's signature": ([stranger, good[1]], "invalid_signature"),
        "signatures swapped": ([good[1], good[0]], "invalid_signature"),
    }
    seen = len(bench.agency.requests)
    answers = {
        name: _error(phone.send("POST", f"/intakes/{intake}/proofs", json={"signatures": sent}))
        for name, (sent, _code) in cases.items()
    }
    assert answers == {name: (400, code) for name, (_sent, code) in cases.items()}
    assert len(bench.agency.requests) == seen  # no proof reached the agency
    assert phone.intake(intake)["state"] == "signing"
    # The right signatures still work: each refusal left the intake where it was.
    done = phone.send("POST", f"/intakes/{intake}/proofs", json={"signatures": good})
    assert done.json()["state"] == "done", done.text
    assert bench.stored() == (1, 2)


def test_odd_ids_are_not_found(bench: Receiving) -> None:
    phone = bench.phone()
    ids = ["0" * 32, "x" * 65, "x" * 5000, "%E2%98%83", "..%2Fcredentials", "%20", "%00"]
    answers, expected = {}, {}
    for odd in ids:
        for method, path in [
            ("GET", f"/intakes/{odd}"),
            ("DELETE", f"/intakes/{odd}"),
            ("POST", f"/intakes/{odd}/poll"),
            ("GET", f"/credentials/{odd}"),
            ("DELETE", f"/credentials/{odd}"),
        ]:
            answers[method, path] = _error(phone.send(method, path))
            nul = odd == "%00"  # refused before any route: no column holds it
            expected[method, path] = (400, "invalid_request") if nul else (404, "not_found")
    assert answers == expected


def test_a_step_out_of_order_is_wrong_state(bench: Receiving) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    assert _refused(lambda: phone.call(
        "POST", f"/intakes/{intake}/proofs", json={"signatures": ["AA"]}
    )) == (409, "wrong_state")  # fmt: skip
    phone.accept(intake, copies=1)
    assert _refused(lambda: phone.accept(intake, copies=1)) == (409, "wrong_state")
    assert phone.poll(intake)["state"] == "done"  # nothing deferred: the view, no call


# -- every endpoint: oversize bodies --------------------------------------------------------

ENDPOINTS = [
    ("POST", "/intakes"),
    ("POST", "/intakes/photo"),
    ("GET", "/intakes/{intake}"),
    ("DELETE", "/intakes/{intake}"),
    ("POST", "/intakes/{intake}/accept"),
    ("POST", "/intakes/{intake}/proofs"),
    ("POST", "/intakes/{intake}/poll"),
    ("GET", "/credentials"),
    ("GET", "/credentials/{credential}"),
    ("DELETE", "/credentials/{credential}"),
    ("GET", "/accounts/me/export"),
]
ENDPOINT_IDS = [f"{method} {path}" for method, path in ENDPOINTS]


# Endpoints that read a body: a chunked one is counted as it is read, and refused once over.
# The others never read theirs, so only a declared length over the limit can be refused (and
# nothing of an undeclared one is held in memory).
_READ_BODIES = (
    "/intakes",
    "/intakes/photo",
    "/intakes/{intake}/accept",
    "/intakes/{intake}/proofs",
)


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_an_oversize_body_is_too_large_on_every_endpoint(bench: Receiving, chunked: bool) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    answers = {}
    for method, path in ENDPOINTS:
        photo = path == "/intakes/photo"
        limit = MAX_PHOTO_BYTES if photo else bench.world.deployment.settings.max_body_bytes
        body = b"{" + b" " * limit + b"}"
        content: Any = iter([body[:1000], body[1000:]]) if chunked else body
        target = "0" * 32 if method == "DELETE" else intake  # a chunked one is not refused
        response = phone.send(
            method, path.format(intake=target, credential="0" * 32), content=content,
            content_type="image/png" if photo else "application/json",
        )  # fmt: skip
        answers[f"{method} {path}"] = _error(response)
    expected = {
        f"{method} {path}": (413, "too_large")
        for method, path in ENDPOINTS
        if not chunked or path in _READ_BODIES
    }
    assert {name: answers[name] for name in expected} == expected
    assert phone.intake(intake)["state"] == "offered"
    assert bench.intakes() == 1


# -- every endpoint: DPoP -------------------------------------------------------------------


def _proof(key: SigningKey | Any, method: str, path: str, *, now: int, nonce: str | None) -> str:
    return make_dpop_proof(key, method=method, uri=PUBLIC_URL + path, now=now, nonce=nonce)


@pytest.mark.parametrize(
    ("case", "code", "reason"),
    [
        ("no proof", "invalid_dpop_proof", "header_count"),
        ("replayed", "invalid_dpop_proof", "replay"),
        ("stale", "invalid_dpop_proof", "too_old"),
        ("stale nonce", "use_dpop_nonce", "nonce_stale"),
        ("another device", "invalid_dpop_proof", "unknown_key"),
        ("another endpoint's", "invalid_dpop_proof", "uri_mismatch"),
    ],
)
def test_bad_proofs_are_refused_on_every_endpoint(
    bench: Receiving, case: str, code: str, reason: str
) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    assert phone.device_kid is not None
    device = phone.keys.signer(phone.device_kid)
    http = bench.world.http
    old_nonce = phone.nonce
    if case == "stale nonce":  # handed out, then no longer accepted
        bench.world.clock.advance(2 * bench.world.deployment.settings.nonce_rotate_seconds + 1)
    answers, expected = {}, {}
    for method, template in ENDPOINTS:
        # A DELETE names no real record: its first use below must not remove the intake.
        path = template.format(
            intake="0" * 32 if method == "DELETE" else intake, credential="0" * 32
        )
        now = int(bench.world.clock())
        headers: dict[str, str] = {}
        if case == "replayed":
            headers["DPoP"] = _proof(device, method, path, now=now, nonce=phone.nonce)
            first = http.request(method, path, headers=headers)
            assert first.status_code != 401, (method, path, first.text)
        elif case == "stale":
            headers["DPoP"] = _proof(device, method, path, now=now - 61, nonce=phone.nonce)
        elif case == "stale nonce":
            headers["DPoP"] = _proof(device, method, path, now=now, nonce=old_nonce)
        elif case == "another device":
            stranger = SigningKey.generate()
            headers["DPoP"] = _proof(stranger, method, path, now=now, nonce=phone.nonce)
        elif case == "another endpoint's":
            headers["DPoP"] = _proof(device, method, "/accounts/me", now=now, nonce=phone.nonce)
        response = http.request(method, path, headers=headers)
        name = f"{method} {template}"
        answers[name] = (
            *_error(response),
            response.json()["error_description"],
            response.headers.get("WWW-Authenticate"),
            bool(response.headers.get("DPoP-Nonce")),
        )
        expected[name] = (
            401,
            code,
            f"DPoP proof refused: {reason}",
            f'DPoP error="{code}", algs="ES256"',
            True,
        )
    assert answers == expected
    if case != "stale nonce":  # time moved on there; otherwise the intake is untouched
        assert phone.intake(intake)["state"] == "offered"
    assert bench.stored() == (0, 0)


def test_another_accounts_device_finds_nothing_of_this_account(bench: Receiving) -> None:
    owner = bench.phone()
    intake = bench.intake(owner)
    owner.accept(bench.intake(owner), copies=1)
    [held] = owner.credentials()
    other = bench.phone()
    for method, path in ENDPOINTS:
        if path in ("/intakes", "/intakes/photo"):
            continue
        filled = path.format(intake=intake, credential=held["credential_id"])
        body = {"/accept": {"device_keys": [_jwk()]}, "/proofs": {"signatures": ["AA"]}}
        response = other.send(method, filled, json=body.get(filled[filled.rfind("/") :]))
        if path in ("/credentials", "/accounts/me/export"):
            assert response.status_code == 200
            assert held["credential_id"] not in response.text
            continue
        assert _error(response) == (404, "not_found"), (method, path)
    assert owner.intake(intake)["state"] == "offered"
    assert owner.credential(held["credential_id"])["credential_id"] == held["credential_id"]


# -- offers naming unknown, unreachable or slow issuers -------------------------------------


def test_an_offer_by_value_from_an_untrusted_issuer_is_refused_before_it_is_called(
    bench: Receiving,
) -> None:
    phone = bench.phone()
    offer = offer_by_value(bench.stranger.url)
    assert _refused(lambda: phone.hand_over(offer)) == (403, "untrusted_issuer")
    assert bench.stranger.requests == []  # not even its metadata
    assert bench.intakes() == 0


def test_an_offer_by_reference_at_an_untrusted_origin_is_not_fetched(bench: Receiving) -> None:
    phone = bench.phone()
    # The same host as a trusted agency, another port: another origin.
    offer = offer_by_reference(bench.stranger.url + OFFER_PATH)
    assert _refused(lambda: phone.hand_over(offer)) == (403, "untrusted_issuer")
    assert bench.stranger.requests == []
    assert bench.intakes() == 0


def test_an_offer_by_reference_naming_another_issuer_is_refused(bench: Receiving) -> None:
    phone = bench.phone()
    bench.agency.offer_issuer = bench.stranger.url
    offer = offer_by_reference(bench.agency.url + OFFER_PATH)
    assert _refused(lambda: phone.hand_over(offer)) == (403, "untrusted_issuer")
    assert bench.agency.requests == [("GET", OFFER_PATH)]
    assert bench.stranger.requests == []


def test_an_offer_by_reference_at_a_trusted_agency_is_read(bench: Receiving) -> None:
    phone = bench.phone()
    shown = phone.hand_over(offer_by_reference(bench.agency.url + OFFER_PATH))
    assert shown["issuer"]["id"] == bench.agency.url
    assert shown["credentials"][0]["configuration_id"] == CONFIGURATION_ID


def test_a_trusted_issuer_that_is_unreachable_is_issuer_unavailable_at_once(
    bench: Receiving,
) -> None:
    phone = bench.phone()
    started = time.monotonic()
    status = _refused(lambda: phone.hand_over(offer_by_value(bench.closed)))
    assert status == (502, "issuer_unavailable")
    assert time.monotonic() - started < TIMEOUT  # refused, not waited for
    assert bench.intakes() == 0


def test_a_trusted_issuer_that_never_answers_costs_the_timeout(bench: Receiving) -> None:
    phone = bench.phone()
    started = time.monotonic()
    status = _refused(lambda: phone.hand_over(offer_by_value(bench.silent)))
    elapsed = time.monotonic() - started
    assert status == (502, "issuer_unavailable")
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK, elapsed
    assert bench.intakes() == 0


@pytest.mark.parametrize(
    "defect",
    [Defect.MALFORMED_JSON, Defect.OVERSIZED, Defect.SILENT, Defect.TRICKLE, Defect.SERVER_ERROR],
)
def test_an_agency_whose_metadata_is_broken_is_issuer_unavailable(
    bench: Receiving, defect: Defect
) -> None:
    phone = bench.phone()
    bench.agency.defect(WELL_KNOWN_CREDENTIAL_ISSUER, defect)
    started = time.monotonic()
    status = _refused(lambda: phone.hand_over(offer_by_value(bench.agency.url)))
    assert status == (502, "issuer_unavailable")
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert bench.intakes() == 0


# -- photos -----------------------------------------------------------------------------------


def _blank_png(width: int = 200, height: int = 200) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (width, height), 1).save(out, format="PNG")
    return out.getvalue()


def _two_codes(text: str) -> bytes:
    from PIL import Image

    from verifier.qr_image import render_png

    code = Image.open(io.BytesIO(render_png(text)))
    both = Image.new("L", (code.width * 2, code.height), 255)
    both.paste(code, (0, 0))
    both.paste(code, (code.width, 0))
    out = io.BytesIO()
    both.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "case",
    [
        "not an image",
        "a PNG with no QR code",
        "a QR code of no offer",
        "a truncated PNG",
        "two QR codes",
        "a decompression bomb",
    ],
)
def test_a_photo_without_an_offer_is_invalid_offer(bench: Receiving, case: str) -> None:
    pytest.importorskip("zxingcpp")
    from verifier.qr_image import render_png

    phone = bench.phone()
    image = {
        "not an image": b"this is not an image" * 5000,  # over the JSON limit, under the photo's
        "a PNG with no QR code": _blank_png(),
        "a QR code of no offer": render_png("https://example.com/not-an-offer"),
        "a truncated PNG": render_png(offer_by_value(bench.agency.url))[:300],
        "two QR codes": _two_codes(offer_by_value(bench.agency.url)),
        # 100 megapixels in a small file: refused from its header, before any pixel is decoded
        "a decompression bomb": _blank_png(10_000, 10_000),
    }[case]
    assert len(image) <= MAX_PHOTO_BYTES
    assert _refused(lambda: phone.hand_over_photo(image)) == (400, "invalid_offer")
    assert bench.agency.requests == []
    assert bench.intakes() == 0


def test_an_empty_photo_is_invalid_request(bench: Receiving) -> None:
    phone = bench.phone()
    assert _refused(lambda: phone.hand_over_photo(b"")) == (400, "invalid_request")


def test_a_photo_of_an_untrusted_offer_calls_no_one(bench: Receiving) -> None:
    pytest.importorskip("zxingcpp")
    from PIL import Image

    from verifier.qr_image import render_png

    phone = bench.phone()
    photo = render_png(offer_by_value(bench.stranger.url))
    assert _refused(lambda: phone.hand_over_photo(photo)) == (403, "untrusted_issuer")
    assert bench.stranger.requests == []
    # And the same photo of the trusted agency's offer is read, as a PNG or a JPEG.
    shown = phone.hand_over_photo(render_png(offer_by_value(bench.agency.url)))
    assert shown["issuer"]["id"] == bench.agency.url
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(render_png(offer_by_value(bench.agency.url)))).convert("L").save(
        jpeg, format="JPEG", quality=90
    )
    assert phone.hand_over_photo(jpeg.getvalue(), "image/jpeg")["state"] == "offered"


def test_offers_under_way_are_bounded_per_account(bench: Receiving) -> None:
    phone = bench.phone()
    limit = bench.world.deployment.settings.max_open_intakes
    for _ in range(limit):
        bench.intake(phone)
    assert _refused(lambda: bench.intake(phone)) == (409, "too_many_offers")
    assert bench.intakes() == limit
    other = bench.phone()  # another account's offers are its own
    assert bench.intake(other)


# -- a hostile or broken trusted agency: nothing stored -------------------------------------


@pytest.mark.parametrize("made", [Defect.NONE, Defect.HAND_MADE])
def test_an_honest_answer_from_the_loopback_agency_is_stored(
    bench: Receiving, made: Defect
) -> None:
    """The control: the agency below differs from this only in its one defect (and a
    credential made by hand, as the schema-invalid one is, is stored when its claims are)."""
    phone = bench.phone()
    bench.agency.defect(CREDENTIAL_PATH, made)
    done = phone.accept(bench.intake(phone), copies=3)
    assert done["state"] == "done"
    assert bench.stored() == (1, 3)
    assert bench.agency.notifications == ["credential_accepted"]


_UNAVAILABLE = [
    Defect.MALFORMED_JSON,
    Defect.OVERSIZED,
    Defect.SILENT,
    Defect.TRICKLE,
    Defect.SERVER_ERROR,
]


@pytest.mark.parametrize("defect", _UNAVAILABLE)
def test_a_credential_answer_that_is_not_one_leaves_the_intake_signing(
    bench: Receiving, defect: Defect
) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(CREDENTIAL_PATH, defect)
    started = time.monotonic()
    assert _refused(lambda: phone.accept(intake, copies=2)) == (502, "issuer_unavailable")
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert bench.stored() == (0, 0)
    assert phone.intake(intake)["state"] == "signing"  # where it was: the phone may try again
    assert bench.agency.notifications == []
    bench.agency.defect(CREDENTIAL_PATH, Defect.NONE)
    assert phone.accept(intake, copies=2)["state"] == "done"
    assert bench.stored() == (1, 2)


@pytest.mark.parametrize(
    ("defect", "reason"),
    [
        (Defect.FOREIGN_KEY, "unknown_key"),
        (Defect.OTHER_CNF, "key_binding_invalid"),
        (Defect.OTHER_TYPE, "issuer_not_authorised"),
        (Defect.ONE_KEY, "key_binding_invalid"),
        (Defect.NOT_SD_JWT, "malformed"),
        (Defect.MORE_THAN_KEYS, "malformed"),
        (Defect.EXPIRED, "expired"),
        (Defect.SIBLING, "issuer_not_authorised"),
        (Defect.SCHEMA_INVALID, "schema_violation"),
    ],
)
def test_a_credential_our_verifier_refuses_is_not_stored(
    bench: Receiving, defect: Defect, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(CREDENTIAL_PATH, defect)
    with pytest.raises(WalletApiError) as refused:
        phone.accept(intake, copies=3)
    assert (refused.value.status, refused.value.error) == (502, "credential_refused")
    assert bench.stored() == (0, 0)
    shown = phone.intake(intake)
    assert SECRET_CLAIM not in refused.value.description + json.dumps(shown)
    assert shown["state"] == "failed"
    assert shown["refused"] == reason
    assert shown["received"] == []
    assert bench.agency.notifications == ["credential_failure"]
    assert phone.credentials() == []
    assert phone.export()["credentials"] == []
    assert _refused(lambda: phone.accept(intake, copies=3)) == (409, "wrong_state")
    assert SECRET_CLAIM not in caplog.text  # what the credential said is no one's to log


@pytest.mark.parametrize(
    ("step", "defect", "state"),
    [
        (TOKEN_PATH, Defect.MALFORMED_JSON, "offered"),
        (TOKEN_PATH, Defect.OVERSIZED, "offered"),
        (TOKEN_PATH, Defect.SILENT, "offered"),
        (NONCE_PATH, Defect.MALFORMED_JSON, "redeemed"),
        (NONCE_PATH, Defect.OVERSIZED, "redeemed"),
        (NONCE_PATH, Defect.SILENT, "redeemed"),
        (TOKEN_PATH, Defect.HUGE_VALUE, "offered"),
        (NONCE_PATH, Defect.HUGE_VALUE, "redeemed"),
    ],
)
def test_a_broken_token_or_nonce_answer_leaves_the_intake_where_it_was(
    bench: Receiving, step: str, defect: Defect, state: str
) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(step, defect)
    assert _refused(lambda: phone.accept(intake, copies=1)) == (502, "issuer_unavailable")
    assert phone.intake(intake)["state"] == state
    assert ("POST", CREDENTIAL_PATH) not in bench.agency.requests
    assert bench.stored() == (0, 0)


def test_a_huge_transaction_id_is_not_kept(bench: Receiving) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(CREDENTIAL_PATH, Defect.HUGE_VALUE)
    assert _refused(lambda: phone.accept(intake, copies=1)) == (502, "issuer_unavailable")
    assert phone.intake(intake)["state"] == "signing"


def test_only_the_photo_path_takes_a_body_with_nul_bytes(bench: Receiving) -> None:
    """Images hold NUL bytes, so the photo's body is not scanned for them; a path that merely
    begins like it (an intake id) still is."""
    phone = bench.phone()
    response = phone.send(
        "POST", "/intakes/photo-x/accept", content=b'{"device_keys": ["\x00"]}', content_type=JSON
    )
    assert _error(response) == (400, "invalid_request")
    assert response.json()["error_description"] == "a NUL character in the request body"


@pytest.mark.parametrize(
    ("defect", "status"),
    [
        (Defect.REDIRECT, (502, "issuer_unavailable")),
        (Defect.FOREIGN_ENDPOINT, (403, "untrusted_issuer")),
        (Defect.FOREIGN_METADATA, (502, "issuer_unavailable")),
    ],
)
def test_metadata_that_points_elsewhere_sends_the_wallet_nowhere(
    bench: Receiving, defect: Defect, status: tuple[int, str]
) -> None:
    """A trusted agency cannot make the wallet call a server the trust list does not name:
    no redirect is followed, no endpoint off the agency's origin is used."""
    phone = bench.phone()
    bench.agency.defect(WELL_KNOWN_CREDENTIAL_ISSUER, defect)
    assert _refused(lambda: phone.hand_over(offer_by_value(bench.agency.url))) == status
    assert bench.stranger.requests == []
    assert bench.intakes() == 0


def test_a_redirect_from_the_credential_endpoint_is_not_followed(bench: Receiving) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(CREDENTIAL_PATH, Defect.REDIRECT)
    assert _refused(lambda: phone.accept(intake, copies=1)) == (502, "issuer_unavailable")
    assert bench.stranger.requests == []
    assert phone.intake(intake)["state"] == "signing"
    assert bench.stored() == (0, 0)


@pytest.mark.parametrize(
    ("defect", "status"),
    [
        (Defect.FOREIGN_KEY, (502, "credential_refused")),
        (Defect.OTHER_CNF, (502, "credential_refused")),
        (Defect.MALFORMED_JSON, (502, "issuer_unavailable")),
        (Defect.OVERSIZED, (502, "issuer_unavailable")),
        (Defect.SILENT, (502, "issuer_unavailable")),
    ],
)
def test_a_deferred_credential_is_checked_as_one_sent_at_once(
    bench: Receiving, defect: Defect, status: tuple[int, str]
) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defects = {CREDENTIAL_PATH: Defect.DEFERRED, DEFERRED_PATH: defect}
    deferred = phone.accept(intake, copies=2)
    assert (deferred["state"], deferred["retry_after"]) == ("deferred", 5)
    assert _refused(lambda: phone.poll(intake)) == status
    assert bench.stored() == (0, 0)
    refused = status[1] == "credential_refused"
    assert phone.intake(intake)["state"] == ("failed" if refused else "deferred")
    if not refused:  # the agency recovers: the next poll receives
        bench.agency.defects = {}
        assert phone.poll(intake)["state"] == "done"
        assert bench.stored() == (1, 2)


def test_a_notification_endpoint_that_never_answers_delays_the_phone_by_the_timeout_only(
    bench: Receiving,
) -> None:
    """The notification is best effort: the credentials are stored first."""
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(NOTIFICATION_PATH, Defect.SILENT)
    started = time.monotonic()
    assert phone.accept(intake, copies=2)["state"] == "done"
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert bench.stored() == (1, 2)


@pytest.mark.parametrize(
    "offer",
    [
        "https://agency.example/offer",
        "openid-credential-offer://",
        "openid-credential-offer://?credential_offer=%7B",
        "openid-credential-offer://?credential_offer=%5B%5D",
        "openid-credential-offer://?credential_offer_uri=file%3A%2F%2F%2Fetc%2Fpasswd",
        "openid-credential-offer://?credential_offer_uri=ftp%3A%2F%2F127.0.0.1%2Fo",
        "openid-credential-offer://?credential_offer=%7B%7D&credential_offer_uri=x",
        "openid-credential-offer://?credential_offer=%ZZ",
        "openid-credential-offer://?credential_offer=%FF",
    ],
    ids=[
        "not an offer URI",
        "no parameter",
        "truncated JSON",
        "an array",
        "a file reference",
        "an ftp reference",
        "both parameters",
        "bad percent-encoding",
        "not UTF-8",
    ],
)
def test_an_offer_uri_that_is_no_offer_is_invalid_offer(bench: Receiving, offer: str) -> None:
    phone = bench.phone()
    assert _refused(lambda: phone.hand_over(offer)) == (400, "invalid_offer")
    assert bench.agency.requests == [] and bench.stranger.requests == []
    assert bench.intakes() == 0


@pytest.mark.parametrize(
    "change",
    ["no grant", "an empty code", "a code that is a number", "no types", "types not strings"],
)
def test_an_offer_missing_what_the_wallet_needs_is_invalid_offer(
    bench: Receiving, change: str
) -> None:
    phone = bench.phone()
    grant = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    offer: dict[str, Any] = {
        "credential_issuer": bench.agency.url,
        "credential_configuration_ids": [CONFIGURATION_ID],
        "grants": {grant: {"pre-authorized_code": "a-code"}},
    }
    if change == "no grant":
        offer["grants"] = {}
    elif change == "an empty code":
        offer["grants"][grant]["pre-authorized_code"] = ""
    elif change == "a code that is a number":
        offer["grants"][grant]["pre-authorized_code"] = 7
    elif change == "no types":
        offer["credential_configuration_ids"] = []
    else:
        offer["credential_configuration_ids"] = [7]
    uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer), safe="")
    assert _refused(lambda: phone.hand_over(uri)) == (400, "invalid_offer")
    assert bench.intakes() == 0
