"""Rotating the issuer's master key that seals personal data at rest, while the service runs.

The machinery (a new key, every sealed value re-wrapped in batches by conditional UPDATEs, a
grace period, retired keys deleted once no row names them, resume) is
``servicekit.sealing_rotation``'s, shared with the wallet service; here are the issuer's
sealed columns: a pending offer's claims and the credentials an access token may fetch again.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import SQLModel

from issuer.models import AccessToken, Offer
from issuer.services.offers import offer_claims_context
from issuer.services.redelivery import delivery_context
from keys.sealing import SealingKeyStore
from servicekit import sealing_rotation
from servicekit.sealing_rotation import (
    DEFAULT_BATCH,
    DEFAULT_GRACE_SECONDS,
    RotationPoint,
    RotationReport,
    SealedColumn,
)

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_GRACE_SECONDS",
    "SEALED_COLUMNS",
    "RotationPoint",
    "RotationReport",
    "rotate_sealing_key",
]

# Every sealed value of the issuer's database, with the context it was sealed for.
SEALED_COLUMNS = (
    SealedColumn.of(
        SQLModel.metadata.tables[str(Offer.__tablename__)],
        "id",
        "sealed_claims",
        offer_claims_context,
    ),
    SealedColumn.of(
        SQLModel.metadata.tables[str(AccessToken.__tablename__)],
        "token_hash",
        "sealed_credentials",
        delivery_context,
    ),
)


def rotate_sealing_key(
    engine: Engine,
    store: SealingKeyStore,
    *,
    resume: bool = False,
    keep_old: bool = False,
    batch: int = DEFAULT_BATCH,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    fault_hook: Callable[[RotationPoint], None] | None = None,
) -> RotationReport:
    """``servicekit.sealing_rotation.rotate_sealing_key`` over the issuer's sealed columns."""
    return sealing_rotation.rotate_sealing_key(
        engine,
        store,
        SEALED_COLUMNS,
        resume=resume,
        keep_old=keep_old,
        batch=batch,
        grace_seconds=grace_seconds,
        fault_hook=fault_hook,
    )
