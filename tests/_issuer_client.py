"""The issuer in-process for HTTP tests: a seeded world, a ``TestClient`` over it, and the
steps of the pre-authorized code flow one at a time, so that a test can stop between them or
send something else.

Test modules import the ``world`` and ``client`` fixtures from here; ``database_url`` (from
``conftest.py``) makes each test run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlmodel import SQLModel, select

from issuer.api import create_app
from issuer.db import migrate
from issuer.models import Offer
from keys.jwk import SigningKey
from protocols.oid4vci import PRE_AUTHORIZED_CODE_GRANT, make_jwt_proof
from servicekit.db import make_engine, session_scope
from tests._issuer import AGENCIES, IssuerWorld, make_settings, seed

__all__ = [
    "AGENCY_TYPES",
    "FAMILY",
    "HEALTH",
    "PUBLIC_URL",
    "RESIDENT",
    "RRN",
    "Issued",
    "Redeemed",
    "admin",
    "bearer",
    "client",
    "create_offer",
    "error_of",
    "issue",
    "issuer_id",
    "nonce",
    "offer_row",
    "post_credential",
    "post_token",
    "pre_authorized_code",
    "proof",
    "redeem",
    "redeemed",
    "rows",
    "token_form",
    "world",
]

PUBLIC_URL = "http://127.0.0.1:8000"
AGENCY_TYPES = {slug: tuple(types) for slug, _, _, types in AGENCIES}
RESIDENT = "resident_register_extract"  # mois
# The other type mois issues (issuer/sample_agencies.json: the household copy beside the extract),
# read from the sample data rather than named here.
FAMILY = next(t for t in AGENCY_TYPES["mois"] if t != RESIDENT)
HEALTH = "health_insurance_eligibility"  # nhis
RRN = "850315-1012348"  # the resident registration number of the registry's first examples
_DEFAULT_TYPE = {"mois": RESIDENT, "nhis": HEALTH}

Row = TypeVar("Row", bound=SQLModel)


_SQLITE = "sqlite:///"
_migrated: list[Path] = []  # one SQLite file at the head revision, per test session


def _migrated_sqlite(factory: pytest.TempPathFactory) -> Path:
    if not _migrated:
        path = factory.mktemp("migrated") / "issuer.sqlite3"
        engine = make_engine(_SQLITE + str(path))
        migrate(engine)
        engine.dispose()  # the last connection's close folds the WAL into the file
        _migrated.append(path)
    return _migrated[0]


@pytest.fixture
def world(
    database_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IssuerWorld]:
    if database_url.startswith(_SQLITE):
        # Copying a migrated file is faster than migrating; seed() then finds it at head.
        shutil.copyfile(_migrated_sqlite(tmp_path_factory), database_url.removeprefix(_SQLITE))
    world = seed(make_settings(database_url, tmp_path / "data", PUBLIC_URL))
    yield world
    world.deployment.engine.dispose()


@pytest.fixture
def client(world: IssuerWorld) -> Iterator[TestClient]:
    with TestClient(create_app(deployment=world.deployment)) as http:
        yield http


# --- small pieces ------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin(world: IssuerWorld, slug: str = "mois") -> dict[str, str]:
    """Headers of agency ``slug``'s admin API token."""
    return bearer(world.tokens[slug])


