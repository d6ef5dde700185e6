"""An outside wallet, as a phone app would be: it knows only URLs and the OID4VCI 1.0 texts.

It works over any ``httpx.Client``: FastAPI's in-process ``TestClient`` or a real socket to
uvicorn on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from keys.jwk import Algorithm, SigningKey
from protocols.oid4vci import (
    PRE_AUTHORIZED_CODE_GRANT,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_OAUTH_AS,
    make_jwt_proof,
    parse_offer_uri,
    well_known_url,
)


class Response(Protocol):
    status_code: int
    text: str
    headers: Any

    def json(self) -> Any: ...

    def raise_for_status(self) -> Any: ...


# httpx's Client or starlette's TestClient (built on httpx2): the same get/post, two types.
HttpClient = Any


@dataclass
class Wallet:
    http: HttpClient
    clock: Any  # () -> float, the phone's clock
    algorithm: Algorithm = Algorithm.ES256
    keys: list[SigningKey] = field(default_factory=list)

    def receive_offer(self, offer_uri: str) -> dict[str, Any]:
        parsed = parse_offer_uri(offer_uri, allow_http=True)  # loopback in tests
        if isinstance(parsed, str):  # by reference (§4.1.3)
            response = self.http.get(parsed)
            response.raise_for_status()
            return dict(response.json())
        return parsed

    def metadata(self, issuer_id: str) -> dict[str, Any]:
        response = self.http.get(well_known_url(issuer_id, WELL_KNOWN_CREDENTIAL_ISSUER))
        response.raise_for_status()
        body = dict(response.json())
        assert body["credential_issuer"] == issuer_id  # §12.2.2: the Wallet MUST check
        return body

    def token(self, offer: dict[str, Any], tx_code: str | None) -> Any:
        grant = offer["grants"][PRE_AUTHORIZED_CODE_GRANT]
        form = {
            "grant_type": PRE_AUTHORIZED_CODE_GRANT,
            "pre-authorized_code": grant["pre-authorized_code"],
        }
        if tx_code is not None:
            form["tx_code"] = tx_code
        server = self.http.get(well_known_url(offer["credential_issuer"], WELL_KNOWN_OAUTH_AS))
        token_endpoint = server.json()["token_endpoint"]
        return self.http.post(token_endpoint, data=form)

    def nonce(self, metadata: dict[str, Any]) -> str:
        response = self.http.post(metadata["nonce_endpoint"])
        response.raise_for_status()
        assert "no-store" in response.headers["cache-control"]
        return str(response.json()["c_nonce"])

    def proofs(self, audience: str, nonce: str | None, count: int = 1) -> list[str]:
        fresh = [SigningKey.generate(self.algorithm) for _ in range(count)]
        self.keys.extend(fresh)
        now = int(self.clock())
        return [make_jwt_proof(key, audience=audience, nonce=nonce, now=now) for key in fresh]

    def credential(
        self, metadata: dict[str, Any], access_token: str, configuration_id: str, proofs: list[str]
    ) -> Any:
        return self.http.post(
            metadata["credential_endpoint"],
            json={"credential_configuration_id": configuration_id, "proofs": {"jwt": proofs}},
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def obtain(
        self, offer_uri: str, tx_code: str | None, *, batch: int = 1
    ) -> tuple[list[str], dict[str, Any]]:
        """The whole flow; returns the credentials and the last response body."""
        offer = self.receive_offer(offer_uri)
        metadata = self.metadata(offer["credential_issuer"])
        token = self.token(offer, tx_code)
        assert token.status_code == 200, token.text
        access_token = token.json()["access_token"]
        nonce = self.nonce(metadata)
        response = self.credential(
            metadata,
            access_token,
            offer["credential_configuration_ids"][0],
            self.proofs(metadata["credential_issuer"], nonce, batch),
        )
        assert response.status_code == 200, response.text
        body = dict(response.json())
        return [item["credential"] for item in body["credentials"]], body
