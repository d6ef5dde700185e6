"""Presenting: the citizen's side of OpenID4VP 1.0 at a counter, on the phone's behalf.

A counter shows a signed request (a JR1 QR, a compact JWS, or an ``openid4vp://`` link to it by
reference); or the phone picks a registered one-way preset. Each step is one call:

1. ``ask``: the request is checked by ``verifier.openid4vp.read_request`` against the
   wallet's trust store (a registered, current relying party, its key, times, a registered
   purpose, nothing asked beyond it); a request by reference is fetched only from the origin of
   one of the relying party's registered response URIs. A credential of a type asked, valid,
   with an unused copy, is chosen and ``verifier.dcql_select.select_for_query`` picks the
   fewest disclosures. The phone is shown who asks (the trust list's name), why, and exactly
   which claims with their values. The request is recorded as read (single use, §14.2).
2-4. ``accept``, ``sign``, ``refuse``: ``wallet_api.answering``.

Every change of a presentation is conditional on the step it was read at (``step``), as
intakes are. Refusals disclose nothing and consume no copy. The working data of a
presentation under way (the copy, its disclosures, the signing input) is sealed and dropped
once it is answered, refused or expired; what stays is the citizen's history
(``wallet_api.presentation_history``): to whom, why, which claims (paths, never values), when.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from keys.encoding import b64url_encode
from keys.relying_party import Purpose, RelyingParty
from servicekit.db import retrying, session_scope
from verifier import TrustStore
from verifier.dcql import CredentialQuery, parse_dcql_query
from verifier.dcql_select import NotSatisfiable, Selection, select_for_query
from verifier.openid4vp import (
    CLOCK_SKEW,
    RESPONSE_MODE_QR,
    RequestError,
    RequestErrorCode,
    query_for,
    read_request,
)
from wallet_api.counter_client import CounterError, origin
from wallet_api.deployment import WalletDeployment
from wallet_api.errors import WalletError, WalletErrorCode
from wallet_api.holding import CredentialState, credential_state, unusable_advice
from wallet_api.models import Credential, CredentialCopy, Presentation, SeenRequest
from wallet_api.presentation import claim_label, path_name, request_hash, shown_claims
from wallet_api.presentation_rows import (
    UNDER_WAY,
    PresentationState,
    counter_client,
    history_entry,
    seal_working,
)
from wallet_api.receiving import trust_store
from wallet_api.sealed import copy_context

__all__ = [
    "OPENID4VP_SCHEME",
    "PRESET_SECONDS",
    "AnswerFormat",
    "ask",
    "ask_preset",
    "query_of",
    "select_copy",
]

OPENID4VP_SCHEME = "openid4vp"
# A preset has no request to expire with: the phone signs and shows it within this, and the
# counter accepts it for the purpose's `one_way_seconds` after the phone signed.
PRESET_SECONDS = 300


class AnswerFormat(StrEnum):
    TEXT = "text"  # the envelope text only: the phone draws the QR
    PNG = "png"
    SVG = "svg"


@dataclass(frozen=True, slots=True)
class _Asked:
    """A request every check passed, or a preset the wallet made a request of."""

    client_id: str
    relying_party: RelyingParty
    purpose: Purpose
    nonce: str
    expires_at: int
    query: CredentialQuery
    response_mode: str
    response_uri: str | None
    state: str | None


def _refused_request(exc: RequestError) -> WalletError:
    return WalletError(WalletErrorCode.UNTRUSTED_REQUEST, f"{exc.code}: {exc.detail}")


# -- 1. asking ------------------------------------------------------------------------------


def ask(deployment: WalletDeployment, account_id: str, *, request: str) -> dict[str, Any]:
    """Read a counter's request; what the phone shows the citizen."""
    store = trust_store(deployment)
    token, linked_client_id = _request_token(deployment, store, request.strip())
    try:
        checked = read_request(token, store, now=deployment.now(), registry=deployment.registry)
    except RequestError as exc:
        raise _refused_request(exc) from exc
    if linked_client_id is not None and checked.client_id != linked_client_id:
        # RFC 9101 §6.3: the request object's client_id is the link's, or a counter's
        # registered origin could serve another counter's request as its own.
        raise WalletError(
            WalletErrorCode.UNTRUSTED_REQUEST,
            f"{RequestErrorCode.MALFORMED}: the request is another counter's than the link's",
        )
    asked = _Asked(
        checked.client_id,
        checked.relying_party,
        checked.purpose,
        checked.nonce,
        checked.expires_at,
        checked.credential_query,
        checked.response_mode,
        checked.response_uri,
        checked.state,
    )
    return _open_presentation(deployment, store, account_id, asked, single_use=True)


