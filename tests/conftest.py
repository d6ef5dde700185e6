"""Test-wide settings."""

from hypothesis import settings

# A shared 2-core CI machine can stall any one example for a moment; hangs are pytest-timeout's
# business, so Hypothesis's per-example deadline would only add flaky failures.
settings.register_profile("jigap", deadline=None)
settings.load_profile("jigap")


# --- The issuer service: a real database per test, SQLite and PostgreSQL -------------------

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests._issuer import fresh_postgres_schema, postgres_url  # noqa: E402

_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite file, or a new PostgreSQL schema (skipped without
    JIGAP_TEST_DATABASE_URL; CI always sets it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'issuer.sqlite3'}"
        return
    if postgres_url() is None:
        pytest.skip("JIGAP_TEST_DATABASE_URL is not set")
    yield from fresh_postgres_schema()
