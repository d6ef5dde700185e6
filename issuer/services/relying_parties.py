"""Registering counters with the trust operator: who may ask a wallet for what, and why.

A bank or telecom operator submits its entry (keys.relying_party: its client_id, names, the
public keys its requests are signed with, its response URIs and its purposes with the claims
each needs); the operator registers it and the next trust list names it. Registering an
entry again replaces it (new keys, a purpose added or withdrawn); removing it withdraws the
counter from the next list, after which wallets refuse its requests.

An entry is refused here, not at publication, when the published list could not carry it:
a type the registry does not know, or a key an agency (or another counter) already holds.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from issuer.models import RelyingPartyRegistration
from issuer.services.deployment import Deployment
from issuer.services.trust import check_publishable
from keys.errors import KeyErrorCode, TrustListError
from keys.relying_party import RelyingParty, relying_party_from_entry
from servicekit.db import session_scope

__all__ = [
    "register_relying_party",
    "registered_relying_parties",
    "remove_relying_party",
]


def registered_relying_parties(session: Session) -> dict[str, RelyingParty]:
    """Every registered counter, read back through the same checks as a wallet applies."""
    rows = session.exec(select(RelyingPartyRegistration).order_by(col(RelyingPartyRegistration.id)))
    return {row.id: relying_party_from_entry(row.entry) for row in rows}


def register_relying_party(deployment: Deployment, entry: object) -> RelyingParty:
    """Check ``entry`` and store it (replacing an earlier registration of the same id).

    Raises ``TrustListError`` (TRUST_LIST_INVALID) naming the first fault.
    """
    party = relying_party_from_entry(entry)
    known = {t.vct for t in deployment.registry.types}
    for purpose in party.purposes:
        for registered in purpose.credentials:
            if registered.vct not in known:
                raise TrustListError(
                    KeyErrorCode.TRUST_LIST_INVALID,
                    f"relying party {party.id}, purpose {purpose.id}: unknown type "
                    f"{registered.vct}",
                )
    with session_scope(deployment.engine) as session:
        others = registered_relying_parties(session)
        others[party.id] = party
        check_publishable(session, deployment, others)
        row = session.get(RelyingPartyRegistration, party.id)
        if row is None:
            row = RelyingPartyRegistration(id=party.id, entry={}, registered_at=0)
        row.entry = party.to_entry()
        row.registered_at = deployment.now()
        session.add(row)
    return party


def remove_relying_party(deployment: Deployment, client_id: str) -> bool:
    """Withdraw a counter from the next trust list; False if it was not registered."""
    with session_scope(deployment.engine) as session:
        row = session.get(RelyingPartyRegistration, client_id)
        if row is None:
            return False
        session.delete(row)
    return True