def _request_token(
    deployment: WalletDeployment, store: TrustStore, text: str
) -> tuple[str, str | None]:
    """The request object, and the client_id the link names (None: no link): given whole, or
    fetched by reference (§5.7) from the origin of one of the relying party's registered
    response URIs, never from anywhere a link names."""
    if not text.lower().startswith(f"{OPENID4VP_SCHEME}:"):
        return text, None
    try:
        query = parse_qs(urlsplit(text).query, max_num_fields=8)
    except ValueError:
        query = {}
    client_ids, request_uris = query.get("client_id", []), query.get("request_uri", [])
    requests = query.get("request", [])
    if len(client_ids) == 1 and len(requests) == 1 and not request_uris:
        return requests[0], client_ids[0]  # by value in the link
    if len(client_ids) != 1 or len(request_uris) != 1 or requests:
        raise WalletError(
            WalletErrorCode.UNTRUSTED_REQUEST,
            f"{RequestErrorCode.MALFORMED}: a link with one client_id and one request_uri",
        )
    party = store.relying_party(client_ids[0])
    if party is None:
        raise WalletError(
            WalletErrorCode.UNTRUSTED_REQUEST,
            f"{RequestErrorCode.UNREGISTERED_CLIENT}: the trust list does not name this counter",
        )
    request_uri = request_uris[0]
    if not any(origin(request_uri) == origin(uri) for uri in party.response_uris):
        raise WalletError(
            WalletErrorCode.UNTRUSTED_REQUEST,
            f"{RequestErrorCode.RESPONSE_URI_NOT_REGISTERED}: the request is not at the "
            "counter's registered origin",
        )
    try:
        return counter_client(deployment).fetch_request(request_uri), party.id
    except CounterError as exc:
        raise WalletError(WalletErrorCode.COUNTER_UNAVAILABLE, str(exc)) from exc


def ask_preset(
    deployment: WalletDeployment, account_id: str, *, client_id: str, purpose_id: str
) -> dict[str, Any]:
    """A one-way preset: a registered purpose with `one_way_seconds`, answered with no request
    (a counter with no screen); the wallet chooses the nonce."""
    store = trust_store(deployment)
    now = deployment.now()
    party = store.relying_party(client_id)
    if party is None:
        raise WalletError(
            WalletErrorCode.UNTRUSTED_REQUEST,
            f"{RequestErrorCode.UNREGISTERED_CLIENT}: the trust list does not name this counter",
        )
    if not party.is_current(now):
        raise WalletError(
            WalletErrorCode.UNTRUSTED_REQUEST,
            f"{RequestErrorCode.CLIENT_NOT_CURRENT}: {party.id} is outside its registration",
        )
    purpose = party.purpose(purpose_id)
    if purpose is None or purpose.one_way_seconds is None:
        raise WalletError(
            WalletErrorCode.UNTRUSTED_REQUEST,
            f"{RequestErrorCode.PURPOSE_NOT_REGISTERED}: no preset of that name",
        )
    held = _held_types(deployment, account_id)
    registration = next((c for c in purpose.credentials if c.vct in held), purpose.credentials[0])
    credential_type = deployment.registry.by_vct(registration.vct)
    query_id = credential_type.id if credential_type is not None else "credential"
    query = parse_dcql_query(query_for(registration, query_id)).credentials[0]
    asked = _Asked(
        client_id,
        party,
        purpose,
        b64url_encode(secrets.token_bytes(16)),
        now + PRESET_SECONDS,
        query,
        RESPONSE_MODE_QR,
        None,
        None,
    )
    return _open_presentation(deployment, store, account_id, asked, single_use=False)


