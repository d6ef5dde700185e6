"""The holder reference client: what a phone sends to the wallet service, in Python.

Every request carries one ``DPoP`` header (RFC 9449): a proof signed by the device key the
account is bound to, naming the method and the URI (the service's public URL and the path),
with the server's latest nonce. There is no password and no access token. The client keeps the
last ``DPoP-Nonce`` the service sent and, told ``use_dpop_nonce``, makes a new proof with the
new nonce and sends the request once more (docs/wallet.md walks through each request).

The keys stay in ``DeviceKeys`` (the phone's secure hardware, in software): the client signs
through a handle and never sees a private key.

Presenting at a counter goes through the service (``present``, ``accept_presentation``,
``sign_presentation``), or, with no network at the counter, happens on the phone alone
(``answer_offline``: the same request checks, the same selection of disclosures and the same
KB-JWT code as the service, over copies downloaded earlier), reported when back online.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from credential_schemas import Registry
from keys.encoding import b64url_encode
from keys.jwk import public_key_from_jwk
from keys.jws import decode_compact
from protocols.dpop import DPOP_HEADER, DPOP_NONCE_HEADER, DpopErrorCode, make_dpop_proof
from verifier import TrustStore
from verifier import sd_jwt_vc as vc
from verifier.dcql_select import NotSatisfiable, select_for_query
from verifier.envelope import encode_envelope
from verifier.openid4vp import RequestError, read_request
from wallet_api.holder.device_keys import DeviceKeys
from wallet_api.presentation import prepare_key_binding, request_hash, shown_claims

__all__ = [
    "DEFAULT_COPIES",
    "Bound",
    "OfflineAnswer",
    "OfflineRefusedError",
    "WalletApiError",
    "WalletClient",
]

_TIMEOUT_SECONDS = 30.0  # receiving waits on the agency too
DEFAULT_COPIES = 10  # one copy per presentation: ten counters before asking for more


class WalletApiError(Exception):
    """The service refused a request: its status and ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


