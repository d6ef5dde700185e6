"""Receiving certificates online: the relying party's side of OpenID4VP 1.0's cross-device flow.

The bank's page asks its backend for a transaction; the backend signs a request object
(``Verifier.make_request``, response mode ``direct_post``) and the page shows a QR code with an
``openid4vp://`` link naming the request by reference (``request_uri``, RFC 9101 §5.2). The
citizen's wallet fetches the request, checks it against the trust list, asks the citizen and
posts the answer to the registered ``response_uri`` (§8.2). The backend verifies it against the
request (audience, nonce, the claims asked and nothing more) and the page, polling its
transaction, shows the verdict.

Two routers, because they face different people:

- ``wallet_router``, public: ``GET /requests/{request_id}`` serves a request object,
  ``POST /response`` receives the wallet's answer (or its refusal);
- ``bank_router``, for the bank's own page, mounted behind the bank's own authentication:
  ``POST /transactions`` starts one, ``GET /transactions/{transaction_id}`` reports it.

The transaction id is a secret of the bank's page: the wallet sees only the request id (in
the link) and the ``state``, so whoever scans the QR cannot read the verdict. A verdict's
claims are handed over once and then forgotten; everything is forgotten when the request
expires. State is held in this process: run one worker, or route a transaction's requests to
the process that made it.

Given ``trust_dir`` (where `jigap verify sync` keeps the trust store), the site follows each
re-sync: before it signs a request or judges an answer it reads the store again if a file in
that directory changed, so a revocation synced is a revocation applied, without a restart.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from keys.encoding import json_loads
from keys.errors import KeyManagementError
from keys.jwk import Signer
from verifier import VerificationError, Verifier
from verifier.openid4vp import RESPONSE_MODE_DIRECT_POST, PresentationRequest, RequestError
from verifier.result import VerificationResult
from verifier.trust_store import FollowedTrustStore

__all__ = [
    "MAX_RESPONSE_BYTES",
    "OnlineError",
    "OnlineVerifier",
    "TransactionStatus",
    "bank_router",
    "wallet_router",
]

REQUEST_OBJECT_MEDIA_TYPE = "application/oauth-authz-req+jwt"  # RFC 9101 §10.2
WALLET_LINK_SCHEME = "openid4vp://"  # OpenID4VP 1.0 §13.1.2, static configuration
MAX_RESPONSE_BYTES = 64 * 1024  # a presentation is a few KiB; the form around it less
MAX_FORM_FIELDS = 8
_ID_BYTES = 16  # 128 bits, as the spec asks of nonces and state (§5.3, §14.1)


class TransactionStatus(StrEnum):
    PENDING = "pending"  # the request is out; no answer yet
    VALID = "valid"  # the answer verified against the request
    REFUSED = "refused"  # an answer came and did not verify (the error says why)
    DECLINED = "declined"  # the citizen said no (error response, §8.5)
    EXPIRED = "expired"  # the request's lifetime passed without an answer


@dataclass
class _Transaction:
    transaction_id: str
    request: PresentationRequest
    status: TransactionStatus = TransactionStatus.PENDING
    result: VerificationResult | None = None
    error: str | None = None
    delivered: bool = False
    answered_at: int | None = None
    forget_at: int = 0


@dataclass
class OnlineVerifier:
    """A bank's online verifier: its key, its registration and the transactions under way.

    ``response_uri`` is one of the relying party's registered response URIs, where
    ``wallet_router`` is mounted (``.../response``); ``request_base`` is the public URL under
    which ``wallet_router`` serves ``/requests/{id}``.
    """

    verifier: Verifier
    signer: Signer
    client_id: str
    response_uri: str
    request_base: str
    lifetime: int = 300
    max_pending: int = 10_000
    clock: Callable[[], float] = time.time
    trust_dir: Path | None = None  # re-read when `jigap verify sync` changed it
    _by_transaction: dict[str, _Transaction] = field(default_factory=dict)
    _by_request: dict[str, _Transaction] = field(default_factory=dict)
    _by_state: dict[str, _Transaction] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _followed: FollowedTrustStore | None = None

    def now(self) -> int:
        return int(self.clock())

    def current_verifier(self) -> Verifier:
        """The verifier over the trust store as last synced (see the module's docstring)."""
        if self.trust_dir is None:
            return self.verifier
        if self._followed is None or self._followed.directory != self.trust_dir:
            self._followed = FollowedTrustStore(self.trust_dir, self.clock)
        try:
            store = self._followed.current()
        except (KeyManagementError, VerificationError) as exc:
            # An expired or broken trust list: decide nothing until a sync mends it.
            raise OnlineError(503, "trust_unavailable", str(exc.code)) from None
        with self._lock:
            if store is not self.verifier.store:
                self.verifier = Verifier(store, self.verifier.policy, self.verifier.registry)
            return self.verifier

    def start(self, purpose_id: str) -> dict[str, Any]:
        """A new transaction for one of the relying party's registered purposes."""
        now = self.now()
        with self._lock:
            self._forget_expired(now)
            if len(self._by_transaction) >= self.max_pending:
                raise OnlineError(503, "too_many_pending", "try again shortly")
        request_id, state = _random_id(), _random_id()
        try:
            request = self.current_verifier().make_request(
                signer=self.signer,
                client_id=self.client_id,
                purpose_id=purpose_id,
                now=now,
                lifetime=self.lifetime,
                response_mode=RESPONSE_MODE_DIRECT_POST,
                response_uri=self.response_uri,
                state=state,
            )
        except RequestError as exc:  # not a purpose this relying party registered
            raise OnlineError(400, "invalid_request", exc.code.value) from None
        transaction = _Transaction(_random_id(), request, forget_at=request.expires_at + 60)
        with self._lock:
            self._by_transaction[transaction.transaction_id] = transaction
            self._by_request[request_id] = transaction
            self._by_state[state] = transaction
        request_uri = f"{self.request_base}/requests/{request_id}"
        link = (
            WALLET_LINK_SCHEME
            + "?"
            + urlencode({"client_id": self.client_id, "request_uri": request_uri})
        )
        return {
            "transaction_id": transaction.transaction_id,
            "wallet_link": link,
            "request_uri": request_uri,
            "expires_at": request.expires_at,
        }

    def request_object(self, request_id: str) -> str | None:
        with self._lock:
            transaction = self._by_request.get(request_id)
        if transaction is None or self.now() >= transaction.request.expires_at:
            return None
        return transaction.request.token

    def receive(self, form: dict[str, str]) -> None:
        """§8.2: the wallet's answer or refusal, once per transaction."""
        verifier = self.current_verifier()  # before the state is spent: it may be unavailable
        state = form.get("state")
        with self._lock:
            transaction = self._by_state.pop(state, None) if state else None
        if transaction is None:
            raise OnlineError(400, "invalid_request", "unknown or answered state")
        now = self.now()
        transaction.answered_at = now
        if now >= transaction.request.expires_at:
            transaction.status, transaction.error = TransactionStatus.EXPIRED, "request_expired"
            raise OnlineError(400, "invalid_request", "the request has expired")
        if "error" in form:
            transaction.status, transaction.error = TransactionStatus.DECLINED, form["error"][:64]
            return
        presentation = _single_presentation(form.get("vp_token"), transaction.request)
        if presentation is None:
            transaction.status, transaction.error = TransactionStatus.REFUSED, "malformed"
            raise OnlineError(400, "invalid_request", "vp_token is not as asked")
        result = verifier.verify_answer(presentation, transaction.request, now=now)
        transaction.result = result
        transaction.status = TransactionStatus.VALID if result.valid else TransactionStatus.REFUSED
        transaction.error = result.error.value if result.error else None

    def report(self, transaction_id: str) -> dict[str, Any] | None:
        """What the bank's page shows; the claims once, then they are forgotten."""
        now = self.now()
        with self._lock:
            self._forget_expired(now)
            transaction = self._by_transaction.get(transaction_id)
        if transaction is None:
            return None
        if (
            transaction.status is TransactionStatus.PENDING
            and now >= transaction.request.expires_at
        ):
            transaction.status = TransactionStatus.EXPIRED
        report: dict[str, Any] = {"status": transaction.status.value, "error": transaction.error}
        result = transaction.result
        if result is not None and result.valid and not transaction.delivered:
            report["result"] = result.to_dict()
            transaction.delivered, transaction.result = True, None
        elif transaction.delivered:
            report["delivered"] = True
        return report

    def _forget_expired(self, now: int) -> None:
        gone = [t for t in self._by_transaction.values() if now >= t.forget_at]
        for transaction in gone:
            del self._by_transaction[transaction.transaction_id]
        if gone:
            dropped = {id(t) for t in gone}
            for index in (self._by_request, self._by_state):
                for key in [k for k, t in index.items() if id(t) in dropped]:
                    del index[key]


def _single_presentation(vp_token: str | None, request: PresentationRequest) -> str | None:
    """§8.1: a JSON object keyed by the credential query's id, one presentation in a list."""
    if vp_token is None:
        return None
    try:
        token = json_loads(vp_token)  # strict and bounded: no duplicate members, depth <= 32
    except KeyManagementError:
        return None
    query_id = request.credential_query.id
    if not isinstance(token, dict) or set(token) != {query_id}:
        return None
    presentations = token[query_id]
    if not isinstance(presentations, list) or len(presentations) != 1:
        return None
    presentation = presentations[0]
    return presentation if isinstance(presentation, str) else None


def _random_id() -> str:
    return secrets.token_urlsafe(_ID_BYTES)


class OnlineError(Exception):
    """A refusal, rendered as the OAuth error body ``{"error", "error_description"}``."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status, self.code, self.description = status, code, description

    def response(self) -> JSONResponse:
        body = {"error": self.code, "error_description": self.description}
        return JSONResponse(body, self.status, headers={"Cache-Control": "no-store"})


async def _read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, bounded before it is parsed."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise OnlineError(415, "invalid_request", "not a form")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_RESPONSE_BYTES:
            raise OnlineError(413, "invalid_request", "response too large")
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise OnlineError(400, "invalid_request", "malformed form") from None
    if any(len(values) != 1 for values in fields.values()):
        raise OnlineError(400, "invalid_request", "a parameter is repeated")
    return {name: values[0] for name, values in fields.items()}


def wallet_router(online: OnlineVerifier) -> APIRouter:
    """The endpoints a citizen's wallet calls: public."""
    router = APIRouter(tags=["wallet"])

    @router.get(
        "/requests/{request_id}",
        response_class=Response,
        responses={200: {"content": {REQUEST_OBJECT_MEDIA_TYPE: {}}}},
    )
    def request_object(request_id: str) -> Response:
        """The signed request object (RFC 9101 §5.2), while it is current."""
        token = online.request_object(request_id)
        if token is None:
            return OnlineError(404, "invalid_request", "no such request, or expired").response()
        return Response(token, media_type=REQUEST_OBJECT_MEDIA_TYPE)

    @router.post("/response")
    async def response(request: Request) -> JSONResponse:
        """OpenID4VP 1.0 §8.2 direct_post: `vp_token` and `state`, or `error` and `state`."""
        try:
            online.receive(await _read_form(request))
        except OnlineError as refusal:
            return refusal.response()
        return JSONResponse({}, headers={"Cache-Control": "no-store"})

    return router


def bank_router(online: OnlineVerifier) -> APIRouter:
    """The endpoints the bank's own page calls: mount them behind the bank's authentication."""
    router = APIRouter(tags=["bank"])

    @router.post("/transactions")
    def start(purpose_id: Annotated[str, Body(embed=True, max_length=64)]) -> JSONResponse:
        """A new request for one of the bank's registered purposes; show `wallet_link` as a QR."""
        try:
            return JSONResponse(online.start(purpose_id), headers={"Cache-Control": "no-store"})
        except OnlineError as refusal:
            return refusal.response()

    @router.get("/transactions/{transaction_id}")
    def report(transaction_id: str) -> JSONResponse:
        """Pending, or the verdict: the disclosed claims are returned once."""
        found = online.report(transaction_id)
        if found is None:
            return OnlineError(404, "not_found", "no such transaction").response()
        return JSONResponse(found, headers={"Cache-Control": "no-store"})

    return router