def _held_types(deployment: WalletDeployment, account_id: str) -> set[str]:
    with session_scope(deployment.read_engine) as session:
        return set(
            session.exec(select(Credential.vct).where(Credential.account_id == account_id)).all()
        )


def _open_presentation(
    deployment: WalletDeployment,
    store: TrustStore,
    account_id: str,
    asked: _Asked,
    *,
    single_use: bool,
) -> dict[str, Any]:
    now = deployment.now()
    with session_scope(deployment.read_engine) as session:
        credential, shown_copy, selection = _choose(
            session, deployment, store, account_id, asked.query, now
        )
    credential_type = deployment.registry.by_vct(credential.vct)
    shown = shown_claims(selection)
    presentation = Presentation(
        id=uuid.uuid4().hex,
        account_id=account_id,
        created_at=now,
        expires_at=asked.expires_at,
        state=str(PresentationState.ASKED),
        client_id=asked.client_id,
        relying_party_name=dict(asked.relying_party.names),
        purpose_name=dict(asked.purpose.names),
        credential_type=credential.credential_type,
        disclosed=[
            {"path": list(path), "label": claim_label(credential_type, path)} for path, _ in shown
        ],
        request_hash=request_hash(asked.client_id, asked.nonce),
        response_mode=asked.response_mode,
    )
    working = {
        "credential_id": credential.id,
        "copy_id": shown_copy.id,
        "client_id": asked.client_id,
        "nonce": asked.nonce,
        "query": _query_json(asked.query),
        "response_uri": asked.response_uri,
        "state": asked.state,
    }
    presentation.sealed_state = seal_working(deployment, presentation.id, working)
    _insert(deployment, presentation, remember=single_use)
    view = history_entry(presentation, now)
    view["credential"] = {
        "id": credential.id,
        "type": credential.credential_type,
        "name": _type_names(deployment, credential.vct, credential.credential_type),
    }
    view["disclosed"] = [
        {**row, "value": value}
        for row, (_, value) in zip(presentation.disclosed, shown, strict=True)
    ]
    return view


def _type_names(deployment: WalletDeployment, vct: str, fallback: str) -> dict[str, str]:
    credential_type = deployment.registry.by_vct(vct)
    if credential_type is None:
        return {"ko": fallback, "en": fallback}
    return {lang: credential_type.display_name(lang) for lang in ("ko", "en")}


