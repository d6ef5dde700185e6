"""Answering a counter's request the citizen was shown (``wallet_api.presenting``).

2. ``accept``: the citizen said yes. One unused copy is taken (a conditional UPDATE of
   ``used_at``: a copy is never used twice, so two counters never see the same signature or
   digests), the fewest disclosures chosen on it again, and the Key Binding JWT's signing input
   returned (RFC 9901 §4.3; OpenID4VP 1.0 §B.3.6: `aud` the client_id, `nonce` the request's).
3. ``sign``: the phone's signature is checked with the copy's key (a bad one never reaches the
   counter); the answer is the JG1 envelope (a QR the phone draws, or PNG/SVG besides), or it is
   posted to the counter's response URI (§8.2 direct_post).
4. ``refuse``: nothing is disclosed; an online counter is told `access_denied` (§8.5).

Once answered or refused the sealed working data is dropped: the history row alone stays.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from keys.encoding import b64url_decode, json_dumps
from keys.errors import KeyManagementError
from keys.jwk import PublicKey, public_key_from_jwk
from keys.jws import decode_compact
from servicekit.db import retrying, session_scope
from verifier import sd_jwt_vc as vc
from verifier.dcql import CredentialQuery
from verifier.dcql_select import NotSatisfiable, Selection
from verifier.envelope import encode_envelope
from verifier.openid4vp import RESPONSE_MODE_DIRECT_POST
from verifier.sd_jwt import split_compact
from wallet_api.counter_client import CounterError
from wallet_api.deployment import WalletDeployment
from wallet_api.errors import WalletError, WalletErrorCode
from wallet_api.holding import CredentialState, credential_state, unusable_advice
from wallet_api.models import Credential, CredentialCopy, Presentation
from wallet_api.presentation import prepare_key_binding
from wallet_api.presentation_rows import (
    PresentationState,
    advance,
    counter_client,
    finish,
    move,
    open_working,
    rowcount,
    under_way,
)
from wallet_api.presenting import AnswerFormat, query_of, select_copy
from wallet_api.receiving import trust_store

__all__ = ["accept", "refuse", "sign"]

logger = logging.getLogger("jigap.wallet.presenting")


def accept(
    deployment: WalletDeployment,
    account_id: str,
    presentation_id: str,
    *,
    answer_format: AnswerFormat = AnswerFormat.TEXT,
) -> dict[str, Any]:
    presentation = under_way(deployment, account_id, presentation_id)
    if presentation.state != PresentationState.ASKED:
        raise WalletError(WalletErrorCode.WRONG_STATE, f"this presentation is {presentation.state}")
    working = open_working(deployment, presentation)
    query = query_of(working)
    store = trust_store(deployment)
    now = deployment.now()
    with session_scope(deployment.read_engine) as session:
        credential = session.get(Credential, working["credential_id"])
        copies = list(
            session.exec(
                select(CredentialCopy).where(
                    CredentialCopy.credential_id == working["credential_id"]
                )
            ).all()
        )
    if credential is None:
        raise WalletError(WalletErrorCode.NO_MATCHING_CREDENTIAL, "the credential was deleted")
    state = credential_state(credential, copies, store, now)
    if state is not CredentialState.VALID:  # revoked (or moved) since it was shown
        raise WalletError(
            WalletErrorCode.CREDENTIAL_UNUSABLE, f"{state}: {unusable_advice({state})}"
        )
    return _take_copy_and_bind(deployment, presentation, working, query, answer_format, copies)


@retrying
def _take_copy_and_bind(
    deployment: WalletDeployment,
    presentation: Presentation,
    working: dict[str, Any],
    query: CredentialQuery,
    answer_format: AnswerFormat,
    copies: list[CredentialCopy],
) -> dict[str, Any]:
    """In one transaction: an unused copy taken (the one shown, if still unused), the signing
    input made over its disclosures, the presentation moved on. Another request that took the
    presentation meanwhile rolls the copy back: a copy is consumed only by an accepted one."""
    now = deployment.now()
    unused = sorted(
        (c for c in copies if c.used_at is None), key=lambda c: c.id != working["copy_id"]
    )
    with session_scope(deployment.engine) as session:
        for copy in unused:
            taken = session.execute(
                update(CredentialCopy)
                .where(col(CredentialCopy.id) == copy.id, col(CredentialCopy.used_at).is_(None))
                .values(used_at=now)
            )
            if rowcount(taken) == 1:
                break
        else:
            raise WalletError(
                WalletErrorCode.NO_UNUSED_COPY,
                "every copy has been used once: ask the agency for more copies",
            )
        try:
            selection = select_copy(deployment, copy, query)
        except NotSatisfiable as exc:  # copies of one credential hold the same claims
            raise WalletError(WalletErrorCode.NO_MATCHING_CREDENTIAL, exc.detail) from exc
        holder = _holder_key(selection)
        prepared = prepare_key_binding(
            selection.sd_jwt,
            holder_algorithm=holder.algorithm,
            audience=working["client_id"],
            nonce=working["nonce"],
            now=now,
        )
        signing_input = prepared.signing_input.decode("ascii")
        working.update(
            copy_id=copy.id,
            holder_jwk=holder.to_jwk(),
            presentation=prepared.sd_jwt.without_key_binding(),
            signing_input=signing_input,
            format=str(answer_format),
        )
        advance(session, deployment, presentation, PresentationState.ACCEPTED, working)
    return {
        "id": presentation.id,
        "state": str(PresentationState.ACCEPTED),
        "signing_input": signing_input,
        "holder_jkt": holder.kid,
    }


def _holder_key(selection: Selection) -> PublicKey:
    """The copy's `cnf` key (SD-JWT VC §3.2.2.2): the key the phone signs the KB-JWT with.
    The copy was verified when it arrived; it is read here, not checked again."""
    payload = decode_compact(
        selection.sd_jwt.issuer_jwt, expected_typ=vc.CREDENTIAL_TYP
    ).unverified_claims()
    return public_key_from_jwk(payload[vc.CNF][vc.JWK])


# -- 3. the phone's signature: the answer ---------------------------------------------------


def sign(
    deployment: WalletDeployment, account_id: str, presentation_id: str, *, signature: str
) -> dict[str, Any]:
    presentation = under_way(deployment, account_id, presentation_id)
    if presentation.state != PresentationState.ACCEPTED:
        raise WalletError(WalletErrorCode.WRONG_STATE, f"this presentation is {presentation.state}")
    working = open_working(deployment, presentation)
    key = public_key_from_jwk(working["holder_jwk"])
    signing_input: str = working["signing_input"]
    try:
        key.verify(b64url_decode(signature), signing_input.encode("ascii"))
    except KeyManagementError:
        raise WalletError(
            WalletErrorCode.INVALID_SIGNATURE, f"not a signature by the copy's key {key.kid}"
        ) from None
    answer = f"{working['presentation']}{signing_input}.{signature}"
    split_compact(answer)  # the answer is well formed: the service made every part of it
    if presentation.response_mode == RESPONSE_MODE_DIRECT_POST:
        return _submit(deployment, presentation, working, answer)
    envelope = encode_envelope(answer)
    body: dict[str, Any] = {"id": presentation.id, "state": str(PresentationState.ANSWERED),
                            "envelope": envelope}  # fmt: skip
    image_format = AnswerFormat(working.get("format", AnswerFormat.TEXT))
    if image_format is not AnswerFormat.TEXT:
        body[str(image_format)] = _image(envelope, image_format)
    finish(deployment, presentation, PresentationState.ANSWERED)
    return body


def _image(envelope: str, image_format: AnswerFormat) -> str:
    from verifier.qr_image import render_png, render_svg

    if image_format is AnswerFormat.PNG:
        return base64.b64encode(render_png(envelope)).decode("ascii")
    return base64.b64encode(render_svg(envelope).encode("utf-8")).decode("ascii")


def _submit(
    deployment: WalletDeployment,
    presentation: Presentation,
    working: dict[str, Any],
    answer: str,
) -> dict[str, Any]:
    """§8.2: `vp_token` (a JSON object: the query id -> [the presentation]) and `state`, posted
    once: the presentation is marked submitted first (a second signature sent at once finds it
    taken), and back to accepted if the counter did not take it, so the phone may try again."""
    move(deployment, presentation, PresentationState.SUBMITTED, working)
    form = {"vp_token": json_dumps({working["query"]["id"]: [answer]}).decode("utf-8")}
    if working.get("state") is not None:
        form["state"] = working["state"]
    try:
        submitted = counter_client(deployment).post_response(working["response_uri"], form)
    except CounterError as exc:
        move(deployment, presentation, PresentationState.ACCEPTED, working)
        raise WalletError(WalletErrorCode.COUNTER_UNAVAILABLE, str(exc)) from exc
    finish(deployment, presentation, PresentationState.SUBMITTED)
    body: dict[str, Any] = {
        "id": presentation.id,
        "state": str(PresentationState.SUBMITTED),
        "submitted": True,
    }
    if submitted.redirect_uri is not None:
        body["redirect_uri"] = submitted.redirect_uri
    return body


# -- 4. refusing ----------------------------------------------------------------------------


def refuse(deployment: WalletDeployment, account_id: str, presentation_id: str) -> dict[str, Any]:
    """No: nothing is disclosed; a copy taken by accept stays used (it was never shown)."""
    presentation = under_way(deployment, account_id, presentation_id)
    working = open_working(deployment, presentation)
    finish(deployment, presentation, PresentationState.REFUSED)
    told = None
    if presentation.response_mode == RESPONSE_MODE_DIRECT_POST:
        form = {"error": "access_denied"}  # §8.5: the End-User did not give consent
        if working.get("state") is not None:
            form["state"] = working["state"]
        try:
            counter_client(deployment).post_response(working["response_uri"], form)
            told = True
        except CounterError as exc:
            logger.info(
                "refusal not delivered", extra={"event": "refusal_undelivered", "error": str(exc)}
            )
            told = False
    return {"id": presentation.id, "state": str(PresentationState.REFUSED), "counter_told": told}
