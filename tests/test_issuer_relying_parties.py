"""Registering counters with the trust operator: the published trust list names them.

The service functions run against both databases; `jigap issuer relying-party` runs
in-process (typer's CliRunner) on a deployment `jigap issuer init` made.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from issuer.services.relying_parties import (
    register_relying_party,
    registered_relying_parties,
    remove_relying_party,
)
from issuer.settings import ENV_PREFIX
from jigap_cli import app as jigap
from keys.cli import PASSPHRASE_ENV
from keys.errors import TrustListError
from keys.jwk import Algorithm, SigningKey
from keys.trust_list import verify_trust_list
from servicekit.db import session_scope
from tests._issuer import IssuerWorld
from tests._issuer_client import client, world  # noqa: F401 - fixtures
from tests.test_relying_party import rp_entry

COUNTER_KEY = SigningKey.generate(Algorithm.ES256)


def entry(**overrides: Any) -> dict[str, Any]:
    return rp_entry(**{"jwks": {"keys": [COUNTER_KEY.public_key.to_jwk()]}, **overrides})


def published(http: TestClient, issuer: IssuerWorld) -> Any:
    response = http.get("/trust-list.jwt")
    assert response.status_code == 200
    anchor = issuer.deployment.anchor_signer()
    assert anchor is not None
    return verify_trust_list(response.text.strip(), anchor.public_key, now=int(issuer.clock()))


def test_a_registered_counter_is_named_by_the_next_trust_list(
    world: IssuerWorld,  # noqa: F811 - fixture
    client: TestClient,  # noqa: F811 - fixture
) -> None:
    before = published(client, world)
    assert before.relying_parties == {}
    register_relying_party(world.deployment, entry())
    after = published(client, world)
    assert after.sequence > before.sequence  # a new publication, not the cached one
    party = after.relying_parties["counter.woori.example"]
    assert party.jwks.get(COUNTER_KEY.kid) is not None
    assert [p.id for p in party.purposes] == ["account_opening", "age_check"]


def test_registering_again_replaces_and_removing_withdraws(
    world: IssuerWorld,  # noqa: F811 - fixture
    client: TestClient,  # noqa: F811 - fixture
) -> None:
    register_relying_party(world.deployment, entry())
    renamed = entry(name={"ko": "우리은행 종로지점", "en": "Woori Bank Jongno"})
    register_relying_party(world.deployment, renamed)
    with session_scope(world.deployment.engine) as session:
        parties = registered_relying_parties(session)
    assert list(parties) == ["counter.woori.example"]
    assert parties["counter.woori.example"].names["en"] == "Woori Bank Jongno"
    assert remove_relying_party(world.deployment, "counter.woori.example")
    assert not remove_relying_party(world.deployment, "counter.woori.example")
    assert published(client, world).relying_parties == {}


def test_an_entry_the_list_could_not_carry_is_refused_and_nothing_stored(
    world: IssuerWorld,  # noqa: F811 - fixture
) -> None:
    agency_key = world.deployment.key_store("mois").list_keys()[0].public_key
    unknown_type = entry()
    unknown_type["purposes"][0]["credentials"][0]["vct"] = "urn:jigap:no-such-type:1"
    for bad, fragment in (
        (entry(jwks={"keys": [agency_key.to_jwk()]}), "is listed under"),
        (unknown_type, "unknown type"),
        (entry(id="Woori Bank"), "DNS-style"),
    ):
        with pytest.raises(TrustListError) as caught:
            register_relying_party(world.deployment, bad)
        assert fragment in caught.value.detail
    with session_scope(world.deployment.engine) as session:
        assert registered_relying_parties(session) == {}


def test_the_command_registers_lists_and_removes_a_counter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name == PASSPHRASE_ENV:
            monkeypatch.delenv(name)
    data_dir = tmp_path / "issuer-data"
    runner = CliRunner()
    init = runner.invoke(jigap, ["issuer", "init", "--data-dir", str(data_dir)])
    assert init.exit_code == 0, init.stdout + init.stderr
    entry_file = tmp_path / "woori.json"
    entry_file.write_text(json.dumps(entry()), encoding="utf-8")

    def run(*arguments: str) -> Any:
        return runner.invoke(
            jigap, ["issuer", "relying-party", *arguments, "--data-dir", str(data_dir)]
        )

    samples = run("list").stdout  # `init` registers the sample counters, each with a key
    assert "counter.bank.example (Example Bank), 1 keys" in samples
    assert "age_check (Age check: 19 or over, one-way 60 s)" in samples
    assert "sample counters" not in init.stdout and "counter.store.example" in init.stdout
    assert len(list((data_dir / "counters" / "counter.store.example").glob("*.json"))) == 1
    added = run("add", str(entry_file))
    assert added.exit_code == 0, added.stdout + added.stderr
    assert added.stdout.strip() == "registered counter.woori.example (Woori Bank): " + (
        "account_opening, age_check"
    )
    listed = run("list")
    assert "counter.woori.example (Woori Bank)" in listed.stdout
    assert "urn:jigap:resident-register-extract:1: name, birth_date, address" in listed.stdout
    entry_file.write_text(json.dumps(entry(id="Not A Name")), encoding="utf-8")
    refused = run("add", str(entry_file))
    assert refused.exit_code == 1
    assert "DNS-style" in refused.stderr and "Traceback" not in refused.stderr
    assert run("remove", "counter.woori.example").stdout.strip() == "removed counter.woori.example"
    again = run("remove", "counter.woori.example")
    assert again.exit_code == 1 and "not registered" in again.stderr