def _choose(
    session: Session,
    deployment: WalletDeployment,
    store: TrustStore,
    account_id: str,
    query: CredentialQuery,
    now: int,
) -> tuple[Credential, CredentialCopy, Selection]:
    """The account's newest credential of a type asked that is valid and has an unused copy,
    and answers the query: it, the copy to show, and what the counter would see of it; each
    refusal says which of these failed."""
    credentials = session.exec(
        select(Credential)
        .where(Credential.account_id == account_id, col(Credential.vct).in_(query.vct_values))
        .order_by(col(Credential.received_at).desc(), col(Credential.id))
    ).all()
    types = ", ".join(query.vct_values)
    if not credentials:
        raise WalletError(WalletErrorCode.NO_MATCHING_CREDENTIAL, f"no credential of {types}")
    states: list[CredentialState] = []
    candidates: list[tuple[Credential, list[CredentialCopy]]] = []
    for credential in credentials:
        copies = list(
            session.exec(
                select(CredentialCopy)
                .where(CredentialCopy.credential_id == credential.id)
                .order_by(col(CredentialCopy.id))
            ).all()
        )
        state = credential_state(credential, copies, store, now)
        states.append(state)
        if state is CredentialState.VALID:
            candidates.append((credential, copies))
    if not candidates:
        raise WalletError(
            WalletErrorCode.CREDENTIAL_UNUSABLE,
            f"{', '.join(sorted(set(states)))}: {unusable_advice(set(states))}",
        )
    with_copies = [
        (c, copies) for c, copies in candidates if any(k.used_at is None for k in copies)
    ]
    if not with_copies:
        raise WalletError(
            WalletErrorCode.NO_UNUSED_COPY,
            "every copy has been used once: ask the agency for more copies",
        )
    first_missing: NotSatisfiable | None = None
    for credential, copies in with_copies:
        unused = next(k for k in copies if k.used_at is None)
        try:
            return credential, unused, select_copy(deployment, unused, query)
        except NotSatisfiable as exc:
            first_missing = first_missing or exc
    assert first_missing is not None  # noqa: S101 - every candidate was tried
    missing = ", ".join(path_name(p) for p in first_missing.missing)
    raise WalletError(WalletErrorCode.NO_MATCHING_CREDENTIAL, f"the {types} held lacks {missing}")


def select_copy(
    deployment: WalletDeployment, copy: CredentialCopy, query: CredentialQuery
) -> Selection:
    compact = deployment.sealer.open(copy.sealed, context=copy_context(copy.id)).decode("ascii")
    return select_for_query(compact, query)


def _query_json(query: CredentialQuery) -> dict[str, Any]:
    """The credential query as DCQL (§6.1), to be read back with ``parse_dcql_query``."""
    claims = []
    for claim in query.claims or ():
        item: dict[str, Any] = {"path": list(claim.path)}
        if claim.id is not None:
            item["id"] = claim.id
        if claim.values is not None:
            item["values"] = list(claim.values)
        claims.append(item)
    out: dict[str, Any] = {
        "id": query.id,
        "format": "dc+sd-jwt",
        "meta": {"vct_values": list(query.vct_values)},
        "claims": claims,
    }
    if query.claim_sets is not None:
        out["claim_sets"] = [list(option) for option in query.claim_sets]
    return out


def query_of(working: Mapping[str, Any]) -> CredentialQuery:
    return parse_dcql_query({"credentials": [working["query"]]}).credentials[0]


@retrying
def _insert(deployment: WalletDeployment, presentation: Presentation, *, remember: bool) -> None:
    """The presentation and, for a counter's request, the request as read: a request read
    before (by this account or another, in any worker) is ``request_replayed``."""
    now = presentation.created_at
    try:
        with session_scope(deployment.engine) as session:
            _forget_expired(session, now)
            if remember:
                # Kept while read_request would still take the request (its clock skew).
                kept_until = presentation.expires_at + CLOCK_SKEW
                session.add(
                    SeenRequest(request_hash=presentation.request_hash, expires_at=kept_until)
                )
                session.flush()  # the primary key decides, before anything else is written
            session.add(Presentation.model_validate(presentation.model_dump()))
    except IntegrityError:
        raise WalletError(
            WalletErrorCode.REQUEST_REPLAYED, "this request has been read before"
        ) from None


def _forget_expired(session: Session, now: int) -> None:
    """Requests past their `exp` cannot be answered: their replay rows go, presentations left
    under way say expired, and none keeps working data (the copy's disclosures) past it (one
    whose posting was cut short by a crash included)."""
    session.execute(delete(SeenRequest).where(col(SeenRequest.expires_at) <= now))
    past = col(Presentation.expires_at) <= now
    session.execute(
        update(Presentation)
        .where(past, col(Presentation.state).in_([str(s) for s in UNDER_WAY]))
        .values(state=str(PresentationState.EXPIRED), sealed_state=None)
    )
    session.execute(
        update(Presentation)
        .where(past, col(Presentation.sealed_state).is_not(None))
        .values(sealed_state=None)
    )
