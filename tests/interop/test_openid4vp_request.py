"""An OpenID4VP 1.0 verifier library's request against our wallet: @openid4vc/openid4vp 0.4.6
(OpenWallet Foundation, under Credo) builds and signs a request object (JAR) with a DCQL query
for a relying party the trust operator registered; `verifier.openid4vp.read_request` (what the
wallet runs on every request it is handed) accepts it, and the wallet service answers it at the
library's registered response URI (`direct_post`).

Our profile (docs/counter-request.md) fits what the library lets its user set: a pre-registered
`client_id`, `aud` https://self-issued.me/v2, our `purpose` member, and the registered key's
`kid` (added by the signing callback, which the library leaves to its user).
"""

from __future__ import annotations

import json
from typing import Any, cast

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from issuer.services.relying_parties import register_relying_party
from keys.encoding import b64url_encode
from keys.jwk import SigningKey
from tests import _two_services
from tests._counter import ACCOUNT_OPENING, NOW, OPENING_PURPOSE, PARTIES, RESIDENT, party_entry
from tests._counter import trust_store as counter_trust_store
from tests._presenting import CounterBackend
from tests._presenting import _counter_app as counter_backend_app
from tests._two_services import Pair
from tests.interop._node import run_node
from tests.interop.conftest import REGISTRY
from verifier import Policy, TrustStore, Verifier
from verifier.openid4vp import RequestError, RequestErrorCode, read_request

CLIENT = "interop.verifier.example"
RESPONSE_URI = "https://interop.verifier.example/oid4vp/response"
NONCE = "interop-nonce-0123456789"
QUERY = {
    "credentials": [
        {
            "id": "extract",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [RESIDENT]},
            "claims": [{"path": ["name"]}, {"path": ["birth_date"]}],
        }
    ]
}


def _key() -> tuple[SigningKey, dict[str, str]]:
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.private_numbers()
    key = SigningKey.from_private_key(private)
    jwk = {
        **key.public_key.to_jwk(),
        "d": b64url_encode(numbers.private_value.to_bytes(32, "big")),
    }
    return key, jwk


def _request(**changes: Any) -> tuple[str, Any]:
    key, private_jwk = _key()
    entry = {
        **party_entry(CLIENT, key.public_key, [OPENING_PURPOSE]),
        "response_uris": [RESPONSE_URI],
    }
    payload = {
        "client_id": CLIENT, "kid": key.kid, "private_jwk": private_jwk, "now": NOW,
        "response_uri": RESPONSE_URI, "nonce": NONCE, "state": "interop-state-1",
        "purpose": ACCOUNT_OPENING, "dcql_query": QUERY, **changes,
    }  # fmt: skip
    answer = run_node("openid4vp_request.mjs", payload)
    return answer["request"], counter_trust_store([*PARTIES, entry])


@pytest.mark.usefixtures("js")
def test_the_librarys_signed_request_passes_the_wallets_checks() -> None:
    token, store = _request()
    request = read_request(token, store, now=NOW + 5, registry=REGISTRY)
    assert request.client_id == CLIENT
    assert request.nonce == NONCE
    assert request.response_uri == RESPONSE_URI
    assert request.purpose.names == ACCOUNT_OPENING


@pytest.mark.usefixtures("js")
def test_the_wallet_refuses_the_library_asking_beyond_the_registration() -> None:
    over = {
        "credentials": [
            {**QUERY["credentials"][0], "claims": [{"path": ["resident_registration_number"]}]}
        ]
    }
    token, store = _request(dcql_query=over)
    with pytest.raises(RequestError) as refused:
        read_request(token, store, now=NOW + 5, registry=REGISTRY)
    assert refused.value.code == RequestErrorCode.OVER_ASKING


world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures


@pytest.mark.usefixtures("js")
def test_our_wallet_answers_the_librarys_request_at_its_response_uri(pair: Pair) -> None:
    """The whole way: the library's request handed to our wallet service, the citizen shown
    who asks and what, the answer posted to the library's registered response URI (direct_post)
    and verified against the request. The library takes https response URIs only: the
    wallet's client for counters reaches that origin's backend in process, as the issuer's
    client reaches the in-process issuer in these tests."""
    key, private_jwk = _key()
    backend = CounterBackend()
    site = FastAPI()
    site.mount("/oid4vp", counter_backend_app(backend))  # RESPONSE_URI's path
    http = TestClient(site, base_url="https://interop.verifier.example", follow_redirects=False)
    pair.wallet.counter_http = cast(httpx.Client, http)
    now = int(pair.issuer.clock())
    entry = {
        **party_entry(
            CLIENT,
            key.public_key,
            [OPENING_PURPOSE],
            valid_from=now - 60,
            valid_until=now + 365 * 86_400,
        ),
        "response_uris": [RESPONSE_URI],
    }
    register_relying_party(pair.issuer.deployment, entry)
    pair.wallet.trust.refresh(force=True)
    phone = pair.registered_phone()
    pair.receive(phone, copies=2)
    payload = {
        "client_id": CLIENT, "kid": key.kid, "private_jwk": private_jwk, "now": now,
        "response_uri": RESPONSE_URI, "nonce": NONCE, "state": "interop-state-2",
        "purpose": ACCOUNT_OPENING, "dcql_query": QUERY,
    }  # fmt: skip
    token = run_node("openid4vp_request.mjs", payload)["request"]

    shown = phone.present(token)
    assert shown["relying_party"]["id"] == CLIENT and shown["purpose"] == ACCOUNT_OPENING
    assert shown["response_mode"] == "direct_post"
    assert [row["path"] for row in shown["disclosed"]] == [["name"], ["birth_date"]]
    answer = phone.sign_presentation(shown["id"], phone.accept_presentation(shown["id"]))
    assert answer["state"] == "submitted"

    [posted] = backend.posted
    assert posted["state"] == "interop-state-2"
    [(query_id, [presentation])] = json.loads(posted["vp_token"]).items()
    assert query_id == "extract"
    store = TrustStore.load(pair.wallet.settings.trust_dir, now=now)
    request = read_request(token, store, now=now, registry=REGISTRY)
    verdict = Verifier(store, Policy()).verify_answer(presentation, request, now=now)
    assert verdict.valid, verdict.error
    assert set(verdict.claims) == {"name", "birth_date"}
