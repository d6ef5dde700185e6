"""The issuer as an outside wallet and verifier meet it: real HTTP to `jigap issuer serve`.

One running server per backend (SQLite, PostgreSQL) serves the tests of this module; each
test makes its own offers, so none depends on another's. The credentials are checked by our
own verifier after `jigap verify sync` against the running issuer, and by the IETF SD-JWT
reference implementation (PyPI ``sd-jwt`` 0.10.4) with the keys the issuer publishes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier
from typer.testing import CliRunner

from credential_schemas import Registry
from issuer.cli import sample_agencies
from jigap_cli import app as jigap
from keys.encoding import b64url_decode, json_loads_object
from keys.jwk import SigningKey
from protocols.oid4vci import PRE_AUTHORIZED_CODE_GRANT, parse_offer_uri
from tests._server import BACKENDS, RunningIssuer, issuer_on_backend
from tests._wallet import Wallet
from verifier import ErrorCode, Policy, TrustStore, VerificationResult, Verifier
from verifier import sd_jwt_vc as vc
from verifier.qr_image import read_qr_image
from verifier.sd_jwt import split_compact
from wallet_api.presentation import build_presentation

REGISTRY = Registry.load()
RESIDENT = "resident_register_extract"
REQUESTED = ("name", "birth_date", "address")
COUNTER = "https://counter.bank.example"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningIssuer]:
    with issuer_on_backend(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


def create_offer(
    server: RunningIssuer, http: httpx.Client, type_id: str = RESIDENT, **options: object
) -> dict[str, Any]:
    response = http.post(
        f"{server.public_url}/admin/offers",
        json={"credential_type": type_id, "claims": REGISTRY.get(type_id).examples[0], **options},
        headers=server.admin(),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def payload_of(credential: str) -> dict[str, Any]:
    """The issuer-signed payload (read without checking: the verifiers check it)."""
    return json_loads_object(b64url_decode(split_compact(credential).issuer_jwt.split(".")[1]))


def status_slot(credential: str) -> tuple[str, int]:
    reference = payload_of(credential)["status"]["status_list"]
    return str(reference["uri"]), int(reference["idx"])


def holder_key_of(wallet: Wallet, credential: str) -> SigningKey:
    bound = payload_of(credential)["cnf"]["jwk"]
    (key,) = [key for key in wallet.keys if key.public_key.to_thumbprint_jwk() == bound]
    return key


def present(wallet: Wallet, credential: str) -> str:
    return build_presentation(
        credential,
        REQUESTED,
        holder_key=holder_key_of(wallet, credential),
        audience=COUNTER,
        nonce=NONCE,
        now=int(time.time()),
    )


def sync(trust_dir: Path, anchor: Path, sources: list[str]) -> None:
    """`jigap verify sync` against the running issuer, as a counter does while online."""
    arguments = ["verify", "sync", *sources, "--into", str(trust_dir), "--anchor", str(anchor)]
    result = CliRunner().invoke(jigap, arguments)
    assert result.exit_code == 0, result.output


def verify(trust_dir: Path, presentation: str) -> VerificationResult:
    policy = Policy(expected_audience=COUNTER, expected_nonce=NONCE)
    return Verifier(TrustStore.load(trust_dir), policy, REGISTRY).verify(presentation)


def reference_verify(presentation: str, jwks: Mapping[str, Any], issuer_id: str) -> dict[str, Any]:
    """The reference verifier, given the issuer's keys as its JWKS publishes them."""

    def key_for(unverified_issuer: str, unverified_header: Mapping[str, Any]) -> JWK:
        assert unverified_issuer == issuer_id
        (jwk,) = [k for k in jwks["keys"] if k["kid"] == unverified_header["kid"]]
        return JWK.from_json(json.dumps(jwk))

    verifier = SDJWTVerifier(presentation, key_for, expected_aud=COUNTER, expected_nonce=NONCE)
    payload: dict[str, Any] = verifier.get_verified_payload()
    return payload


# -- metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize("agency", sample_agencies(), ids=lambda agency: str(agency["slug"]))
def test_metadata_lists_every_type_of_the_agency(
    server: RunningIssuer, http: httpx.Client, agency: dict[str, Any]
) -> None:
    slug = agency["slug"]
    issuer_id = server.issuer_id(slug)
    # OID4VCI 1.0 §12.2.2: the well-known suffix goes between the host and the path.
    url = f"{server.public_url}/.well-known/openid-credential-issuer/agencies/{slug}"
    assert server.metadata_url(slug) == url

    response = http.get(url)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    metadata = response.json()
    assert metadata["credential_issuer"] == issuer_id
    assert metadata["credential_endpoint"] == f"{issuer_id}/credential"
    assert metadata["nonce_endpoint"] == f"{issuer_id}/nonce"
    assert {d["locale"]: d["name"] for d in metadata["display"]} == {
        "ko-KR": agency["name"]["ko"],
        "en-US": agency["name"]["en"],
    }
    configurations = metadata["credential_configurations_supported"]
    assert set(configurations) == set(agency["credential_types"])
    for type_id, configuration in configurations.items():
        assert configuration["format"] == "dc+sd-jwt"
        assert configuration["vct"] == REGISTRY.get(type_id).vct
        display = configuration["credential_metadata"]["display"]
        assert {d["locale"] for d in display} >= {"ko", "en"}
        assert all(d["name"] for d in display)
    assert http.get(f"{server.public_url}/.well-known/openid-credential-issuer").status_code == 404


