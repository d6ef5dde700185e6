"""Bad input on every endpoint of receiving and holding credentials.

Malformed JSON, wrong types, unknown members, oversize bodies (declared or chunked), odd ids,
photos that hold no offer, and bad DPoP proofs (none, replayed, stale, another device's,
another endpoint's) each get their documented code and leave the intake where it was; the
TestClient raises any server error in the test, so none is a 500. The offers and answers of
broken and hostile issuers are tests/test_wallet_receiving_hostile_issuers.py.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from keys.encoding import b64url_encode
from keys.jwk import Algorithm, SigningKey
from protocols.dpop import make_dpop_proof
from tests import _loopback_issuers
from tests._agency import offer_by_value
from tests._loopback_issuers import Receiving, answer_of, device_jwk, refusal
from tests._wallet_service import PUBLIC_URL
from wallet_api.api.routes.credentials import MAX_PHOTO_BYTES

bench = _loopback_issuers.bench  # the fixture


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
            content = raw.replace('"JWK"', json.dumps(device_jwk())).encode()
        response = phone.send(
            "POST", path.format(intake=intake), content=content, content_type=content_type
        )
        answers[name] = answer_of(response)
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
    good, eddsa = device_jwk(), SigningKey.generate(Algorithm.EDDSA).public_key.to_jwk()
    bodies: dict[str, dict[str, Any]] = {
        "no kty": {"device_keys": [{"crv": "P-256", "x": good["x"], "y": good["y"]}]},
        "a private key": {"device_keys": [{**good, "d": good["x"]}]},
        "an Ed25519 key": {"device_keys": [eddsa]},
        "a point off the curve": {"device_keys": [{**good, "y": good["x"]}]},
        "coordinates as numbers": {"device_keys": [{**good, "x": 1, "y": 2}]},
        "a kid not its thumbprint": {"device_keys": [{**good, "kid": "mine"}]},
        "the same key twice": {"device_keys": [good, good]},
        "more keys than the batch": {"device_keys": [device_jwk() for _ in range(11)]},
        "an unknown configuration": {"device_keys": [good], "configuration_id": "nope"},
    }
    seen = len(bench.agency.requests)
    answers = {
        name: answer_of(phone.send("POST", f"/intakes/{intake}/accept", json=body))
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
        name: answer_of(phone.send("POST", f"/intakes/{intake}/proofs", json={"signatures": sent}))
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
            answers[method, path] = answer_of(phone.send(method, path))
            nul = odd == "%00"  # refused before any route: no column holds it
            expected[method, path] = (400, "invalid_request") if nul else (404, "not_found")
    assert answers == expected


def test_a_step_out_of_order_is_wrong_state(bench: Receiving) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    assert refusal(lambda: phone.call(
        "POST", f"/intakes/{intake}/proofs", json={"signatures": ["AA"]}
    )) == (409, "wrong_state")  # fmt: skip
    phone.accept(intake, copies=1)
    assert refusal(lambda: phone.accept(intake, copies=1)) == (409, "wrong_state")
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
        answers[f"{method} {path}"] = answer_of(response)
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
            *answer_of(response),
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
        body = {"/accept": {"device_keys": [device_jwk()]}, "/proofs": {"signatures": ["AA"]}}
        response = other.send(method, filled, json=body.get(filled[filled.rfind("/") :]))
        if path in ("/credentials", "/accounts/me/export"):
            assert response.status_code == 200
            assert held["credential_id"] not in response.text
            continue
        assert answer_of(response) == (404, "not_found"), (method, path)
    assert owner.intake(intake)["state"] == "offered"
    assert owner.credential(held["credential_id"])["credential_id"] == held["credential_id"]


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
    assert refusal(lambda: phone.hand_over_photo(image)) == (400, "invalid_offer")
    assert bench.agency.requests == []
    assert bench.intakes() == 0


def test_an_empty_photo_is_invalid_request(bench: Receiving) -> None:
    phone = bench.phone()
    assert refusal(lambda: phone.hand_over_photo(b"")) == (400, "invalid_request")


def test_a_photo_of_an_untrusted_offer_calls_no_one(bench: Receiving) -> None:
    pytest.importorskip("zxingcpp")
    from PIL import Image

    from verifier.qr_image import render_png

    phone = bench.phone()
    photo = render_png(offer_by_value(bench.stranger.url))
    assert refusal(lambda: phone.hand_over_photo(photo)) == (403, "untrusted_issuer")
    assert bench.stranger.requests == []
    # And the same photo of the trusted agency's offer is read, as a PNG or a JPEG.
    shown = phone.hand_over_photo(render_png(offer_by_value(bench.agency.url)))
    assert shown["issuer"]["id"] == bench.agency.url
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(render_png(offer_by_value(bench.agency.url)))).convert("L").save(
        jpeg, format="JPEG", quality=90
    )
    assert phone.hand_over_photo(jpeg.getvalue(), "image/jpeg")["state"] == "offered"


def test_only_the_photo_path_takes_a_photo_sized_body(bench: Receiving) -> None:
    """The photo's limit is its path's alone: an id that begins like it is not a photo."""
    phone = bench.phone()
    body = b'{"device_keys": [' + b" " * bench.world.deployment.settings.max_body_bytes + b"]}"
    response = phone.send("POST", "/intakes/photo-x/accept", content=body, content_type=JSON)
    assert answer_of(response) == (413, "too_large")


def test_only_the_photo_path_takes_a_body_with_nul_bytes(bench: Receiving) -> None:
    """Images hold NUL bytes, so the photo's body is not scanned for them; a path that merely
    begins like it (an intake id) still is."""
    phone = bench.phone()
    response = phone.send(
        "POST", "/intakes/photo-x/accept", content=b'{"device_keys": ["\x00"]}', content_type=JSON
    )
    assert answer_of(response) == (400, "invalid_request")
    assert response.json()["error_description"] == "a NUL character in the request body"
