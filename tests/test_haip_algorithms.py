"""HAIP by default: the issuer takes ES256 key proofs alone, so every credential it signs is
bound to a P-256 key; EdDSA is a deployment's explicit choice (issuer setting)."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from issuer.api import create_app
from issuer.settings import Settings, SettingsError
from keys.jwk import Algorithm, SigningKey
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import error_of, nonce, post_credential, proof, redeemed

world, client = _issuer_client.world, _issuer_client.client  # fixtures


def _ask_with(client: TestClient, world: IssuerWorld, key: SigningKey) -> object:
    grant = redeemed(client, world)
    return post_credential(
        client,
        grant.access_token,
        [proof(world, nonce(client), key=key)],
        configuration_id=grant.offer["credential_offer"]["credential_configuration_ids"][0],
    )


def _proof_algorithms(client: TestClient) -> list[str]:
    metadata = client.get("/.well-known/openid-credential-issuer/agencies/mois").json()
    configurations = metadata["credential_configurations_supported"].values()
    (algorithms,) = {
        tuple(c["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"])
        for c in configurations
    }
    return list(algorithms)


def test_by_default_only_es256_proofs_are_taken(client: TestClient, world: IssuerWorld) -> None:
    assert _proof_algorithms(client) == ["ES256"]
    error_of(_ask_with(client, world, SigningKey.generate(Algorithm.EDDSA)), 400, "invalid_proof")
    response = _ask_with(client, world, SigningKey.generate(Algorithm.ES256))
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]


def test_a_deployment_may_choose_eddsa_too(world: IssuerWorld) -> None:
    settings = dataclasses.replace(world.settings, proof_algorithms=("ES256", "EdDSA"))
    deployment = dataclasses.replace(world.deployment, settings=settings)
    with TestClient(create_app(deployment=deployment)) as client:
        assert _proof_algorithms(client) == ["ES256", "EdDSA"]
        response = _ask_with(client, world, SigningKey.generate(Algorithm.EDDSA))
        assert response.status_code == 200, response.text  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ("ES256",)), ("ES256,EdDSA", ("ES256", "EdDSA")), ("EdDSA", ("EdDSA",))],
)
def test_the_setting_from_the_environment(value: str | None, expected: tuple[str, ...]) -> None:
    env = {"JIGAP_KEY_PASSPHRASE": "p" * 20, "JIGAP_ISSUER_HMAC_KEY": "00" * 32}
    if value is not None:
        env["JIGAP_ISSUER_PROOF_ALGORITHMS"] = value
    assert Settings.from_env(env).proof_algorithms == expected


@pytest.mark.parametrize("value", ["RS256", "", "ES256,HS256"])
def test_an_unknown_algorithm_is_refused(value: str) -> None:
    env = {
        "JIGAP_KEY_PASSPHRASE": "p" * 20,
        "JIGAP_ISSUER_HMAC_KEY": "00" * 32,
        "JIGAP_ISSUER_PROOF_ALGORITHMS": value,
    }
    with pytest.raises(SettingsError, match="proof_algorithms"):
        Settings.from_env(env)
