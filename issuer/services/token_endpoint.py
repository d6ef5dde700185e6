"""The token endpoint (OID4VCI 1.0 §6): a pre-authorized code, and its transaction code, for
an access token.

The code is redeemed by a conditional UPDATE (OFFERED -> REDEEMED) whose row count decides
the one winner. A wrong transaction code counts only against an offer still waiting for its
code, and three kill it. A code whose answer was lost is answered again with the same token
(``issuer.services.redelivery``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from issuer import observability as observe
from issuer.models import AccessToken, Offer, OfferState
from issuer.services.deployment import Deployment
from issuer.services.issuance import agency_by_slug
from issuer.services.offers import TX_CODE_PURPOSE
from issuer.services.redelivery import MAX_TOKEN_ANSWERS, access_token_for, answer_token_again
from issuer.tokens import keyed_hash, token_hash
from protocols.oid4vci import TokenRequest
from protocols.oid4vci.errors import OAuthError, OAuthErrorCode
from servicekit.db import retrying, session_scope

__all__ = ["IssuedTokens", "redeem_pre_authorized_code"]

_INVALID_CODE = "unknown, used or expired code"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int


@retrying
def redeem_pre_authorized_code(
    deployment: Deployment, *, slug: str, request: TokenRequest
) -> IssuedTokens:
    again = answer_token_again(deployment, slug=slug, request=request)
    if again is not None:  # a redeemed code, asked again: its answer was lost
        return IssuedTokens(again.access_token, again.expires_in)
    now, settings = deployment.now(), deployment.settings
    wrong_tx_code: str | None = None
    with session_scope(deployment.engine) as session:
        agency = agency_by_slug(session, slug)
        offer = (
            session.exec(
                select(Offer).where(
                    Offer.pre_authorized_code_hash == token_hash(request.pre_authorized_code),
                    Offer.agency_id == agency.id,
                )
            ).first()
            if agency is not None
            else None
        )
        if offer is None or offer.state != OfferState.OFFERED or offer.expires_at <= now:
            raise OAuthError(OAuthErrorCode.INVALID_GRANT, _INVALID_CODE)
        # §6.3: a transaction code missing or unexpected is invalid_request; wrong, invalid_grant.
        if offer.tx_code_hash is None and request.tx_code is not None:
            raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "this offer takes no tx_code")
        if offer.tx_code_hash is not None:
            if request.tx_code is None:
                raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "tx_code is required")
            given = keyed_hash(settings.hmac_key, TX_CODE_PURPOSE, request.tx_code)
            if given != offer.tx_code_hash:
                wrong_tx_code = _spend_tx_code_attempt(session, offer.id)
                observe.transaction_code_refused(slug)
        if wrong_tx_code is None:
            redeemed = session.exec(
                update(Offer)
                .where(
                    col(Offer.id) == offer.id,
                    col(Offer.state) == OfferState.OFFERED,
                    col(Offer.expires_at) > now,
                )
                .values(
                    state=OfferState.REDEEMED,
                    redeemed_at=now,
                    token_answers_left=MAX_TOKEN_ANSWERS,
                )
            )
            if redeemed.rowcount != 1:  # another request redeemed it first
                raise OAuthError(OAuthErrorCode.INVALID_GRANT, _INVALID_CODE)
            access_token = access_token_for(deployment, offer.id)
            session.add(
                AccessToken(
                    token_hash=token_hash(access_token),
                    offer_id=offer.id,
                    agency_id=offer.agency_id,
                    created_at=now,
                    expires_at=now + settings.access_token_seconds,
                )
            )
            return IssuedTokens(access_token, settings.access_token_seconds)
    # Outside the transaction: the spent attempt is committed before the error goes out.
    raise OAuthError(OAuthErrorCode.INVALID_GRANT, wrong_tx_code)


def _spend_tx_code_attempt(session: Session, offer_id: str) -> str:
    # Only an offer still waiting for its code pays for a wrong one: once the right code has
    # redeemed it (committed while this request read it), a late wrong try changes nothing.
    waiting = (col(Offer.id) == offer_id) & (col(Offer.state) == OfferState.OFFERED)
    spent = session.exec(
        update(Offer)
        .where(waiting, col(Offer.tx_code_attempts_left) > 0)
        .values(tx_code_attempts_left=Offer.tx_code_attempts_left - 1)
    )
    if spent.rowcount != 1:
        return _INVALID_CODE
    # The UPDATE holds the row: what it left is read back unchanged by anyone else.
    left = session.exec(select(Offer.tx_code_attempts_left).where(Offer.id == offer_id)).one()
    if left > 0:
        return f"wrong tx_code; {left} attempts left"
    session.exec(update(Offer).where(waiting).values(state=OfferState.DEAD, sealed_claims=None))
    return "wrong tx_code; no attempts left, the offer is withdrawn"
