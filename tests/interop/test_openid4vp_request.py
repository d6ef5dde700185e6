"""An OpenID4VP 1.0 verifier library's request against our wallet's checks: @openid4vc/openid4vp
0.4.6 (OpenWallet Foundation, under Credo) builds and signs a request object (JAR) with a DCQL
query for a relying party the trust operator registered, and `verifier.openid4vp.read_request`
(what the wallet runs on every request it is handed, `POST /presentations`) accepts it.

Our profile (docs/counter-request.md) fits what the library lets its user set: a pre-registered
`client_id`, `aud` https://self-issued.me/v2, our `purpose` member, and the registered key's
`kid` (added by the signing callback, which the library leaves to its user).
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keys.encoding import b64url_encode
from keys.jwk import SigningKey
from tests._counter import ACCOUNT_OPENING, NOW, OPENING_PURPOSE, PARTIES, RESIDENT, party_entry
from tests._counter import trust_store as counter_trust_store
from tests.interop._node import run_node
from tests.interop.conftest import REGISTRY
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
