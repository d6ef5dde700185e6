"""The wallet's side of OpenID4VCI 1.0 (pre-authorized code flow), over HTTP.

What a phone app does, or the wallet API on the phone's behalf: resolve an offer, read the
issuer's metadata, redeem the code (with the citizen's transaction code), fetch a nonce, and
send one key proof per credential wanted. The phone's keys stay behind the ``Signer``
protocol: this code asks them to sign, never sees a private key.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from keys.encoding import json_loads
from keys.errors import KeyManagementError
from keys.jwk import Signer
from protocols.oid4vci import (
    PRE_AUTHORIZED_CODE_GRANT,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_OAUTH_AS,
    make_jwt_proof,
    parse_offer_uri,
    well_known_url,
)

__all__ = [
    "MAX_RESPONSE_BYTES",
    "CredentialOffer",
    "Deferred",
    "IssuanceClient",
    "IssuanceError",
    "Issued",
]

_TIMEOUT_SECONDS = 20.0
# Metadata of a few hundred certificate types, or a batch of ten credentials, fits easily.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
# A token, nonce or transaction id the wallet keeps, sends back, or signs over once per copy:
# far above what issuers hand out (tens of characters; a JWT access token, a few hundred),
# and a key proof over the longest nonce stays within an issuer's bound on proofs (8 KiB).
_MAX_VALUE_LENGTH = 4096


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


@dataclass(frozen=True, slots=True)
class Issued:
    credentials: tuple[str, ...]
    notification_id: str | None


def _string(body: dict[str, Any], name: str, max_length: int = _MAX_VALUE_LENGTH) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise IssuanceError("invalid_response", f"`{name}` is missing or not a string")
    if len(value) > max_length:
        raise IssuanceError("invalid_response", f"`{name}` is over {max_length} characters")
    return value


class IssuanceClient:
    def __init__(
        self,
        http: httpx.Client,
        *,
        allow_http: bool = False,
        timeout_seconds: float = _TIMEOUT_SECONDS,
    ) -> None:
        self._http = http
        self._allow_http = allow_http  # loopback development only
        self._timeout = timeout_seconds

    def _exchange(
        self, method: str, url: str, *, empty_ok: bool = False, **options: Any
    ) -> tuple[int, dict[str, Any]]:
        """Send a request; its status and JSON object body, read within a bound.

        What an issuer answers is outside data: read as strict I-JSON, at most
        ``MAX_RESPONSE_BYTES``, and an error body becomes an ``IssuanceError``. httpx's timeout
        bounds each read, not the answer: a body sent a byte at a time would hold the phone's
        request for as long as the issuer likes, so the body must be whole by the deadline.
        """
        deadline = time.monotonic() + self._timeout
        try:
            with self._http.stream(method, url, timeout=self._timeout, **options) as response:
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_RESPONSE_BYTES:
                        raise IssuanceError("invalid_response", f"{url}: an answer too large")
                    if time.monotonic() > deadline:
                        raise IssuanceError("http_error", f"{url}: no whole answer in time")
        except httpx.HTTPError as exc:
            raise IssuanceError("http_error", f"{url}: {exc}") from exc
        try:
            body = json_loads(bytes(data))
        except KeyManagementError:
            body = None
        if response.status_code >= 400:
            error = body if isinstance(body, dict) else {}
            raise IssuanceError(
                str(error.get("error", "http_error")),
                str(error.get("error_description", response.reason_phrase)),
                response.status_code,
            )
        if empty_ok and not data:
            return response.status_code, {}
        if not isinstance(body, dict):
            raise IssuanceError("invalid_response", f"{url} did not answer a JSON object")
        return response.status_code, body

    # -- one step each: what the wallet service runs on the phone's behalf ------------------

    def fetch_offer(self, url: str) -> dict[str, Any]:
        """An offer by reference (§4.1.3)."""
        return self._exchange("GET", url)[1]

    def authorization_server(self, issuer_id: str) -> dict[str, Any]:
        return self._exchange("GET", well_known_url(issuer_id, WELL_KNOWN_OAUTH_AS))[1]

    def redeem(self, token_endpoint: str, code: str, tx_code: str | None) -> str:
        """The token request of the pre-authorized code flow (§6.1); the access token."""
        form = {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": code}
        if tx_code is not None:
            form["tx_code"] = tx_code
        return _string(self._exchange("POST", token_endpoint, data=form)[1], "access_token")

    def fetch_nonce(self, nonce_endpoint: str) -> str:
        """A fresh `c_nonce` (§7)."""
        return _string(self._exchange("POST", nonce_endpoint)[1], "c_nonce")

    def send_proofs(
        self, credential_endpoint: str, access_token: str, configuration_id: str, proofs: list[str]
    ) -> Issued | Deferred:
        """The credential request (§8) with one `jwt` proof per credential wanted."""
        status, body = self._exchange(
            "POST",
            credential_endpoint,
            json={"credential_configuration_id": configuration_id, "proofs": {"jwt": proofs}},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        return _issued_or_deferred(status, body)

    def poll_deferred(
        self, deferred_endpoint: str, access_token: str, transaction_id: str
    ) -> Issued | Deferred:
        """The deferred credential request (§9)."""
        status, body = self._exchange(
            "POST",
            deferred_endpoint,
            json={"transaction_id": transaction_id},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        return _issued_or_deferred(status, body, transaction_id)

    def notify(
        self, notification_endpoint: str, access_token: str, notification_id: str, event: str
    ) -> None:
        """The notification request (§11): `credential_accepted`, `credential_failure`, ..."""
        self._exchange(
            "POST",
            notification_endpoint,
            empty_ok=True,
            json={"notification_id": notification_id, "event": event},
            headers={"Authorization": f"Bearer {access_token}"},
        )

    def resolve_offer(self, uri: str) -> CredentialOffer:
        """An `openid-credential-offer://` URI, by value or by reference (§4.1)."""
        parsed = parse_offer_uri(uri, allow_http=self._allow_http)
        offer = self._exchange("GET", parsed)[1] if isinstance(parsed, str) else parsed
        grants = offer.get("grants")
        grant = grants.get(PRE_AUTHORIZED_CODE_GRANT) if isinstance(grants, dict) else None
        if not isinstance(grant, dict):
            raise IssuanceError("invalid_offer", "the offer has no pre-authorized code")
        configuration_ids = offer.get("credential_configuration_ids")
        if not isinstance(configuration_ids, list) or not all(
            isinstance(c, str) for c in configuration_ids
        ):
            raise IssuanceError("invalid_offer", "credential_configuration_ids is not a list")
        return CredentialOffer(
            issuer_id=_string(offer, "credential_issuer"),
            configuration_ids=tuple(configuration_ids),
            pre_authorized_code=_string(grant, "pre-authorized_code"),
            tx_code_required="tx_code" in grant,
        )

    def metadata(self, issuer_id: str) -> dict[str, Any]:
        url = well_known_url(issuer_id, WELL_KNOWN_CREDENTIAL_ISSUER)
        metadata = self._exchange("GET", url)[1]
        # §12.2.2: metadata naming another issuer MUST NOT be used.
        if metadata.get("credential_issuer") != issuer_id:
            raise IssuanceError("invalid_metadata", "metadata of another credential issuer")
        return metadata

    def access_token(self, offer: CredentialOffer, tx_code: str | None) -> str:
        url = well_known_url(offer.issuer_id, WELL_KNOWN_OAUTH_AS)
        server = self._exchange("GET", url)[1]
        form = {
            "grant_type": PRE_AUTHORIZED_CODE_GRANT,
            "pre-authorized_code": offer.pre_authorized_code,
        }
        if tx_code is not None:
            form["tx_code"] = tx_code
        token = self._exchange("POST", _string(server, "token_endpoint"), data=form)[1]
        return _string(token, "access_token")

    def nonce(self, metadata: dict[str, Any]) -> str:
        return _string(self._exchange("POST", _string(metadata, "nonce_endpoint"))[1], "c_nonce")

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
        audience = _string(metadata, "credential_issuer")
        proofs = [
            make_jwt_proof(key, audience=audience, nonce=nonce, now=now) for key in holder_keys
        ]
        status, body = self._exchange(
            "POST",
            _string(metadata, "credential_endpoint"),
            json={"credential_configuration_id": configuration_id, "proofs": {"jwt": proofs}},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if status == 202:
            interval = body.get("interval")
            if type(interval) is not int:
                raise IssuanceError("invalid_response", "`interval` is not an integer")
            return Deferred(_string(body, "transaction_id"), interval)
        credentials = body.get("credentials")
        if not isinstance(credentials, list) or not all(isinstance(c, dict) for c in credentials):
            raise IssuanceError("invalid_response", "`credentials` is not a list of objects")
        return [_string(item, "credential", MAX_RESPONSE_BYTES) for item in credentials]


def _issued_or_deferred(
    status: int, body: dict[str, Any], transaction_id: str | None = None
) -> Issued | Deferred:
    if status == 202:
        interval = body.get("interval")
        if type(interval) is not int or interval < 0:
            raise IssuanceError("invalid_response", "`interval` is not a non-negative integer")
        given = body.get("transaction_id", transaction_id)
        if not isinstance(given, str) or len(given) > _MAX_VALUE_LENGTH:
            raise IssuanceError("invalid_response", "`transaction_id` is missing or too long")
        return Deferred(given, interval)
    credentials = body.get("credentials")
    if not isinstance(credentials, list) or not credentials:
        raise IssuanceError("invalid_response", "`credentials` is not a non-empty list")
    if not all(isinstance(c, dict) for c in credentials):
        raise IssuanceError("invalid_response", "`credentials` is not a list of objects")
    notification_id = body.get("notification_id")
    if notification_id is not None and (
        not isinstance(notification_id, str) or len(notification_id) > _MAX_VALUE_LENGTH
    ):
        raise IssuanceError("invalid_response", "`notification_id` is not a short string")
    credential = [_string(item, "credential", MAX_RESPONSE_BYTES) for item in credentials]
    return Issued(tuple(credential), notification_id)