# -- the whole flow ---------------------------------------------------------------------------


def test_credentials_verify_then_a_revoked_one_is_refused(
    server: RunningIssuer, http: httpx.Client, tmp_path: Path
) -> None:
    issuer_id = server.issuer_id()
    wallet = Wallet(http, time.time)

    # With a transaction code, step by step: offer, metadata, token, nonce, credential.
    with_code = create_offer(server, http, tx_code=True)
    assert with_code["tx_code"] is not None and len(with_code["tx_code"]) == 6
    offer = wallet.receive_offer(with_code["credential_offer_uri"])
    assert offer["grants"][PRE_AUTHORIZED_CODE_GRANT]["tx_code"]["length"] == 6
    metadata = wallet.metadata(issuer_id)
    assert wallet.token(offer, None).json()["error"] == "invalid_request"  # §6.3: code missing
    token = wallet.token(offer, with_code["tx_code"])
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer"
    assert "no-store" in token.headers["cache-control"]
    response = wallet.credential(
        metadata,
        token.json()["access_token"],
        RESIDENT,
        wallet.proofs(issuer_id, wallet.nonce(metadata)),
    )
    assert response.status_code == 200, response.text
    single = [item["credential"] for item in response.json()["credentials"]]
    assert len(single) == 1

    # Without a transaction code, a batch of 10 (the metadata's batch_size).
    assert metadata["batch_credential_issuance"]["batch_size"] == 10
    without_code = create_offer(server, http, tx_code=False)
    assert without_code["tx_code"] is None
    batch, _ = wallet.obtain(without_code["credential_offer_uri"], None, batch=10)
    assert len(set(batch)) == 10
    credentials = single + batch
    assert len({status_slot(c) for c in credentials}) == 11

    # A counter syncs while online: the trust list, and the status lists the credentials name.
    anchor = tmp_path / "anchor.jwk"
    anchor.write_text(json.dumps(server.anchor_jwk()))
    status_uris = sorted({status_slot(c)[0] for c in credentials})
    assert all(uri.startswith(f"{issuer_id}/status-lists/") for uri in status_uris)
    trust_dir = tmp_path / "trust"
    sync(trust_dir, anchor, [server.trust_list_url, *status_uris])

    jwks = http.get(f"{issuer_id}/jwks.json").json()
    claims = REGISTRY.get(RESIDENT).examples[0]
    expected = {name: claims[name] for name in REQUESTED}
    presentations = [present(wallet, credential) for credential in credentials]
    for presentation in presentations:
        ours = verify(trust_dir, presentation)
        assert ours.valid, (ours.error, ours.detail)
        assert ours.issuer == issuer_id
        assert ours.credential_type == RESIDENT
        assert ours.holder_bound
        assert dict(ours.claims) == expected
        theirs = reference_verify(presentation, jwks, issuer_id)
        assert {k: v for k, v in theirs.items() if k not in vc.REGISTERED_CLAIMS} == expected
    checked = CliRunner().invoke(
        jigap,
        ["verify", "check", presentations[0], "--trust", str(trust_dir), "--json",
         "--audience", COUNTER, "--nonce", NONCE],
    )  # fmt: skip
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["valid"] is True

    # The agency revokes the single credential; the counter's next sync sees it.
    row = credential_row(server, http, single[0])
    revoked = http.post(
        f"{server.public_url}/admin/credentials/{row['id']}/revoke",
        json={"reason": "reissued"},
        headers=server.admin(),
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "invalid"
    assert verify(trust_dir, presentations[0]).valid  # offline: not known until the next sync
    sync(trust_dir, anchor, status_uris)

    assert verify(trust_dir, presentations[0]).error is ErrorCode.REVOKED
    assert all(verify(trust_dir, p).valid for p in presentations[1:])
    checked = CliRunner().invoke(
        jigap,
        ["verify", "check", presentations[0], "--trust", str(trust_dir), "--json",
         "--audience", COUNTER, "--nonce", NONCE],
    )  # fmt: skip
    assert checked.exit_code == 1
    assert json.loads(checked.stdout)["error"] == ErrorCode.REVOKED


def credential_row(server: RunningIssuer, http: httpx.Client, credential: str) -> dict[str, Any]:
    """The admin API's record of ``credential``, found by its status-list slot."""
    uri, index = status_slot(credential)
    rows = http.get(
        f"{server.public_url}/admin/credentials",
        params={"credential_type": RESIDENT, "limit": 1000},
        headers=server.admin(),
    ).json()
    list_id = int(uri.rsplit("/", 1)[1])
    (row,) = [r for r in rows if (r["status_list_id"], r["status_index"]) == (list_id, index)]
    return dict(row)


# -- offers by reference and as a QR code -----------------------------------------------------


def test_offer_by_reference_and_as_a_qr_code(server: RunningIssuer, http: httpx.Client) -> None:
    created = create_offer(server, http)
    reference_uri = created["credential_offer_reference_uri"]
    reference_url = parse_offer_uri(reference_uri, allow_http=True)
    assert reference_url == f"{server.issuer_id()}/credential-offers/{created['offer_id']}"

    by_reference = http.get(str(reference_url))
    assert by_reference.status_code == 200
    assert "no-store" in by_reference.headers["cache-control"]
    assert by_reference.json() == created["credential_offer"]

    qr_url = f"{server.public_url}/admin/offers/{created['offer_id']}/qr"
    png = http.get(qr_url, headers=server.admin())
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert "no-store" in png.headers["cache-control"]
    assert read_qr_image(png.content) == reference_uri
    svg = http.get(qr_url, params={"format": "svg"}, headers=server.admin())
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text
    assert http.get(qr_url).status_code == 401
    assert http.get(qr_url, headers=server.admin("nhis")).status_code == 404

    # Once redeemed, the offer is no longer open: neither by reference nor as a QR code.
    wallet = Wallet(http, time.time)
    assert wallet.token(wallet.receive_offer(reference_uri), created["tx_code"]).status_code == 200
    assert http.get(str(reference_url)).json()["error"] == "not_found"
    assert http.get(qr_url, headers=server.admin()).status_code == 409


def test_what_a_response_confirms_is_already_committed(
    server: RunningIssuer, http: httpx.Client
) -> None:
    """The transaction of a request commits before its response goes out: an agency told
    201 hands the offer to a phone at once, and the phone must find it."""
    for _ in range(25):
        created = create_offer(server, http)
        reference_url = parse_offer_uri(created["credential_offer_reference_uri"], allow_http=True)
        assert http.get(str(reference_url)).status_code == 200


# -- caching of the public documents ----------------------------------------------------------


def test_status_list_and_trust_list_carry_etag_and_cache_control(
    server: RunningIssuer, http: httpx.Client
) -> None:
    created = create_offer(server, http, tx_code=False)
    wallet = Wallet(http, time.time)
    (credential,), _ = wallet.obtain(created["credential_offer_uri"], None)
    uri, _index = status_slot(credential)

    first = http.get(uri)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/statuslist+jwt"
    etag = first.headers["etag"]
    directives = [d.strip() for d in first.headers["cache-control"].split(",")]
    assert "public" in directives
    (max_age,) = [int(d.removeprefix("max-age=")) for d in directives if d.startswith("max-age=")]
    assert 0 < max_age <= server.settings.status_list_ttl_seconds
    unchanged = http.get(uri, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == etag
    assert unchanged.content == b""

    # A status change makes a new document: the old ETag no longer matches.
    row = credential_row(server, http, credential)
    suspend = f"{server.public_url}/admin/credentials/{row['id']}/suspend"
    assert http.post(suspend, headers=server.admin()).status_code == 200
    changed = http.get(uri, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag

    trust_list = http.get(server.trust_list_url)
    assert trust_list.status_code == 200
    assert "max-age=" in trust_list.headers["cache-control"]
    again = http.get(server.trust_list_url, headers={"If-None-Match": trust_list.headers["etag"]})
    assert again.status_code == 304


# -- bodies over the limit --------------------------------------------------------------------

_LIMITED_ROUTES = [
    pytest.param("/agencies/mois/credential", "application/json", id="credential-json"),
    pytest.param("/agencies/mois/token", "application/x-www-form-urlencoded", id="token-form"),
    pytest.param("/admin/offers", "application/json", id="admin-model"),
]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("path", "content_type"), _LIMITED_ROUTES)
def test_an_oversized_body_gets_413(
    server: RunningIssuer, http: httpx.Client, path: str, content_type: str, chunked: bool
) -> None:
    size = server.settings.max_body_bytes + 1
    chunk = b"x" * 8192
    body: bytes | Iterator[bytes] = (
        iter([chunk] * (size // len(chunk) + 1)) if chunked else b"x" * size
    )
    request = http.build_request(
        "POST",
        f"{server.public_url}{path}",
        content=body,
        headers={"Content-Type": content_type, **server.admin()},
    )
    assert ("transfer-encoding" in request.headers) is chunked
    assert ("content-length" in request.headers) is not chunked

    response = http.send(request)

    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
