"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import issuer.models  # noqa: F401 - registers the tables
from issuer.db import MIGRATIONS, migrate
from servicekit.db import make_engine


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(
                MigrationContext.configure(connection), SQLModel.metadata
            )
            tables = set(inspect(connection).get_table_names())
        assert differences == []
        assert set(SQLModel.metadata.tables) <= tables
        migrate(engine)  # a second run is a no-op
    finally:
        engine.dispose()


def test_downgrade_removes_everything(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        with engine.connect() as connection:
            left = set(inspect(connection).get_table_names()) - {"alembic_version"}
        assert left == set()
    finally:
        engine.dispose()
