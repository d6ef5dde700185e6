"""The wallet's side of OpenID4VCI 1.0 (pre-authorized code flow), over HTTP.

What a phone app does, or the wallet API on the phone's behalf: resolve an offer, read the
issuer's metadata, redeem the code (with the citizen's transaction code), fetch a nonce, and
send one key proof per credential wanted. The phone's keys stay behind the ``Signer``
protocol: this code asks them to sign, never sees a private key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from issuer.oid4vci import (
    PRE_AUTHORIZED_CODE_GRANT,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_OAUTH_AS,
    make_jwt_proof,
    parse_offer_uri,
)
from keys.jwk import Signer

__all__ = ["CredentialOffer", "Deferred", "IssuanceClient", "IssuanceError"]

_TIMEOUT_SECONDS = 20.0


class IssuanceError(Exception):
    """The issuer refused (``code`` is its OAuth/OID4VCI error code) or answered nonsense."""

    def __init__(self, code: str, detail: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.status = code, detail, status


@dataclass(frozen=True, slots=True)
class CredentialOffer:
    issuer_id: str
    configuration_ids: tuple[str, ...]
    pre_authorized_code: str
    tx_code_required: bool


@dataclass(frozen=True, slots=True)
class Deferred:
    transaction_id: str
    interval: int


def _well_known(issuer_id: str, suffix: str) -> str:
    # §12.2.2 / RFC 8414 §3.1: inserted between the host and the path.
    parts = urlsplit(issuer_id)
    return urlunsplit((parts.scheme, parts.netloc, suffix + parts.path.rstrip("/"), "", ""))


class IssuanceClient:
    def __init__(self, http: httpx.Client, *, allow_http: bool = False) -> None:
        self._http = http
        self._allow_http = allow_http  # loopback development only

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body if isinstance(body, dict) else {}
            raise IssuanceError(
                str(error.get("error", "http_error")),
                str(error.get("error_description", response.reason_phrase)),
                response.status_code,
            )
        if not isinstance(body, dict):
            raise IssuanceError("invalid_response", f"{response.url} did not answer a JSON object")
        return body

    def resolve_offer(self, uri: str) -> CredentialOffer:
        """An `openid-credential-offer://` URI, by value or by reference (§4.1)."""
        parsed = parse_offer_uri(uri, allow_http=self._allow_http)
        offer = (
            self._json(self._http.get(parsed, timeout=_TIMEOUT_SECONDS))
            if isinstance(parsed, str)
            else parsed
        )
        grant = offer.get("grants", {}).get(PRE_AUTHORIZED_CODE_GRANT)
        if not isinstance(grant, dict) or not isinstance(grant.get("pre-authorized_code"), str):
            raise IssuanceError("invalid_offer", "the offer has no pre-authorized code")
        return CredentialOffer(
            issuer_id=str(offer["credential_issuer"]),
            configuration_ids=tuple(offer["credential_configuration_ids"]),
            pre_authorized_code=grant["pre-authorized_code"],
            tx_code_required="tx_code" in grant,
        )

    def metadata(self, issuer_id: str) -> dict[str, Any]:
        url = _well_known(issuer_id, WELL_KNOWN_CREDENTIAL_ISSUER)
        metadata = self._json(self._http.get(url, timeout=_TIMEOUT_SECONDS))
        # §12.2.2: metadata naming another issuer MUST NOT be used.
        if metadata.get("credential_issuer") != issuer_id:
            raise IssuanceError("invalid_metadata", "metadata of another credential issuer")
        return metadata

    def access_token(self, offer: CredentialOffer, tx_code: str | None) -> str:
        url = _well_known(offer.issuer_id, WELL_KNOWN_OAUTH_AS)
        server = self._json(self._http.get(url, timeout=_TIMEOUT_SECONDS))
        form = {
            "grant_type": PRE_AUTHORIZED_CODE_GRANT,
            "pre-authorized_code": offer.pre_authorized_code,
        }
        if tx_code is not None:
            form["tx_code"] = tx_code
        token = self._json(
            self._http.post(server["token_endpoint"], data=form, timeout=_TIMEOUT_SECONDS)
        )
        return str(token["access_token"])

    def nonce(self, metadata: dict[str, Any]) -> str:
        body = self._json(self._http.post(metadata["nonce_endpoint"], timeout=_TIMEOUT_SECONDS))
        return str(body["c_nonce"])

    def request_credentials(
        self,
        metadata: dict[str, Any],
        access_token: str,
        configuration_id: str,
        holder_keys: Sequence[Signer],
        *,
        now: int,
    ) -> list[str] | Deferred:
        """One credential per holder key (§8: batch), each bound to its key."""
        nonce = self.nonce(metadata)
        proofs = [
            make_jwt_proof(key, audience=metadata["credential_issuer"], nonce=nonce, now=now)
            for key in holder_keys
        ]
        response = self._http.post(
            metadata["credential_endpoint"],
            json={"credential_configuration_id": configuration_id, "proofs": {"jwt": proofs}},
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=_TIMEOUT_SECONDS,
        )
        body = self._json(response)
        if response.status_code == 202:
            return Deferred(str(body["transaction_id"]), int(body["interval"]))
        return [str(item["credential"]) for item in body["credentials"]]
