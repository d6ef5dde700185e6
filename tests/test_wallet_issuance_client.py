"""The wallet's OID4VCI client: the whole flow against the real service, and an issuer's
answers treated as outside data (bounded, strict, refused with a code, never a crash)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from keys.jwk import SigningKey
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import create_offer
from wallet_api.issuance_client import MAX_RESPONSE_BYTES, IssuanceClient, IssuanceError

world, client = _issuer_client.world, _issuer_client.client  # fixtures

ISSUER = "https://issuer.example/agencies/x"


def test_the_flow_against_the_service(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world)
    wallet = IssuanceClient(client, allow_http=True)  # type: ignore[arg-type] # httpx2's client
    resolved = wallet.resolve_offer(offer["credential_offer_reference_uri"])
    metadata = wallet.metadata(resolved.issuer_id)
    token = wallet.access_token(resolved, offer["tx_code"])
    keys = [SigningKey.generate() for _ in range(3)]
    credentials = wallet.request_credentials(
        metadata, token, resolved.configuration_ids[0], keys, now=int(world.clock())
    )
    assert isinstance(credentials, list) and len(set(credentials)) == 3


def test_an_issuer_error_keeps_its_code(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world)
    wallet = IssuanceClient(client, allow_http=True)  # type: ignore[arg-type]
    resolved = wallet.resolve_offer(offer["credential_offer_uri"])
    with pytest.raises(IssuanceError) as caught:
        wallet.access_token(resolved, "000000" if offer["tx_code"] != "000000" else "111111")
    assert (caught.value.code, caught.value.status) == ("invalid_grant", 400)


def _hostile(body: bytes) -> IssuanceClient:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    return IssuanceClient(httpx.Client(transport=httpx.MockTransport(answer)))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b" " * (MAX_RESPONSE_BYTES + 1), id="too-large"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="too-deep"),
        pytest.param(b'{"credential_issuer": 1}', id="wrong-type"),
        pytest.param(b'{"a": 1, "a": 2}', id="duplicate-member"),
        pytest.param(b"not json", id="not-json"),
    ],
)
def test_hostile_metadata_is_refused(body: bytes) -> None:
    with pytest.raises(IssuanceError) as caught:
        _hostile(body).metadata(ISSUER)
    assert caught.value.code in {"invalid_response", "invalid_metadata"}


@pytest.mark.parametrize(
    "answer",
    [
        {"credentials": "x"},
        {"credentials": [{"credential": 7}]},
        {"credentials": [1]},
        {},
    ],
    ids=["not-a-list", "credential-not-string", "item-not-object", "empty"],
)
def test_hostile_credential_responses_are_refused(answer: dict[str, Any]) -> None:
    metadata = {
        "credential_issuer": ISSUER,
        "nonce_endpoint": f"{ISSUER}/nonce",
        "credential_endpoint": f"{ISSUER}/credential",
    }

    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/nonce"):
            return httpx.Response(200, json={"c_nonce": "n"})
        return httpx.Response(200, json=answer)

    wallet = IssuanceClient(httpx.Client(transport=httpx.MockTransport(respond)))
    with pytest.raises(IssuanceError) as caught:
        wallet.request_credentials(metadata, "t", "c", [SigningKey.generate()], now=0)
    assert caught.value.code == "invalid_response"
