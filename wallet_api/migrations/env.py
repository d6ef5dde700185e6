"""Alembic environment: the connection comes from ``wallet_api.db.migrate`` (servicekit.db);
the version table is the wallet's own (``wallet_api.db.VERSION_TABLE``)."""

from __future__ import annotations

from alembic import context

from wallet_api.db import VERSION_TABLE
from wallet_api.models import METADATA

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