class OfflineRefusedError(Exception):
    """The phone, offline, refuses a request; ``code`` is the service's code for the same
    refusal (``untrusted_request``, ``no_matching_credential``, ``no_unused_copy``)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class OfflineAnswer:
    """An answer built on the phone: the QR text, what was shown, and the report to send."""

    envelope: str
    disclosed: tuple[tuple[Any, ...], ...]
    report: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Bound:
    """An account the device is bound to now, and its recovery code (shown this once)."""

    account_id: str
    device_jkt: str
    recovery_code: str


class WalletClient:
    """One device talking to the wallet service at ``public_url``.

    ``device_kid`` is the account key's thumbprint (None before registering: ``register`` or
    ``recover`` makes one). ``http`` may be any ``httpx.Client`` (a TestClient in-process);
    the proofs always name ``public_url``, as the phone addresses the service.
    """

    def __init__(
        self,
        public_url: str,
        keys: DeviceKeys,
        *,
        device_kid: str | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_url = public_url.rstrip("/")
        self.keys = keys
        self.device_kid = device_kid
        self._http = http or httpx.Client(base_url=self.public_url, timeout=_TIMEOUT_SECONDS)
        self._owns_http = http is None
        self._clock = clock
        self.nonce: str | None = None  # the last DPoP-Nonce the service sent
        # Answers built offline, to report when back online; copies they used, never reused.
        self.offline_reports: list[dict[str, Any]] = []
        self._used_offline: set[str] = set()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def proof(self, method: str, path: str) -> str:
        """The DPoP proof for ``method`` ``path``, signed by the device key, with the nonce."""
        if self.device_kid is None:
            raise ValueError("no device key yet: register or recover first")
        return make_dpop_proof(
            self.keys.signer(self.device_kid),
            method=method,
            uri=self.public_url + path,
            now=int(self._clock()),
            nonce=self.nonce,
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        """One request with a fresh proof; once more if the service asks for its nonce."""
        for _attempt in range(2):
            headers = {DPOP_HEADER: self.proof(method, path)}
            if content_type is not None:
                headers["Content-Type"] = content_type
            response = self._http.request(method, path, json=json, content=content, headers=headers)
            self.nonce = response.headers.get(DPOP_NONCE_HEADER, self.nonce)
            if response.status_code != 401 or _error(response) != DpopErrorCode.USE_DPOP_NONCE:
                break
        return response

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        """``send``, raising ``WalletApiError`` for an answer other than 2xx."""
        response = self.send(method, path, json=json, content=content, content_type=content_type)
        if response.is_success:
            return response
        body = _body(response)
        raise WalletApiError(
            response.status_code,
            str(body.get("error", "")),
            str(body.get("error_description", "")),
        )

    def register(self) -> Bound:
        """Make the device key (if none yet) and register an account bound to it."""
        if self.device_kid is None:
            self.device_kid = self.keys.create_key().kid
        return _bound(self.call("POST", "/accounts"))

    def me(self) -> dict[str, Any]:
        return _body(self.call("GET", "/accounts/me"))

    def delete_account(self) -> None:
        self.call("DELETE", "/accounts/me")

    def recover(self, account_id: str, recovery_code: str) -> Bound:
        """On a new phone: make a new device key and re-bind the account to it."""
        if self.device_kid is None:
            self.device_kid = self.keys.create_key().kid
        body = {"account_id": account_id, "recovery_code": recovery_code}
        return _bound(self.call("POST", "/accounts/recover", json=body))

    def export(self) -> dict[str, Any]:
        """My data: everything the account holds."""
        return _body(self.call("GET", "/accounts/me/export"))

    # -- receiving credentials (OID4VCI through the service; the phone signs) ---------------

    def hand_over(self, offer_uri: str) -> dict[str, Any]:
        """An `openid-credential-offer://` URI the phone scanned or was given: what the
        citizen is shown (agency, types, whether a transaction code is needed)."""
        return _body(self.call("POST", "/intakes", json={"offer_uri": offer_uri}))

    def hand_over_photo(self, image: bytes, content_type: str = "image/png") -> dict[str, Any]:
        """A photo of the offer's QR code, read by the service."""
        return _body(self.call("POST", "/intakes/photo", content=image, content_type=content_type))

    def accept(
        self,
        intake_id: str,
        *,
        tx_code: str | None = None,
        copies: int = DEFAULT_COPIES,
        configuration_id: str | None = None,
    ) -> dict[str, Any]:
        """Yes to an offer: make one device key per copy, sign each key proof's signing input
        the service returns (the keys never leave ``keys``), send the signatures; the intake
        as it stands after (``done``, or ``deferred``: ``poll`` later)."""
        made = self.keys.create_keys(copies)
        body: dict[str, Any] = {
            "tx_code": tx_code,
            "device_keys": [key.to_jwk() for key in made],
        }
        if configuration_id is not None:
            body["configuration_id"] = configuration_id
        answer = _body(self.call("POST", f"/intakes/{intake_id}/accept", json=body))
        return self.sign_proofs(intake_id, answer["proofs_to_sign"])

    def sign_proofs(self, intake_id: str, proofs_to_sign: list[dict[str, str]]) -> dict[str, Any]:
        """Sign each signing input with the key it names, and send the signatures in order."""
        signatures = [
            b64url_encode(self.keys.sign(item["key"], item["signing_input"].encode("ascii")))
            for item in proofs_to_sign
        ]
        return _body(
            self.call("POST", f"/intakes/{intake_id}/proofs", json={"signatures": signatures})
        )

    def receive(
        self, offer_uri: str, *, tx_code: str | None = None, copies: int = DEFAULT_COPIES
    ) -> dict[str, Any]:
        """The whole of receiving one offer of one type: hand over, accept, sign."""
        intake = self.hand_over(offer_uri)
        return self.accept(intake["intake_id"], tx_code=tx_code, copies=copies)

    def poll(self, intake_id: str) -> dict[str, Any]:
        return _body(self.call("POST", f"/intakes/{intake_id}/poll"))

    def intake(self, intake_id: str) -> dict[str, Any]:
        return _body(self.call("GET", f"/intakes/{intake_id}"))

    def credentials(self) -> list[dict[str, Any]]:
        credentials: list[dict[str, Any]] = _body(self.call("GET", "/credentials"))["credentials"]
        return credentials

    def credential(self, credential_id: str) -> dict[str, Any]:
        return _body(self.call("GET", f"/credentials/{credential_id}"))

    def delete_credential(self, credential_id: str) -> None:
        self.call("DELETE", f"/credentials/{credential_id}")

    # -- presenting at a counter (OpenID4VP 1.0 through the service; the phone signs) -------

    def present(self, request_text: str) -> dict[str, Any]:
        """A counter's request (JR1 QR text, compact JWS, or `openid4vp://` link): who asks,
        why, and exactly which claims would be shown, with their values."""
        return _body(self.call("POST", "/presentations", json={"request": request_text}))

    def present_preset(self, client_id: str, purpose_id: str) -> dict[str, Any]:
        """A one-way preset (``presets``): no request, the service chooses the nonce."""
        body = {"preset": {"client_id": client_id, "purpose_id": purpose_id}}
        return _body(self.call("POST", "/presentations", json=body))

    def accept_presentation(
        self, presentation_id: str, answer_format: str = "text"
    ) -> dict[str, Any]:
        """Yes: a copy is taken; the KB-JWT's signing input and the key to sign it with."""
        return _body(
            self.call(
                "POST", f"/presentations/{presentation_id}/accept", json={"format": answer_format}
            )
        )

    def sign_presentation(self, presentation_id: str, signing: Mapping[str, Any]) -> dict[str, Any]:
        """Sign the signing input with the key it names (the copy's); the answer."""
        signature = self.keys.sign(signing["holder_jkt"], signing["signing_input"].encode("ascii"))
        body = {"signature": b64url_encode(signature)}
        return _body(self.call("POST", f"/presentations/{presentation_id}/signature", json=body))

    def answer(self, request_text: str, answer_format: str = "text") -> dict[str, Any]:
        """The whole of answering: present, accept, sign."""
        shown = self.present(request_text)
        signing = self.accept_presentation(shown["id"], answer_format)
        return self.sign_presentation(shown["id"], signing)

    def refuse(self, presentation_id: str) -> dict[str, Any]:
        return _body(self.call("POST", f"/presentations/{presentation_id}/refuse"))

    def presentations(self) -> list[dict[str, Any]]:
        """The history: to whom, why, which claims (no values), when."""
        entries: list[dict[str, Any]] = _body(self.call("GET", "/presentations"))["presentations"]
        return entries

    def delete_presentation(self, presentation_id: str) -> None:
        self.call("DELETE", f"/presentations/{presentation_id}")

    def presets(self) -> list[dict[str, Any]]:
        presets: list[dict[str, Any]] = _body(self.call("GET", "/presets"))["presets"]
        return presets

    # -- presenting offline: the phone alone, reported later --------------------------------

    def answer_offline(
        self,
        request_text: str,
        credentials: Iterable[Mapping[str, Any]],
        store: TrustStore,
        *,
        now: int | None = None,
    ) -> OfflineAnswer:
        """Answer a counter's request with no network: ``credentials`` as My data lists them
        (``export()["credentials"]``, each copy as issued), ``store`` the trust store the phone
        synced. The request is checked as the service checks it; a valid credential's unused
        copy answers (never one used before, here or at the service); the report waits in
        ``offline_reports`` for ``report_offline``."""
        now = int(self._clock()) if now is None else now
        try:
            request = read_request(request_text, store, now=now, registry=_registry())
        except RequestError as exc:
            raise OfflineRefusedError("untrusted_request", f"{exc.code}: {exc.detail}") from exc
        query = request.credential_query
        matching = [c for c in credentials if c.get("vct") in query.vct_values]
        if not matching:
            raise OfflineRefusedError("no_matching_credential", "no credential of a type asked")
        usable = [c for c in matching if c.get("status") == "valid"]
        if not usable:
            raise OfflineRefusedError("credential_unusable", "ask the agency to issue it again")
        missing: NotSatisfiable | None = None
        for credential in usable:
            unused = [
                copy
                for copy in credential.get("copies", [])
                if copy.get("used_at") is None and copy["copy_id"] not in self._used_offline
            ]
            if not unused:
                continue
            copy = unused[0]
            try:
                selection = select_for_query(copy["sd_jwt_vc"], query)
            except NotSatisfiable as exc:
                missing = missing or exc
                continue
            payload = decode_compact(
                selection.sd_jwt.issuer_jwt, expected_typ=vc.CREDENTIAL_TYP
            ).unverified_claims()
            holder = public_key_from_jwk(payload[vc.CNF][vc.JWK])
            prepared = prepare_key_binding(
                selection.sd_jwt,
                holder_algorithm=holder.algorithm,
                audience=request.client_id,
                nonce=request.nonce,
                now=now,
            )
            answer = prepared.finish(self.keys.sign(holder.kid, prepared.signing_input))
            self._used_offline.add(copy["copy_id"])
            disclosed = tuple(path for path, _ in shown_claims(selection))
            report = {
                "client_id": request.client_id,
                "purpose": dict(request.purpose.names),
                "copy_id": copy["copy_id"],
                "disclosed": [list(path) for path in disclosed],
                "request_hash": request_hash(request.client_id, request.nonce),
                "answered_at": now,
            }
            self.offline_reports.append(report)
            return OfflineAnswer(encode_envelope(answer), disclosed, report)
        if missing is not None:
            raise OfflineRefusedError("no_matching_credential", missing.detail)
        raise OfflineRefusedError(
            "no_unused_copy", "every copy has been used once: ask the agency for more copies"
        )

    def report_offline(self) -> list[dict[str, Any]]:
        """Back online: each answer built offline is recorded in the history (its copy marked
        used); the entries as recorded."""
        recorded = []
        while self.offline_reports:
            report = self.offline_reports[0]
            recorded.append(_body(self.call("POST", "/presentations/offline", json=report)))
            self.offline_reports.pop(0)
        return recorded


@functools.cache
def _registry() -> Registry:
    """The certificate types, read once: what a request's paths are checked against."""
    return Registry.load()


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(response: httpx.Response) -> str | None:
    error = _body(response).get("error")
    return error if isinstance(error, str) else None


def _bound(response: httpx.Response) -> Bound:
    body = _body(response)
    return Bound(body["account_id"], body["device_jkt"], body["recovery_code"])
