"""A service's database: engine, schema migrations (Alembic), sessions.

Shared by the issuer and the wallet service, which each pass their own migrations directory:
two services on one database stack must not grow two copies of its locking rules.

SQLite (a file, the default) and PostgreSQL behave the same to the code above: SQLite gets
WAL, foreign keys and a busy timeout so that several worker processes can share one file.
A SQLite file is created owner-only (0600): it holds citizens' pending claims, and SQLite
gives its ``-wal`` and ``-shm`` files the mode of the database file.

``UNAVAILABLE`` names the failures that say "the database cannot answer now" (unreachable,
restarted, locked, a deadlock victim) rather than "this request is wrong": the service answers
them 503 with ``Retry-After`` and the commands exit with their own code (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

__all__ = [
    "UNAVAILABLE",
    "SchemaState",
    "describe_unavailable",
    "head_revision",
    "is_transaction_conflict",
    "make_engine",
    "migrate",
    "read_only",
    "retrying",
    "schema_state",
    "scratch_postgres_schema",
    "session_scope",
]

_SQLITE_BUSY_MS = 30_000
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_READ_ONLY = "jigap_read_only"  # an execution option: see read_only()
# PostgreSQL's SQLSTATEs for a transaction the server gave up so that others could go on:
# deadlock_detected, serialization_failure. Run again, it normally succeeds.
_CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
_RETRY_PAUSE_MS = 10
_log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


def make_engine(database_url: str, *, busy_seconds: float = _SQLITE_BUSY_MS / 1000) -> Engine:
    """An engine for ``database_url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    ``busy_seconds``: how long a SQLite connection waits for another process's write lock.
    """
    if database_url.startswith("sqlite"):
        _create_owner_only(database_url)
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": busy_seconds}
        )
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_seconds))
        event.listen(engine, "begin", _sqlite_begin)
        _SQLITE_WRITERS[engine] = threading.Lock()
        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _create_owner_only(database_url: str) -> None:
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.parent.is_dir() and not path.exists():
        # O_EXCL: a file someone else creates meanwhile keeps its own mode and owner.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(busy_seconds: float, dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is off; the "begin" listener above opens them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten, not left in free pages for whoever reads the file: a
    # deleted account must leave nothing. Some builds do this by default (Debian's); not all.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(_READ_ONLY):
        # A reader never waits in WAL mode: no lock at BEGIN, and none taken later, since
        # query_only makes any write fail at once instead.
        connection.exec_driver_sql("PRAGMA query_only=ON")
        connection.exec_driver_sql("BEGIN")
    else:
        # BEGIN IMMEDIATE: a write transaction takes the lock at its start, so two
        # processes never both read, then both fail to upgrade to a write lock.
        connection.exec_driver_sql("PRAGMA query_only=OFF")
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Engine:
    """``engine`` for transactions that only read, such as the routes that serve metadata.

    On SQLite they take no lock (every other transaction begins IMMEDIATE, so a reader
    holding one, across a FastAPI dependency's thread hops, would hold up every writer) and
    cannot write; on PostgreSQL they are READ ONLY transactions. The pool is shared.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_READ_ONLY: True})
    return engine.execution_options(postgresql_readonly=True)


def migrate(engine: Engine, migrations: Path, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic, from the directory ``migrations``, whose
    ``env.py`` takes the connection from ``config.attributes["connection"]``)."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _script(migrations: Path) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    return ScriptDirectory.from_config(config)


def head_revision(migrations: Path) -> str:
    """The newest migration in ``migrations``: the one this code needs."""
    head = _script(migrations).get_current_head()
    assert head is not None  # noqa: S101 - the package ships its migrations
    return head


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None  # None: an empty database, never migrated
    head: str
    migrations: Path

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    @property
    def behind(self) -> bool:
        """Older than this code, and ``migrate`` can bring it forward."""
        if self.current is None:
            return True
        known = {revision.revision for revision in _script(self.migrations).walk_revisions()}
        return self.current in known and not self.at_head


def schema_state(
    engine: Engine, migrations: Path, *, version_table: str = "alembic_version"
) -> SchemaState:
    """Where the database's schema stands against ``migrations``; raises one of
    ``UNAVAILABLE`` if it cannot say.

    ``version_table``: the one that service's ``env.py`` names (the wallet service keeps its
    own, so that both services can share one database and schema without clashing).
    """
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        current = context.get_current_revision()
    return SchemaState(current, head_revision(migrations), migrations)


# "The database cannot answer now": connection refused or lost, server restarting, a deadlock
# victim, SQLite's "database is locked", the pool or the writers' queue (below) timing out.
# A statement the database refuses for its content (IntegrityError, DataError) is not here.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,
    TimeoutError,
)


@contextmanager
def session_scope(engine: Engine, *, queue: bool = True) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises.

    ``queue=False`` for a scope whose thread may change while it is open (a FastAPI
    dependency: entered, used and left in different threads of the pool).
    """
    # SQLite admits one writer at a time, and a connection that finds the file locked sleeps
    # in SQLite's busy handler, backing off up to 100 ms a try: under load a few requests
    # wait for seconds. The threads of one process queue on a lock instead, and the busy
    # handler is left to other processes and to unqueued scopes. Only a scope that runs in
    # one thread from start to end may queue: a holder that needs another thread of a pool
    # whose threads all wait for it would stall everyone. The timeout is the busy timeout's,
    # so a transaction opened inside another fails as it would in SQLite, and does not hang.
    writers = _SQLITE_WRITERS.get(engine) if queue else None
    if writers is not None and not writers.acquire(timeout=_SQLITE_BUSY_MS / 1000):
        raise TimeoutError("the SQLite database stayed locked")
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    finally:
        if writers is not None:
            writers.release()


@contextmanager
def scratch_postgres_schema(server_url: str, *, prefix: str) -> Iterator[str]:
    """A new, empty schema on ``server_url`` for one test or benchmark run, dropped after; the
    URL yielded routes every connection made with it into that schema."""
    schema = prefix + secrets.token_hex(8)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def describe_unavailable(exc: BaseException) -> str:
    """One line about a database failure: the driver's first line, never the statement or its
    parameters (SQLAlchemy's message carries both, and parameters can be claims)."""
    original = getattr(exc, "orig", None) or exc
    first_line = (str(original).strip().splitlines() or [""])[0]
    return f"database unavailable: {type(original).__name__}: {first_line}"[:300]


def is_transaction_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a transaction the database aborted for a deadlock or a
    serialization failure (PostgreSQL 40P01 / 40001), as opposed to a real error."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in (
        _CONFLICT_SQLSTATES
    )


def retrying(unit_of_work: Callable[P, T]) -> Callable[P, T]:
    """``unit_of_work`` (a function that opens, runs and ends its own transactions) run once
    more if the database aborted it for a deadlock or a serialization failure.

    The whole function is re-run, never a statement: the aborted transaction was rolled back
    entirely, and what it read may have changed. One retry only: a second conflict in a row
    is load to report (as 503), not to pile onto.
    """

    @functools.wraps(unit_of_work)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return unit_of_work(*args, **kwargs)
        except DBAPIError as exc:
            if not is_transaction_conflict(exc):
                raise
            _log.warning(
                "%s: transaction aborted (%s), running it again",
                unit_of_work.__qualname__,
                getattr(exc.orig, "sqlstate", "?"),
            )
        # A moment, a random one, for the transaction that won to finish: run again at once,
        # the two would meet again in the same order.
        time.sleep((_RETRY_PAUSE_MS + secrets.randbelow(_RETRY_PAUSE_MS * 4)) / 1000)
        return unit_of_work(*args, **kwargs)

    return run
