"""A lost answer, asked for again: issuance that a citizen can always finish.

The process can die, or the network drop, after a transaction commits and before its
answer reaches the wallet. Without this, a lost token answer left the pre-authorized code
spent, and a lost credential answer left credentials signed, recorded and delivered to
nobody, with every retry told "already issued". So:

- **Token endpoint.** The access token of an offer is derived from its id under the
  deployment key (like its pre-authorized code), so the same code and transaction code,
  asked again while the offer is redeemed and not yet issued, get the same token again:
  a first token never used stays valid, and its lifetime starts again. Bounded by the
  code's own lifetime and by ``MAX_TOKEN_ANSWERS`` per offer; a wrong transaction code
  spends one of those too (the offer is not killed: its token may be in use), so guessing
  stays bounded.
- **Credential endpoint.** The credentials issued with a token are kept sealed on the
  token's row (``keys.sealing``, bound to the token), for the token's lifetime, at most
  ``access_token_seconds`` after issuance; the expired-token sweep deletes them. The same
  token, proving the same holder keys with fresh nonces, gets the same credentials again,
  at most ``MAX_REDELIVERIES`` times, each an audit event (no claim). Without the token
  there is nothing to ask with.

What can still not finish (the token expired before any answer got through) stays a
redeemed offer with its claims sealed: the agency sees it as stuck and re-offers it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from issuer.models import AccessToken, Agency, AuditEvent, DeferredIssuance, Offer, OfferState
from issuer.services.deployment import Deployment, FaultPoint
from issuer.services.offers import TX_CODE_PURPOSE
from issuer.tokens import keyed_hash, token_hash
from keys.encoding import json_dumps
from keys.jwk import PublicKey
from protocols.oid4vci import TokenRequest
from protocols.oid4vci.errors import (
    CredentialErrorCode,
    CredentialRequestError,
    OAuthError,
    OAuthErrorCode,
)
from servicekit.db import session_scope

__all__ = [
    "MAX_REDELIVERIES",
    "MAX_TOKEN_ANSWERS",
    "Redelivered",
    "TokenAgain",
    "access_token_for",
    "answer_token_again",
    "delivery_context",
    "keep_for_redelivery",
    "redelivery",
]

MAX_TOKEN_ANSWERS = 3  # token answers after the first, per offer
MAX_REDELIVERIES = 3  # credential answers after the first, per access token
ACCESS_TOKEN_PURPOSE = "access_token"  # noqa: S105 - a domain label, not a secret
DELIVERY_CONTEXT = "issued-credentials"
REDELIVER_ACTION = "credential.redeliver"
TOKEN_AGAIN_ACTION = "token.answer_again"  # noqa: S105 - an audit action


@dataclass(frozen=True, slots=True)
class TokenAgain:
    access_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Redelivered:
    credentials: tuple[str, ...]
    notification_id: str


def access_token_for(deployment: Deployment, offer_id: str) -> str:
    """The access token of offer ``offer_id``: the same each time the code is redeemed."""
    return keyed_hash(deployment.settings.hmac_key, ACCESS_TOKEN_PURPOSE, offer_id)


def delivery_context(hashed_token: str) -> str:
    return f"{DELIVERY_CONTEXT}\x00{hashed_token}"


# --- Token endpoint ---------------------------------------------------------------------------


def answer_token_again(
    deployment: Deployment, *, slug: str, request: TokenRequest
) -> TokenAgain | None:
    """The token again for a redeemed offer's code and transaction code; None when the code
    is not that of a redeemed offer (the first-time path answers or refuses it)."""
    now, settings = deployment.now(), deployment.settings
    code_hash = token_hash(request.pre_authorized_code)
    # Most codes come once: a read that takes no write lock tells them apart first.
    with session_scope(deployment.read_engine) as session:
        if _redeemed_offer(session, slug, code_hash, now) is None:
            return None
    wrong_tx_code = False
    with session_scope(deployment.engine) as session:
        offer = _redeemed_offer(session, slug, code_hash, now)
        if offer is None:
            return None
        if session.exec(
            select(DeferredIssuance.offer_id).where(DeferredIssuance.offer_id == offer.id)
        ).first():
            return None  # its token was used to ask for credentials: its answer arrived
        if offer.tx_code_hash is None and request.tx_code is not None:
            raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "this offer takes no tx_code")
        if offer.tx_code_hash is not None and request.tx_code is None:
            raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "tx_code is required")
        spent = session.exec(
            update(Offer)
            .where(
                col(Offer.id) == offer.id,
                col(Offer.state) == OfferState.REDEEMED,
                col(Offer.token_answers_left) > 0,
            )
            .values(token_answers_left=Offer.token_answers_left - 1)
        )
        if spent.rowcount != 1:
            return None  # none left: answered as a used code
        if offer.tx_code_hash is not None:
            given = keyed_hash(settings.hmac_key, TX_CODE_PURPOSE, request.tx_code or "")
            wrong_tx_code = given != offer.tx_code_hash
        if not wrong_tx_code:
            access_token = access_token_for(deployment, offer.id)
            expires_at = now + settings.access_token_seconds
            row = session.get(AccessToken, token_hash(access_token))
            if row is None:  # swept since it expired
                row = AccessToken(
                    token_hash=token_hash(access_token),
                    offer_id=offer.id,
                    agency_id=offer.agency_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            row.expires_at = expires_at
            session.add(row)
            _audit(
                session,
                offer,
                TOKEN_AGAIN_ACTION,
                now,
                {"answers_left": offer.token_answers_left - 1},
            )
            return TokenAgain(access_token, settings.access_token_seconds)
    # Outside the transaction: the spent answer is committed before the error goes out.
    raise OAuthError(OAuthErrorCode.INVALID_GRANT, "wrong tx_code")


def _redeemed_offer(session: Session, slug: str, code_hash: str, now: int) -> Offer | None:
    """The offer of agency ``slug`` with this code, if redeemed and the code still valid."""
    offer = session.exec(
        select(Offer)
        .join(Agency, col(Agency.id) == col(Offer.agency_id))
        .where(Agency.slug == slug, Offer.pre_authorized_code_hash == code_hash)
    ).first()
    if offer is None or offer.state != OfferState.REDEEMED or offer.expires_at <= now:
        return None
    return offer


# --- Credential endpoint ----------------------------------------------------------------------


def keep_for_redelivery(
    session: Session,
    deployment: Deployment,
    access_token: str,
    credentials: Sequence[str],
    holder_keys: Sequence[PublicKey],
    now: int,
) -> None:
    """Keep ``credentials`` sealed on their access token, for the same token to fetch again."""
    hashed = token_hash(access_token)
    token = session.get(AccessToken, hashed)
    assert token is not None  # noqa: S101 - authorised in this transaction
    kept = {"credentials": list(credentials), "holder_kids": [k.kid for k in holder_keys]}
    token.sealed_credentials = deployment.sealer.seal(
        json_dumps(kept), context=delivery_context(hashed)
    )
    token.redeliveries_left = MAX_REDELIVERIES
    # No longer than a fresh token would live: a deferred one was kept valid for days.
    token.expires_at = min(token.expires_at, now + deployment.settings.access_token_seconds)
    session.add(token)
    deployment.fault_point(FaultPoint.STORING)


def redelivery(
    session: Session,
    deployment: Deployment,
    offer: Offer,
    access_token: str,
    holder_kids: frozenset[str] | None,
    now: int,
) -> Redelivered | None:
    """The credentials issued with ``access_token`` again, if it holds any (None if not).

    ``holder_kids``: the keys this request proved, which must be those the credentials
    were bound to (None for the deferred endpoint, whose request names no key)."""
    hashed = token_hash(access_token)
    # Read afresh: a concurrent request of this token may have just committed them.
    token = session.exec(
        select(AccessToken)
        .where(AccessToken.token_hash == hashed)
        .execution_options(populate_existing=True)
    ).first()
    if token is None or token.sealed_credentials is None or offer.notification_id is None:
        return None
    kept = json.loads(
        deployment.sealer.open(token.sealed_credentials, context=delivery_context(hashed))
    )
    if holder_kids is not None and holder_kids != frozenset(kept["holder_kids"]):
        raise CredentialRequestError(
            CredentialErrorCode.CREDENTIAL_REQUEST_DENIED,
            "this offer was already issued, to other holder keys",
        )
    spent = session.exec(
        update(AccessToken)
        .where(col(AccessToken.token_hash) == hashed, col(AccessToken.redeliveries_left) > 0)
        .values(redeliveries_left=AccessToken.redeliveries_left - 1)
    )
    if spent.rowcount != 1:
        raise CredentialRequestError(
            CredentialErrorCode.CREDENTIAL_REQUEST_DENIED,
            "this offer was already issued, and delivered again as often as allowed",
        )
    credentials = tuple(str(credential) for credential in kept["credentials"])
    _audit(session, offer, REDELIVER_ACTION, now, {"credentials": len(credentials)})
    return Redelivered(credentials, offer.notification_id)


def _audit(session: Session, offer: Offer, action: str, now: int, detail: dict[str, int]) -> None:
    # By the service itself (no agency token); never a claim, a token or a code.
    session.add(
        AuditEvent(
            agency_id=offer.agency_id,
            action=action,
            target=offer.id,
            detail=detail,
            at=now,
        )
    )
