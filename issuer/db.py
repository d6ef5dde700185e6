"""The issuer's database: its own migrations (``issuer/migrations``) over the shared engine,
sessions and failure rules of ``servicekit.db``.

Only what names the issuer's schema is here; the engine, ``session_scope``, ``read_only``,
``retrying`` and ``UNAVAILABLE`` are imported from ``servicekit.db`` where they are used, so
that the wallet service gets the same SQLite and PostgreSQL behaviour without importing the
issuer.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from servicekit import db

__all__ = ["MIGRATIONS", "head_revision", "migrate", "schema_state"]

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic, from ``issuer/migrations``)."""
    db.migrate(engine, MIGRATIONS, revision)


def head_revision() -> str:
    """The newest issuer migration this code knows."""
    return db.head_revision(MIGRATIONS)


def schema_state(engine: Engine) -> db.SchemaState:
    """Where the database's schema stands against the issuer's migrations."""
    return db.schema_state(engine, MIGRATIONS)
