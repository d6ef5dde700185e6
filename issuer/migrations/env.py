"""Alembic environment: the connection comes from ``issuer.db.migrate`` (servicekit.db)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import issuer.models  # noqa: F401 - registers the tables on SQLModel.metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata)
with context.begin_transaction():
    context.run_migrations()
