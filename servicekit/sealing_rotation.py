"""Rotating the master key that seals personal data at rest, while the service runs.

``rotate_sealing_key`` makes a new master key (``SealingKeyStore.generate``: from then on the
service seals with it, each worker noticing it at its next seal), then re-wraps every sealed
value of the service's ``SealedColumn``s under it (``Sealer.rewrap``: only the wrapped data
key changes, the payload is never decrypted), in small batches. Each batch is read outside
any write lock and written in one short transaction whose UPDATEs are conditional on the
value read: a value the service changed meanwhile is never overwritten, only counted, and the
next pass takes it up if it still needs it.

A retired master key file is deleted only when no row names it any more, counted after a grace
period: a request that sealed under the old key just before the rotation has committed by then.
A run killed half-way leaves every row readable (under the old key or the new one); running it
again (``resume``: without making yet another key) finishes the job.

Each service names its own sealed columns (``issuer.sealing_rotation``,
``wallet_api.sealing_rotation``); what is here knows neither.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Column, Engine, Table, select, update

from keys.errors import KeyStoreError
from keys.sealing import Sealer, SealingKeyStore, key_id_of

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_GRACE_SECONDS",
    "RotationPoint",
    "RotationReport",
    "SealedColumn",
    "rotate_sealing_key",
]

DEFAULT_BATCH = 200
# Longer than any request's transaction: one that sealed under the old key has committed.
DEFAULT_GRACE_SECONDS = 10.0
_MAX_PASSES = 5  # rows the service rewrote meanwhile are retried; bounded, never a loop
_UNREADABLE = "(unreadable)"


class RotationPoint(StrEnum):
    """Where a test's fault hook is called."""

    BATCH_READ = "batch_read"  # re-wrapped in memory, not yet written
    BATCH_WRITTEN = "batch_written"  # its transaction committed


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column of sealed values: ``context(key)`` is what the row's value was sealed for."""

    table: Table
    key: Column[str]  # the primary key: batches walk it in order
    sealed: Column[bytes]
    context: Callable[[str], str]

    @classmethod
    def of(cls, table: Table, key: str, sealed: str, context: Callable[[str], str]) -> SealedColumn:
        """``table``'s columns named ``key`` and ``sealed`` (a ``KeyError`` if it has none)."""
        return cls(table, table.c[key], table.c[sealed], context)


@dataclass(frozen=True, slots=True)
class RotationReport:
    key_id: str  # the active master key everything was re-wrapped under
    rewrapped: int
    changed_meanwhile: int  # rewritten by the service between read and write: not overwritten
    unopenable: int  # damaged, or under a key the store lacks: left as they are
    removed: tuple[str, ...]  # retired master keys deleted (no row named them)
    kept: tuple[str, ...]  # retired master keys kept (in use, or asked to keep)

    def summary(self) -> str:
        return (
            f"sealing key {self.key_id}: {self.rewrapped} re-wrapped, "
            f"{self.changed_meanwhile} changed meanwhile, {self.unopenable} unopenable, "
            f"{len(self.removed)} old keys removed, {len(self.kept)} kept"
        )


def rotate_sealing_key(
    engine: Engine,
    store: SealingKeyStore,
    columns: Sequence[SealedColumn],
    *,
    resume: bool = False,
    keep_old: bool = False,
    batch: int = DEFAULT_BATCH,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    fault_hook: Callable[[RotationPoint], None] | None = None,
) -> RotationReport:
    """A new master key (none with ``resume``), every value of ``columns`` re-wrapped under it,
    and the retired keys no row names deleted (unless ``keep_old``). ``columns`` must be every
    sealed column the store's keys seal: a key is deleted when none of them names it.
    ``fault_hook``: test fault injection, called at each ``RotationPoint`` (a run killed, a
    row changed meanwhile)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if not columns:
        raise ValueError("no sealed columns: every key would look unused")
    if not resume:
        store.generate()
    sealer = store.sealer()
    totals: Counter[str] = Counter()
    for _ in range(_MAX_PASSES):
        counts = _sweep(engine, sealer, columns, batch, fault_hook)
        totals.update(rewrapped=counts["rewrapped"], changed=counts["changed"])
        if not counts["rewrapped"] and not counts["changed"]:
            break
    time.sleep(grace_seconds)
    last = _sweep(engine, sealer, columns, batch, fault_hook)  # what committed during the grace
    totals.update(rewrapped=last["rewrapped"], changed=last["changed"])
    uses = _key_uses(engine, columns)
    active = sealer.active_key_id
    retired = [key_id for key_id in store.key_ids() if key_id != active]
    removed = [] if keep_old else [key_id for key_id in retired if not uses[key_id]]
    for key_id in removed:
        store.remove(key_id)
    return RotationReport(
        key_id=active,
        rewrapped=totals["rewrapped"],
        changed_meanwhile=totals["changed"],
        unopenable=last["unopenable"],
        removed=tuple(removed),
        kept=tuple(key_id for key_id in retired if key_id not in removed),
    )


def _sweep(
    engine: Engine,
    sealer: Sealer,
    columns: Sequence[SealedColumn],
    batch: int,
    fault_hook: Callable[[RotationPoint], None] | None,
) -> Counter[str]:
    """One pass over every sealed column, by primary key, a batch at a time."""
    counts: Counter[str] = Counter()
    sqlite = engine.dialect.name == "sqlite"
    for column in columns:
        last = ""
        while True:
            with engine.connect() as connection:  # a read: no write lock held while re-wrapping
                rows = connection.execute(
                    select(column.key, column.sealed)
                    .where(column.sealed.is_not(None), column.key > last)
                    .order_by(column.key)
                    .limit(batch)
                ).all()
            if not rows:
                break
            last = rows[-1][0]
            changes = []
            active = sealer.active_key_id
            for key, sealed in rows:
                try:
                    if key_id_of(sealed) == active:
                        continue
                    changes.append(
                        (key, sealed, sealer.rewrap(sealed, context=column.context(key)))
                    )
                except KeyStoreError:
                    counts["unopenable"] += 1
            if not changes:
                continue
            if fault_hook is not None:
                fault_hook(RotationPoint.BATCH_READ)
            with engine.begin() as connection:
                if sqlite:  # the old wrapped keys are zeroed, not left in free pages
                    connection.exec_driver_sql("PRAGMA secure_delete=ON")
                for key, old, new in changes:
                    written = connection.execute(
                        update(column.table)
                        .where(column.key == key, column.sealed == old)
                        .values({column.sealed.name: new})
                    ).rowcount
                    counts["rewrapped" if written else "changed"] += 1
            if fault_hook is not None:
                fault_hook(RotationPoint.BATCH_WRITTEN)
    return counts


def _key_uses(engine: Engine, columns: Sequence[SealedColumn]) -> Counter[str]:
    """How many rows name each master key (a blob names it in the clear: no key needed)."""
    uses: Counter[str] = Counter()
    with engine.connect() as connection:
        for column in columns:
            for (sealed,) in connection.execute(
                select(column.sealed).where(column.sealed.is_not(None))
            ).yield_per(1000):
                try:
                    uses[key_id_of(sealed)] += 1
                except KeyStoreError:
                    uses[_UNREADABLE] += 1
    return uses
