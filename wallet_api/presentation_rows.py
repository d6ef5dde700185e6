"""A presentation's row (``wallet_presentations``): its states, the history entry it shows,
and every change of it, conditional on the step it was read at (``step``), as intakes are.

While a presentation is under way its working data (the copy chosen, the SD-JWT with the
disclosures to show, the KB-JWT's signing input) is sealed in the row (``keys.sealing``, bound
to the row); once it is answered, refused or expired that is dropped and the row is history.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from keys.encoding import json_dumps, json_loads_object
from servicekit.db import retrying, session_scope
from verifier.openid4vp import RequestErrorCode
from wallet_api.counter_client import CounterClient
from wallet_api.deployment import WalletDeployment
from wallet_api.errors import WalletError, WalletErrorCode
from wallet_api.metrics import PRESENTATIONS
from wallet_api.models import Presentation
from wallet_api.sealed import presentation_context

__all__ = [
    "UNDER_WAY",
    "PresentationState",
    "advance",
    "counter_client",
    "finish",
    "history_entry",
    "move",
    "open_working",
    "owned",
    "rowcount",
    "seal_working",
    "shown_state",
    "under_way",
]

_MAX_ID_LENGTH = 64


class PresentationState(StrEnum):
    ASKED = "asked"  # shown to the citizen, who decides
    ACCEPTED = "accepted"  # a copy taken, the KB-JWT's signing input handed out
    ANSWERED = "answered"  # the answer handed to the phone (a QR to show)
    SUBMITTED = "submitted"  # the answer posted to the counter (direct_post)
    REFUSED = "refused"  # the citizen said no: nothing was disclosed
    EXPIRED = "expired"  # the request expired before an answer: nothing was disclosed
    OFFLINE = "offline"  # built by the phone without network, reported afterwards


UNDER_WAY = (PresentationState.ASKED, PresentationState.ACCEPTED)


def owned(session: Session, account_id: str, presentation_id: str) -> Presentation:
    """The account's presentation; another account's is answered as none at all."""
    presentation = (
        session.exec(
            select(Presentation).where(
                Presentation.id == presentation_id, Presentation.account_id == account_id
            )
        ).first()
        if len(presentation_id) <= _MAX_ID_LENGTH
        else None
    )
    if presentation is None:
        raise WalletError(WalletErrorCode.NOT_FOUND, "no such presentation")
    return presentation


def shown_state(presentation: Presentation, now: int) -> str:
    if presentation.state in UNDER_WAY and presentation.expires_at <= now:
        return str(PresentationState.EXPIRED)
    return presentation.state


def history_entry(presentation: Presentation, now: int) -> dict[str, Any]:
    """To whom, why, which claims (paths and labels, never values), when."""
    return {
        "id": presentation.id,
        "state": shown_state(presentation, now),
        "created_at": presentation.created_at,
        "expires_at": presentation.expires_at,
        "answered_at": presentation.answered_at,
        "relying_party": {"id": presentation.client_id, "name": presentation.relying_party_name},
        "purpose": presentation.purpose_name,
        "credential_type": presentation.credential_type,
        "disclosed": presentation.disclosed,
        "request_hash": presentation.request_hash,
        "response_mode": presentation.response_mode,
    }


def under_way(deployment: WalletDeployment, account_id: str, presentation_id: str) -> Presentation:
    with session_scope(deployment.read_engine) as session:
        presentation = owned(session, account_id, presentation_id)
    state = shown_state(presentation, deployment.now())
    if state == PresentationState.EXPIRED:
        raise WalletError(
            WalletErrorCode.UNTRUSTED_REQUEST,
            f"{RequestErrorCode.EXPIRED}: the request expired; nothing was disclosed",
        )
    if state not in UNDER_WAY:
        raise WalletError(WalletErrorCode.WRONG_STATE, f"this presentation is {state}")
    return presentation


def counter_client(deployment: WalletDeployment) -> CounterClient:
    return CounterClient(deployment.counter_http)


def seal_working(
    deployment: WalletDeployment, presentation_id: str, working: Mapping[str, Any]
) -> bytes:
    return deployment.sealer.seal(
        json_dumps(working), context=presentation_context(presentation_id)
    )


def open_working(deployment: WalletDeployment, presentation: Presentation) -> dict[str, Any]:
    if presentation.sealed_state is None:
        raise WalletError(WalletErrorCode.WRONG_STATE, f"this presentation is {presentation.state}")
    return json_loads_object(
        deployment.sealer.open(
            presentation.sealed_state, context=presentation_context(presentation.id)
        )
    )


def rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)  # noqa: S101 - an UPDATE's result
    return result.rowcount


def advance(
    session: Session,
    deployment: WalletDeployment,
    presentation: Presentation,
    state: PresentationState,
    working: Mapping[str, Any] | None,
    *,
    answered_at: int | None = None,
) -> None:
    """Move ``presentation`` on from the step it was read at (``wrong_state`` if another
    request moved it meanwhile); ``working`` None drops the sealed working data."""
    moved = session.execute(
        update(Presentation)
        .where(col(Presentation.id) == presentation.id, col(Presentation.step) == presentation.step)
        .values(
            step=presentation.step + 1,
            state=str(state),
            sealed_state=None
            if working is None
            else seal_working(deployment, presentation.id, working),
            answered_at=answered_at,
        )
    )
    if rowcount(moved) != 1:
        raise WalletError(WalletErrorCode.WRONG_STATE, "this presentation changed meanwhile")
    presentation.step += 1
    presentation.state = str(state)


@retrying
def move(
    deployment: WalletDeployment,
    presentation: Presentation,
    state: PresentationState,
    working: Mapping[str, Any],
) -> None:
    with session_scope(deployment.engine) as session:
        advance(session, deployment, presentation, state, working)


@retrying
def finish(
    deployment: WalletDeployment, presentation: Presentation, state: PresentationState
) -> None:
    """End it: the working data dropped, the time of the answer (or refusal) kept."""
    with session_scope(deployment.engine) as session:
        advance(session, deployment, presentation, state, None, answered_at=deployment.now())
    PRESENTATIONS.labels(outcome=str(state), response_mode=presentation.response_mode).inc()
