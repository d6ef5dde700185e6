"""What the ecosystem reads from us beyond OID4VCI: JWT VC Issuer Metadata (SD-JWT VC draft 12
§5) for every agency, and SD-JWT VC Type Metadata (§6-§9) for every registry type, bound to each
credential by `vct#integrity`.

The libraries that consume them are in tests/interop/; here, their content and our own use.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from credential_schemas import Registry
from issuer.api import create_app
from keys.encoding import b64url_decode, json_loads_object
from keys.jwk import Jwks
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import AGENCY_TYPES, RESIDENT, issue, issuer_id
from verifier import sd_jwt_vc as vc
from verifier.sd_jwt import split_compact
from verifier.type_metadata import (
    TYPE_METADATA_PATH,
    integrity,
    type_metadata,
    type_metadata_bytes,
    type_metadata_integrity,
)

world, client = _issuer_client.world, _issuer_client.client  # fixtures
REGISTRY = Registry.load()


def _jwt_part(credential: str, index: int) -> dict[str, Any]:
    return json_loads_object(b64url_decode(split_compact(credential).issuer_jwt.split(".")[index]))


# --- JWT VC Issuer Metadata ----------------------------------------------------------------------


@pytest.mark.parametrize("slug", sorted(AGENCY_TYPES))
def test_every_agency_publishes_its_keys_at_the_well_known_place(
    client: TestClient, world: IssuerWorld, slug: str
) -> None:
    iss = issuer_id(world, slug)
    path = iss.split("://", 1)[1].split("/", 1)[1]  # §5.1: inserted between host and path
    response = client.get(f"{vc.WELL_KNOWN_JWT_VC_ISSUER}/{path}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["issuer"] == iss  # §5.3: identical to `iss`
    assert "jwks_uri" not in document  # §5.2: one of the two, not both
    assert Jwks.from_dict(document["jwks"]) == Jwks.from_dict(
        client.get(f"/agencies/{slug}/jwks.json").json()
    )


def test_the_published_keys_verify_the_agencys_credentials(
    client: TestClient, world: IssuerWorld
) -> None:
    credential = issue(client, world).credentials[0]
    iss = _jwt_part(credential, 1)["iss"]
    kid = _jwt_part(credential, 0)["kid"]
    document = client.get(f"{vc.WELL_KNOWN_JWT_VC_ISSUER}/agencies/mois").json()
    assert document["issuer"] == iss
    assert kid in Jwks.from_dict(document["jwks"]).keys


def test_an_unknown_agency_has_no_issuer_metadata(client: TestClient) -> None:
    response = client.get(f"{vc.WELL_KNOWN_JWT_VC_ISSUER}/agencies/nobody")
    assert response.status_code == 404


# --- Type Metadata -------------------------------------------------------------------------------


@pytest.mark.parametrize("type_id", sorted({t.id for t in REGISTRY.types}))
def test_every_type_has_metadata_generated_from_the_registry(type_id: str) -> None:
    credential_type = REGISTRY.get(type_id)
    document = type_metadata(credential_type)
    assert document["vct"] == credential_type.vct
    assert {d["locale"]: d["name"] for d in document["display"]} == {
        "ko": credential_type.display_name("ko"),
        "en": credential_type.display_name("en"),
    }
    claims = document["claims"]
    for claim in claims:
        path = claim["path"]
        assert path and all(p is None or isinstance(p, str) for p in path)  # §9.1
        assert {d["locale"] for d in claim["display"]} == {"ko", "en"}
        if len(path) == 1:
            assert claim["sd"] == (
                "always" if path[0] in credential_type.selectively_disclosable else "never"
            )
    # Every top-level claim, derived ones included, has a label in both languages.
    top = {claim["path"][0]: claim for claim in claims if len(claim["path"]) == 1}
    assert set(top) == set(credential_type.claim_names)
    for name, claim in top.items():
        labels = {d["locale"]: d["label"] for d in claim["display"]}
        assert labels == {
            "ko": credential_type.claim_label(name, "ko"),
            "en": credential_type.claim_label(name, "en"),
        }


def test_the_resident_register_extract_reads_as_a_wallet_shows_it() -> None:
    document = type_metadata(REGISTRY.get(RESIDENT))
    assert {"locale": "ko", "name": "주민등록표 초본"} in document["display"]
    moved_in = next(
        c for c in document["claims"] if c["path"] == ["address_history", None, "moved_in"]
    )
    assert {"locale": "ko", "label": "전입일"} in moved_in["display"]
    assert "sd" not in moved_in  # inside a disclosure: the issuer's choice, not the type's


def test_integrity_is_w3c_subresource_integrity_of_the_bytes() -> None:
    content = type_metadata_bytes(REGISTRY.get(RESIDENT))
    expected = "sha256-" + base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert integrity(content) == expected == type_metadata_integrity(REGISTRY.get(RESIDENT))


def test_no_integrity_unless_the_deployment_asks_for_it(
    client: TestClient, world: IssuerWorld
) -> None:
    """Off by default: it costs the bank's answer a QR version (docs/interop.md)."""
    assert "vct#integrity" not in _jwt_part(issue(client, world).credentials[0], 1)


def test_served_bytes_match_the_integrity_every_credential_carries(world: IssuerWorld) -> None:
    settings = dataclasses.replace(world.settings, vct_integrity=True)
    deployment = dataclasses.replace(world.deployment, settings=settings)
    with TestClient(create_app(deployment=deployment)) as client:
        credential = issue(client, world).credentials[0]
        payload = _jwt_part(credential, 1)
        response = client.get(f"{TYPE_METADATA_PATH}/{payload['vct']}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "immutable" in response.headers["cache-control"]
    assert integrity(response.content) == payload["vct#integrity"]
    assert response.json()["vct"] == payload["vct"]  # §6.3: identical to the credential's


def test_an_unknown_vct_has_no_type_metadata(client: TestClient) -> None:
    assert client.get(f"{TYPE_METADATA_PATH}/urn:jigap:nothing:1").status_code == 404
