"""Rotating the wallet's master key that seals what accounts receive, while the service runs.

The machinery (a new key, every sealed value re-wrapped in batches by conditional UPDATEs, a
grace period, retired keys deleted once no row names them, resume) is
``servicekit.sealing_rotation``'s, shared with the issuer; here are the wallet's sealed
columns (``wallet_api.models``, contexts from ``wallet_api.sealed``): an issuance's state
while it is under way, every copy of a credential held, and a presentation under way.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from keys.sealing import SealingKeyStore
from servicekit import sealing_rotation
from servicekit.sealing_rotation import (
    DEFAULT_BATCH,
    DEFAULT_GRACE_SECONDS,
    RotationPoint,
    RotationReport,
    SealedColumn,
)
from wallet_api.models import METADATA, CredentialCopy, Intake, Presentation
from wallet_api.sealed import copy_context, intake_context, presentation_context

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_GRACE_SECONDS",
    "SEALED_COLUMNS",
    "RotationPoint",
    "RotationReport",
    "rotate_sealing_key",
]

# Every sealed value of the wallet's database, with the context it was sealed for.
SEALED_COLUMNS = (
    SealedColumn.of(
        METADATA.tables[str(Intake.__tablename__)], "id", "sealed_state", intake_context
    ),
    SealedColumn.of(
        METADATA.tables[str(CredentialCopy.__tablename__)], "id", "sealed", copy_context
    ),
    SealedColumn.of(
        METADATA.tables[str(Presentation.__tablename__)],
        "id",
        "sealed_state",
        presentation_context,
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
    """``servicekit.sealing_rotation.rotate_sealing_key`` over the wallet's sealed columns."""
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
