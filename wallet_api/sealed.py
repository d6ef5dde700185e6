"""What each sealed value of the wallet's database is sealed for (``keys.sealing`` contexts).

A context binds a sealed value to its row: a blob copied into another row does not open.
"""

from __future__ import annotations

__all__ = ["copy_context", "intake_context", "presentation_context"]


def intake_context(intake_id: str) -> str:
    """``wallet_intakes.sealed_state``: an issuance's codes, tokens and pending proofs."""
    return f"jigap-wallet/intake/{intake_id}"


def copy_context(copy_id: str) -> str:
    """``wallet_credential_copies.sealed``: one copy of a credential, as issued."""
    return f"jigap-wallet/credential-copy/{copy_id}"


def presentation_context(presentation_id: str) -> str:
    """``wallet_presentations.sealed_state``: a presentation under way (the copy chosen, its
    disclosures to show, the KB-JWT signing input), dropped once answered or refused."""
    return f"jigap-wallet/presentation/{presentation_id}"