def issuer_id(world: IssuerWorld, slug: str = "mois") -> str:
    return world.settings.issuer_id(slug)


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert an error response ``{"error": code, ...}`` with ``status``; return its body."""
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["error"] == code, body
    assert set(body) == {"error", "error_description"}
    assert "no-store" in response.headers["cache-control"]
    return body


def rows(world: IssuerWorld, model: type[Row]) -> list[Row]:
    with session_scope(world.deployment.engine) as session:
        return list(session.exec(select(model)))


def offer_row(world: IssuerWorld, offer_id: str) -> Offer:
    with session_scope(world.deployment.engine) as session:
        offer = session.get(Offer, offer_id)
        assert offer is not None
        return offer


# --- the flow, step by step --------------------------------------------------------------------


def create_offer(
    client: TestClient,
    world: IssuerWorld,
    *,
    slug: str = "mois",
    type_id: str | None = None,
    claims: Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """POST /admin/offers as agency ``slug``; the type's first example unless ``claims``."""
    credential_type = world.deployment.registry.get(type_id or _DEFAULT_TYPE[slug])
    if "resident_registration_number" not in credential_type.examples[0]:
        options.setdefault("subject", RRN)
    response = client.post(
        "/admin/offers",
        json={
            "credential_type": credential_type.id,
            "claims": dict(claims if claims is not None else credential_type.examples[0]),
            **options,
        },
        headers=admin(world, slug),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def pre_authorized_code(offer: Mapping[str, Any]) -> str:
    return str(
        offer["credential_offer"]["grants"][PRE_AUTHORIZED_CODE_GRANT]["pre-authorized_code"]
    )


def token_form(
    offer: Mapping[str, Any],
    *,
    tx_code: str | None = None,
    grant_type: str = PRE_AUTHORIZED_CODE_GRANT,
) -> dict[str, str]:
    form = {"grant_type": grant_type, "pre-authorized_code": pre_authorized_code(offer)}
    if tx_code is not None:
        form["tx_code"] = tx_code
    return form


def post_token(client: TestClient, form: Mapping[str, str], slug: str = "mois") -> Any:
    return client.post(f"/agencies/{slug}/token", data=dict(form))


def redeem(client: TestClient, offer: Mapping[str, Any], slug: str = "mois") -> str:
    """The access token for ``offer`` (with its transaction code, if it has one)."""
    response = post_token(client, token_form(offer, tx_code=offer["tx_code"]), slug)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def nonce(client: TestClient, slug: str = "mois") -> str:
    response = client.post(f"/agencies/{slug}/nonce")
    assert response.status_code == 200, response.text
    return str(response.json()["c_nonce"])


def proof(
    world: IssuerWorld,
    c_nonce: str | None,
    *,
    key: SigningKey | None = None,
    slug: str = "mois",
    audience: str | None = None,
    now: int | None = None,
) -> str:
    """A `jwt` key proof as a wallet makes it, by ``key`` (a fresh one unless given)."""
    return make_jwt_proof(
        key or SigningKey.generate(),
        audience=audience or issuer_id(world, slug),
        nonce=c_nonce,
        now=int(world.clock()) if now is None else now,
    )


def post_credential(
    client: TestClient,
    access_token: str | None,
    proofs: list[str],
    *,
    slug: str = "mois",
    configuration_id: str = RESIDENT,
) -> Any:
    return client.post(
        f"/agencies/{slug}/credential",
        json={"credential_configuration_id": configuration_id, "proofs": {"jwt": proofs}},
        headers=bearer(access_token) if access_token is not None else {},
    )


@dataclass
class Redeemed:
    """An offer whose pre-authorized code has been exchanged: what a wallet holds next."""

    offer: dict[str, Any]
    access_token: str
    slug: str

    @property
    def offer_id(self) -> str:
        return str(self.offer["offer_id"])


@dataclass
class Issued(Redeemed):
    credentials: list[str] = field(default_factory=list)
    notification_id: str = ""
    keys: list[SigningKey] = field(default_factory=list)


def redeemed(
    client: TestClient, world: IssuerWorld, *, slug: str = "mois", **options: Any
) -> Redeemed:
    offer = create_offer(client, world, slug=slug, **options)
    return Redeemed(offer, redeem(client, offer, slug), slug)


def issue(
    client: TestClient, world: IssuerWorld, *, slug: str = "mois", batch: int = 1, **options: Any
) -> Issued:
    """An offer taken through to credentials, one per fresh holder key."""
    grant = redeemed(client, world, slug=slug, **options)
    c_nonce = nonce(client, slug)
    keys = [SigningKey.generate() for _ in range(batch)]
    response = post_credential(
        client,
        grant.access_token,
        [proof(world, c_nonce, key=key, slug=slug) for key in keys],
        slug=slug,
        configuration_id=grant.offer["credential_offer"]["credential_configuration_ids"][0],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Issued(
        grant.offer,
        grant.access_token,
        slug,
        credentials=[item["credential"] for item in body["credentials"]],
        notification_id=body["notification_id"],
        keys=keys,
    )
