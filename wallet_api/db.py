"""The wallet service's database: its own migrations (``wallet_api/migrations``) and its own
Alembic version table over the shared engine, sessions and failure rules of ``servicekit.db``.

The version table is ``wallet_alembic_version`` (and every table is named ``wallet_…``), so
that the issuer and the wallet service can share one PostgreSQL database and schema.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from servicekit import db

__all__ = ["MIGRATIONS", "VERSION_TABLE", "head_revision", "migrate", "schema_state"]

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "wallet_alembic_version"  # named in migrations/env.py too


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic, from ``wallet_api/migrations``)."""
    db.migrate(engine, MIGRATIONS, revision)


def head_revision() -> str:
    return db.head_revision(MIGRATIONS)


def schema_state(engine: Engine) -> db.SchemaState:
    """Where the database's schema stands against the wallet's migrations."""
    return db.schema_state(engine, MIGRATIONS, version_table=VERSION_TABLE)
