"""A real issuer deployment for tests: a database (SQLite file or PostgreSQL schema), key
stores on disk, the sample agencies, their admin tokens, and a clock the test can move.

``database_url`` gives a fresh, empty database for one test: a SQLite file in ``tmp_path``,
or a new schema in the PostgreSQL server of ``JIGAP_TEST_DATABASE_URL`` (dropped after).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from credential_schemas import Registry
from issuer.cli import sample_agencies
from issuer.db import migrate
from issuer.models import Agency
from issuer.services.admin import create_agency_token
from issuer.services.deployment import Deployment
from issuer.settings import Settings
from keys.sealing import SealingKeyStore
from keys.store import FileKeyStore
from servicekit.db import make_engine, scratch_postgres_schema, session_scope

PG_ENV = "JIGAP_TEST_DATABASE_URL"
PASSPHRASE = "correct horse battery staple"
HMAC_KEY = bytes(range(32))
START = 1_800_000_000
FAST_SCRYPT = 2**10  # key files in tests: the cost is a parameter of the record
# The sample agencies of `jigap issuer init`, less the last: two agencies to tell apart.
AGENCIES = [
    (a["slug"], a["name"]["ko"], a["name"]["en"], a["credential_types"])
    for a in sample_agencies()[:2]
]
_REGISTRY = Registry.load()


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def fresh_postgres_schema() -> Iterator[str]:
    """A new, empty schema in the test server; the URL routes every connection into it."""
    server = postgres_url()
    assert server is not None
    with scratch_postgres_schema(server, prefix="t_") as url:
        yield url


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class IssuerWorld:
    deployment: Deployment
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)  # agency slug -> admin API token

    @property
    def settings(self) -> Settings:
        return self.deployment.settings


def make_settings(database_url: str, data_dir: Path, public_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=public_url,
        data_dir=data_dir,
        key_passphrase=PASSPHRASE,
        hmac_key=HMAC_KEY,
        status_list_size=4096,
    )


def seed(settings: Settings, *, clock: Clock | None = None) -> IssuerWorld:
    """Migrate the database and create the sample agencies, their keys and tokens."""
    clock = clock or Clock()
    engine = make_engine(settings.database_url)
    migrate(engine)
    deployment = Deployment(settings=settings, engine=engine, registry=_REGISTRY, clock=clock)
    world = IssuerWorld(deployment, clock)
    FileKeyStore(settings.anchor_dir, PASSPHRASE, scrypt_n=FAST_SCRYPT).generate()
    SealingKeyStore(deployment.sealing_keys_dir, PASSPHRASE, scrypt_n=FAST_SCRYPT).generate()
    with session_scope(engine) as session:
        for slug, name_ko, name_en, types in AGENCIES:
            agency = Agency(
                slug=slug, name_ko=name_ko, name_en=name_en, credential_types=types,
                created_at=int(clock()),
            )  # fmt: skip
            session.add(agency)
            session.flush()
            FileKeyStore(settings.keys_dir / slug, PASSPHRASE, scrypt_n=FAST_SCRYPT).generate()
            world.tokens[slug] = create_agency_token(
                session, agency=agency, label="test", now=int(clock())
            )
    return world
