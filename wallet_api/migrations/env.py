"""Alembic environment: the connection comes from ``wallet_api.db.migrate`` (servicekit.db);
the version table is the wallet's own (``wallet_api.db.VERSION_TABLE``)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import wallet_api.models  # noqa: F401 - registers the tables on SQLModel.metadata
from wallet_api.db import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=SQLModel.metadata, version_table=VERSION_TABLE
)
with context.begin_transaction():
    context.run_migrations()
