"""What verifiers fetch from the issuer, checked with our own verifier: status lists
(Token Status List draft 20), agencies' JWKS, the signed trust list, and key rotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from credential_schemas import Registry
from issuer.models import IssuedCredential
from keys.encoding import b64url_decode, json_loads_object
from keys.jwk import Jwks, PublicKey
from keys.store import FileKeyStore
from keys.trust_list import verify_trust_list
from tests import _issuer_client
from tests._issuer import FAST_SCRYPT, PASSPHRASE, IssuerWorld
from tests._issuer_client import (
    AGENCY_TYPES,
    HEALTH,
    RESIDENT,
    Issued,
    admin,
    error_of,
    issue,
    rows,
)
from verifier import CredentialStatus, ErrorCode, Policy, TrustStore, Verifier
from verifier.sd_jwt import split_compact
from verifier.status_list import StatusValue, read_status_list_token_with_jwks
from wallet_api.presentation import build_presentation

world, client = _issuer_client.world, _issuer_client.client  # fixtures
REGISTRY = Registry.load()
COUNTER = "https://counter.bank.example"
COUNTER_NONCE = "counter-nonce-1"


@dataclass(frozen=True)
class StatusRef:
    uri: str
    index: int


def _payload(credential: str) -> dict[str, Any]:
    jwt = split_compact(credential).issuer_jwt
    return json_loads_object(b64url_decode(jwt.split(".")[1]))


def _header(credential: str) -> dict[str, Any]:
    jwt = split_compact(credential).issuer_jwt
    return json_loads_object(b64url_decode(jwt.split(".")[0]))


def _status_ref(credential: str) -> StatusRef:
    status = _payload(credential)["status"]["status_list"]
    return StatusRef(status["uri"], status["idx"])


def _jwks(client: TestClient, slug: str = "mois") -> Jwks:
    response = client.get(f"/agencies/{slug}/jwks.json")
    assert response.status_code == 200, response.text
    return Jwks.from_dict(response.json())


def _status_at(client: TestClient, world: IssuerWorld, ref: StatusRef) -> int:
    response = client.get(ref.uri)
    assert response.status_code == 200, response.text
    snapshot = read_status_list_token_with_jwks(
        response.text, _jwks(client), expected_uri=ref.uri, now=int(world.clock())
    )
    return snapshot.status_at(ref.index)


def _credential_id(client: TestClient, world: IssuerWorld, ref: StatusRef) -> int:
    listed = client.get("/admin/credentials", headers=admin(world)).json()
    (match,) = [c["id"] for c in listed if c["status_index"] == ref.index]
    return int(match)


def _anchor(world: IssuerWorld) -> PublicKey:
    (anchor,) = FileKeyStore(world.settings.anchor_dir, PASSPHRASE).public_keys()
    return anchor


# --- Status lists ------------------------------------------------------------------------------


def test_status_list_token_verifies(client: TestClient, world: IssuerWorld) -> None:
    issued = issue(client, world)
    ref = _status_ref(issued.credentials[0])
    assert ref.uri.startswith(world.settings.issuer_id("mois") + "/status-lists/")
    response = client.get(ref.uri)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/statuslist+jwt"
    kid = json_loads_object(b64url_decode(response.text.split(".")[0]))["kid"]
    key = _jwks(client).get(kid)
    assert key is not None
    snapshot = read_status_list_token_with_jwks(
        response.text, _jwks(client), expected_uri=ref.uri, now=int(world.clock())
    )
    assert snapshot.status_at(ref.index) == StatusValue.VALID
    assert snapshot.size == world.settings.status_list_size
    assert snapshot.ttl == world.settings.status_list_ttl_seconds
    assert snapshot.issued_at == world.clock()


def test_status_list_caching_headers(client: TestClient, world: IssuerWorld) -> None:
    ref = _status_ref(issue(client, world).credentials[0])
    ttl = world.settings.status_list_ttl_seconds
    first = client.get(ref.uri)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == f"public, max-age={ttl}"
    world.clock.advance(100)
    # Within the ttl the same token is served, and a cache may keep it for what is left.
    second = client.get(ref.uri)
    assert second.text == first.text
    assert second.headers["etag"] == etag
    assert second.headers["cache-control"] == f"public, max-age={ttl - 100}"
    not_modified = client.get(ref.uri, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    other_etag = client.get(ref.uri, headers={"If-None-Match": '"something-else"'})
    assert other_etag.status_code == 200
    # Past the ttl a fresh token is signed.
    world.clock.advance(ttl)
    third = client.get(ref.uri)
    assert third.headers["etag"] != etag
    assert third.headers["cache-control"] == f"public, max-age={ttl}"
    assert client.get(ref.uri, headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize(
    "steps",
    [
        [("revoke", StatusValue.INVALID)],
        [("suspend", StatusValue.SUSPENDED), ("unsuspend", StatusValue.VALID)],
        [("suspend", StatusValue.SUSPENDED), ("revoke", StatusValue.INVALID)],
    ],
    ids=["revoke", "suspend_unsuspend", "suspend_revoke"],
)
def test_status_list_follows_status_changes(
    client: TestClient, world: IssuerWorld, steps: list[tuple[str, StatusValue]]
) -> None:
    issued = issue(client, world, batch=2)
    ref, bystander = (_status_ref(c) for c in issued.credentials)
    assert _status_at(client, world, ref) == StatusValue.VALID  # now cached
    credential_id = _credential_id(client, world, ref)
    for action, expected in steps:
        world.clock.advance(1)
        before = client.get(ref.uri).headers["etag"]
        changed = client.post(f"/admin/credentials/{credential_id}/{action}", headers=admin(world))
        assert changed.status_code == 200, changed.text
        # Visible at the very next fetch, not only after the ttl.
        assert _status_at(client, world, ref) == expected
        assert _status_at(client, world, bystander) == StatusValue.VALID
        assert client.get(ref.uri).headers["etag"] != before


def test_many_credentials_get_distinct_indices(client: TestClient, world: IssuerWorld) -> None:
    batch = world.settings.batch_size
    credentials = [c for _ in range(3) for c in issue(client, world, batch=batch).credentials]
    refs = [_status_ref(c) for c in credentials]
    assert len(set(refs)) == len(refs) == 3 * batch
    records = rows(world, IssuedCredential)
    assert sorted(r.status_index for r in records) == sorted(ref.index for ref in refs)
    assert all(0 <= ref.index < world.settings.status_list_size for ref in refs)
    # Revoking one changes that index alone.
    revoked = refs[7]
    credential_id = _credential_id(client, world, revoked)
    assert client.post(
        f"/admin/credentials/{credential_id}/revoke", headers=admin(world)
    ).is_success
    response = client.get(revoked.uri)
    snapshot = read_status_list_token_with_jwks(
        response.text, _jwks(client), expected_uri=revoked.uri, now=int(world.clock())
    )
    for ref in refs:
        expected = StatusValue.INVALID if ref == revoked else StatusValue.VALID
        assert snapshot.status_at(ref.index) == expected


def test_status_list_of_another_agency_is_not_found(client: TestClient, world: IssuerWorld) -> None:
    nhis_ref = _status_ref(issue(client, world, slug="nhis").credentials[0])
    mois_ref = _status_ref(issue(client, world, slug="mois").credentials[0])
    nhis_list_id = nhis_ref.uri.rsplit("/", 1)[1]
    mois_list_id = mois_ref.uri.rsplit("/", 1)[1]
    assert nhis_list_id != mois_list_id
    assert client.get(nhis_ref.uri).status_code == 200
    error_of(client.get(f"/agencies/mois/status-lists/{nhis_list_id}"), 404, "not_found")
    error_of(client.get(f"/agencies/nhis/status-lists/{mois_list_id}"), 404, "not_found")
    error_of(client.get("/agencies/mois/status-lists/999999"), 404, "not_found")
    error_of(client.get(f"/agencies/nosuch/status-lists/{mois_list_id}"), 404, "not_found")
    for list_id in ("first", "0", "2147483648", "99999999999999999999999"):
        error_of(client.get(f"/agencies/mois/status-lists/{list_id}"), 400, "invalid_request")


# --- Trust list and end-to-end verification ----------------------------------------------------


def test_trust_list_verifies_against_the_anchor(client: TestClient, world: IssuerWorld) -> None:
    response = client.get("/trust-list.jwt")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jwt"
    trust_list = verify_trust_list(response.text, _anchor(world), now=int(world.clock()))
    issuers = trust_list.issuers
    assert set(issuers) == {world.settings.issuer_id("mois"), world.settings.issuer_id("nhis")}
    mois, nhis = (
        issuers[world.settings.issuer_id("mois")],
        issuers[world.settings.issuer_id("nhis")],
    )
    assert mois.credential_types == {REGISTRY.get(t).vct for t in AGENCY_TYPES["mois"]}
    assert nhis.credential_types == {REGISTRY.get(t).vct for t in AGENCY_TYPES["nhis"]}
    assert REGISTRY.get(HEALTH).vct in nhis.credential_types
    assert len(mois.credential_types) == 2
    assert mois.jwks.to_dict() == _jwks(client, "mois").to_dict()
    assert nhis.jwks.to_dict() == _jwks(client, "nhis").to_dict()
    # Unchanged content, unchanged document: the same sequence is served again.
    again = client.get("/trust-list.jwt", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def _verify(
    client: TestClient, world: IssuerWorld, issued: Issued, credential: str | None = None
) -> Any:
    """Sync a trust store as a counter would, then verify a fresh presentation."""
    now = int(world.clock())
    store = TrustStore.from_trust_list(client.get("/trust-list.jwt").text, _anchor(world), now=now)
    credential = credential or issued.credentials[0]
    ref = _status_ref(credential)
    store.add_status_list(ref.uri, client.get(ref.uri).text, fetched_at=now)
    presentation = build_presentation(
        credential,
        ["name", "birth_date"],
        holder_key=issued.keys[issued.credentials.index(credential)],
        audience=COUNTER,
        nonce=COUNTER_NONCE,
        now=now,
    )
    policy = Policy(expected_audience=COUNTER, expected_nonce=COUNTER_NONCE)
    return Verifier(store, policy, REGISTRY).verify(presentation, now=now)


@pytest.mark.parametrize("slug", ["mois", "nhis"])
def test_an_issued_credential_verifies_offline(
    client: TestClient, world: IssuerWorld, slug: str
) -> None:
    issued = issue(client, world, slug=slug)
    result = _verify(client, world, issued)
    assert result.valid, result.detail
    assert result.issuer == world.settings.issuer_id(slug)
    assert result.holder_bound
    assert result.status is CredentialStatus.VALID
    expected = REGISTRY.get(RESIDENT if slug == "mois" else HEALTH).examples[0]
    assert dict(result.claims) == {"name": expected["name"], "birth_date": expected["birth_date"]}


def test_a_revoked_credential_fails_verification(client: TestClient, world: IssuerWorld) -> None:
    issued = issue(client, world)
    credential_id = _credential_id(client, world, _status_ref(issued.credentials[0]))
    client.post(f"/admin/credentials/{credential_id}/suspend", headers=admin(world))
    assert _verify(client, world, issued).error is ErrorCode.SUSPENDED
    client.post(f"/admin/credentials/{credential_id}/revoke", headers=admin(world))
    assert _verify(client, world, issued).error is ErrorCode.REVOKED


# --- Key rotation ------------------------------------------------------------------------------


def test_key_rotation(client: TestClient, world: IssuerWorld) -> None:
    (old_kid,) = _jwks(client).keys
    trust_before = verify_trust_list(
        client.get("/trust-list.jwt").text, _anchor(world), now=int(world.clock())
    )
    lifetime = 3600
    old = issue(client, world, credential_expires_at=int(world.clock()) + lifetime)
    assert _header(old.credentials[0])["kid"] == old_kid

    store = FileKeyStore(
        world.settings.keys_dir / "mois", PASSPHRASE, clock=world.clock, scrypt_n=FAST_SCRYPT
    )
    new_kid = store.generate().kid
    store.retire(old_kid)
    world.clock.advance(60)

    # The retired key stays published while what it signed is unexpired...
    assert set(_jwks(client).keys) == {old_kid, new_kid}
    assert _verify(client, world, old).valid
    # ...new credentials and status lists are signed by the new key...
    new = issue(client, world)
    assert _header(new.credentials[0])["kid"] == new_kid
    listed = client.get("/admin/credentials", headers=admin(world)).json()
    assert [c["signing_kid"] for c in listed] == [old_kid, new_kid]
    status_token = client.get(_status_ref(new.credentials[0]).uri).text
    assert json_loads_object(b64url_decode(status_token.split(".")[0]))["kid"] == new_kid
    assert _verify(client, world, new).valid

    # ...and it drops out once they have expired.
    world.clock.advance(lifetime)
    assert set(_jwks(client).keys) == {new_kid}
    trust_after = verify_trust_list(
        client.get("/trust-list.jwt").text, _anchor(world), now=int(world.clock())
    )
    assert trust_after.sequence > trust_before.sequence
    mois = trust_after.issuers[world.settings.issuer_id("mois")]
    assert list(mois.jwks.keys) == [new_kid]
    assert _verify(client, world, new).valid
    # What the old key signed has expired, and a verifier no longer knows the key at all.
    assert _payload(old.credentials[0])["exp"] <= world.clock()
    assert _verify(client, world, old).error is ErrorCode.UNKNOWN_KEY


def test_a_cached_status_list_is_re_signed_after_a_rotation(
    client: TestClient, world: IssuerWorld
) -> None:
    issued = issue(client, world)
    uri = _status_ref(issued.credentials[0]).uri
    (old_kid,) = _jwks(client).keys
    assert _token_kid(client.get(uri).text) == old_kid  # cached from here on, for `ttl`
    store = FileKeyStore(
        world.settings.keys_dir / "mois", PASSPHRASE, clock=world.clock, scrypt_n=FAST_SCRYPT
    )
    new_kid = store.generate().kid
    store.retire(old_kid)
    world.clock.advance(1)  # well within the ttl
    # The old key may leave the JWKS before the ttl is over: the list must not depend on it.
    assert _token_kid(client.get(uri).text) == new_kid


def _token_kid(token: str) -> object:
    return json_loads_object(b64url_decode(token.split(".")[0]))["kid"]
