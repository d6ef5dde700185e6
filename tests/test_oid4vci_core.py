"""OID4VCI 1.0 (final) issuer metadata (§12.2, §12.3) and credential offers (§4.1)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any
from urllib.parse import quote

import pytest

import protocols.oid4vci
from credential_schemas import Registry
from keys.encoding import json_dumps
from protocols.oid4vci import (
    CREDENTIAL_OFFER_SCHEME,
    PRE_AUTHORIZED_CODE_GRANT,
    SD_JWT_VC_FORMAT,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_OAUTH_AS,
    InvalidOfferError,
    IssuerEndpoints,
    TxCodeInputMode,
    TxCodeSpec,
    authorization_server_metadata,
    credential_issuer_metadata,
    credential_offer,
    offer_uri_by_reference,
    offer_uri_by_value,
    parse_offer_uri,
    well_known_url,
)

ISSUER = "https://rr.issuer.jigap.example"
NAMES = {"ko": "행정안전부", "en": "Ministry of the Interior and Safety"}
REGISTRY = Registry.load()

# examples/credential_metadata_sd_jwt_vc.json at tag 1.0-final: the members of one
# `dc+sd-jwt` credential configuration in the spec's own example.
SPEC_SD_JWT_CONFIGURATION_MEMBERS = {
    "format",
    "scope",
    "cryptographic_binding_methods_supported",
    "credential_signing_alg_values_supported",
    "proof_types_supported",
    "vct",
    "credential_metadata",
}
# examples/credential_offer_pre-authz_code.json at tag 1.0-final.
SPEC_PRE_AUTHZ_OFFER = {
    "credential_issuer": "https://credential-issuer.example.com",
    "credential_configuration_ids": ["UniversityDegreeCredential"],
    "grants": {
        "urn:ietf:params:oauth:grant-type:pre-authorized_code": {
            "pre-authorized_code": "adhjhdjajkdkhjhdj",
            "tx_code": {
                "description": "Please provide the one-time code which was sent to your mobile "
                "phone via SMS"
            },
        }
    },
}
# §4.1.2 and §4.1.3 of the 1.0 final text: an offer by value and one by reference, as QR links.
SPEC_OFFER_BY_VALUE = (
    "openid-credential-offer://?"
    "credential_offer=%7B%22credential_issuer%22:%22https://credential-issuer.exam"
    "ple.com%22,%22credential_configuration_ids%22:%5B%22org.iso.18013.5.1.mDL%22%"
    "5D,%22grants%22:%7B%22urn:ietf:params:oauth:grant-type:pre-authorized_code%22"
    ":%7B%22pre-authorized_code%22:%22oaKazRN8I0IbtZ0C7JuMn5%22,%22tx_code%22:%7B%"
    "22input_mode%22:%22text%22,%22description%22:%22Please%20enter%20the%20serial"
    "%20number%20of%20your%20physical%20drivers%20license%22%7D%7D%7D%7D"
)
SPEC_OFFER_BY_REFERENCE = (
    "openid-credential-offer://?"
    "credential_offer_uri=https%3A%2F%2Fserver%2Eexample%2Ecom%2Fcredential-offer"
    "%2FGkurKxf5T0Y-mnPFCHqWOMiZi4VS138cQO_V7PZHAdM"
)


def _metadata(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "credential_types": REGISTRY.types,
        "names": NAMES,
        "endpoints": IssuerEndpoints.for_issuer(ISSUER),
        "batch_size": 10,
        "signing_algorithms": ["ES256"],
        "proof_algorithms": ["ES256", "EdDSA"],
    }
    return credential_issuer_metadata(ISSUER, **(arguments | overrides))


# --- §12.2 Credential Issuer metadata ----------------------------------------------------------


def test_issuer_metadata_top_level() -> None:
    metadata = _metadata()
    assert {k: v for k, v in metadata.items() if k != "credential_configurations_supported"} == {
        "credential_issuer": ISSUER,
        "credential_endpoint": f"{ISSUER}/credential",
        "nonce_endpoint": f"{ISSUER}/nonce",
        "deferred_credential_endpoint": f"{ISSUER}/deferred_credential",
        "notification_endpoint": f"{ISSUER}/notification",
        "batch_credential_issuance": {"batch_size": 10},
        "display": [
            {"name": "행정안전부", "locale": "ko-KR"},
            {"name": "Ministry of the Interior and Safety", "locale": "en-US"},
        ],
    }
    # Nothing we do not support is advertised.
    assert "credential_response_encryption" not in metadata
    assert "authorization_servers" not in metadata
    json_dumps(metadata)  # serialisable as it stands


@pytest.mark.parametrize("credential_type", REGISTRY.types, ids=lambda t: t.id)
def test_every_registry_type_is_a_dc_sd_jwt_configuration(credential_type: Any) -> None:
    configuration = _metadata()["credential_configurations_supported"][credential_type.id]
    assert set(configuration) == SPEC_SD_JWT_CONFIGURATION_MEMBERS
    assert configuration["format"] == SD_JWT_VC_FORMAT
    assert configuration["scope"] == credential_type.id
    assert configuration["vct"] == credential_type.vct
    assert configuration["cryptographic_binding_methods_supported"] == ["jwk"]
    assert configuration["credential_signing_alg_values_supported"] == ["ES256"]
    assert configuration["proof_types_supported"] == {
        "jwt": {"proof_signing_alg_values_supported": ["ES256", "EdDSA"]}
    }
    assert configuration["credential_metadata"] == credential_type.metadata["credential_metadata"]


def test_every_bundled_type_is_offered() -> None:
    # Named through the registry: a certificate type is data, never a literal in code.
    offered = _metadata()["credential_configurations_supported"]
    assert list(offered) == [t.id for t in REGISTRY.types]
    assert len(offered) >= 12  # the registry's first wave (issue 12)


def test_batch_size_one_means_no_batch_issuance() -> None:
    # §12.2.4: batch_size MUST be 2 or greater, so a single-proof issuer leaves the member out.
    assert "batch_credential_issuance" not in _metadata(batch_size=1)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"batch_size": 0}, id="batch-size-zero"),
        pytest.param({"batch_size": True}, id="batch-size-bool"),
        pytest.param({"signing_algorithms": []}, id="no-signing-algorithm"),
        pytest.param({"proof_algorithms": ["HS256"]}, id="mac-proof-algorithm"),
        pytest.param({"proof_algorithms": ["none"]}, id="none-proof-algorithm"),
        pytest.param({"credential_types": ()}, id="no-types"),
        pytest.param({"credential_types": REGISTRY.types[:1] * 2}, id="duplicate-type"),
        pytest.param({"names": {"fr": "Ministère"}}, id="unknown-language"),
    ],
)
def test_issuer_metadata_refuses_bad_configuration(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _metadata(**overrides)


def test_endpoints_are_built_from_the_issuer_identifier() -> None:
    assert IssuerEndpoints.for_issuer("https://x.example/tenant/") == IssuerEndpoints(
        token="https://x.example/tenant/token",
        nonce="https://x.example/tenant/nonce",
        credential="https://x.example/tenant/credential",
        deferred_credential="https://x.example/tenant/deferred_credential",
        notification="https://x.example/tenant/notification",
    )


def test_authorization_server_metadata() -> None:
    token = IssuerEndpoints.for_issuer(ISSUER).token
    assert authorization_server_metadata(ISSUER, token_endpoint=token) == {
        "issuer": ISSUER,
        "token_endpoint": f"{ISSUER}/token",
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:pre-authorized_code"],
        "pre-authorized_grant_anonymous_access_supported": True,
    }


@pytest.mark.parametrize(
    ("issuer_id", "suffix", "expected"),
    [
        # §12.2.2's two examples.
        (
            "https://issuer.example.com/tenant",
            WELL_KNOWN_CREDENTIAL_ISSUER,
            "https://issuer.example.com/.well-known/openid-credential-issuer/tenant",
        ),
        (
            "https://tenant.issuer.example.com",
            WELL_KNOWN_CREDENTIAL_ISSUER,
            "https://tenant.issuer.example.com/.well-known/openid-credential-issuer",
        ),
        # RFC 8414 §3.1: same insertion; a terminating '/' is dropped.
        (
            "https://server.example.com/issuer1/",
            WELL_KNOWN_OAUTH_AS,
            "https://server.example.com/.well-known/oauth-authorization-server/issuer1",
        ),
        (
            "https://issuer.example.com:8443/a/b",
            WELL_KNOWN_OAUTH_AS,
            "https://issuer.example.com:8443/.well-known/oauth-authorization-server/a/b",
        ),
    ],
)
def test_well_known_url_inserts_between_host_and_path(
    issuer_id: str, suffix: str, expected: str
) -> None:
    assert well_known_url(issuer_id, suffix) == expected


@pytest.mark.parametrize(
    ("issuer_id", "suffix"),
    [
        ("https://issuer.example.com/?tenant=1", WELL_KNOWN_CREDENTIAL_ISSUER),
        ("https://issuer.example.com/#x", WELL_KNOWN_CREDENTIAL_ISSUER),
        ("issuer.example.com/tenant", WELL_KNOWN_CREDENTIAL_ISSUER),
        ("https://issuer.example.com", "/openid-credential-issuer"),
    ],
)
def test_well_known_url_refuses_what_is_not_an_identifier(issuer_id: str, suffix: str) -> None:
    with pytest.raises(ValueError):
        well_known_url(issuer_id, suffix)


# --- §4.1 credential offers ------------------------------------------------------------------


def test_offer_with_a_transaction_code() -> None:
    spec = TxCodeSpec(length=6, description="문자로 받은 6자리 번호를 입력하세요")
    offer = credential_offer(ISSUER, ["resident_register_extract"], "code-1", spec)
    assert offer == {
        "credential_issuer": ISSUER,
        "credential_configuration_ids": ["resident_register_extract"],
        "grants": {
            PRE_AUTHORIZED_CODE_GRANT: {
                "pre-authorized_code": "code-1",
                "tx_code": {
                    "input_mode": "numeric",
                    "length": 6,
                    "description": "문자로 받은 6자리 번호를 입력하세요",
                },
            }
        },
    }


def test_offer_without_a_transaction_code_has_no_tx_code_member() -> None:
    # §4.1.1: tx_code present, even empty, means a code is required.
    offer = credential_offer(ISSUER, ["civil_servant_id"], "code-2", None)
    assert offer["grants"] == {PRE_AUTHORIZED_CODE_GRANT: {"pre-authorized_code": "code-2"}}


def test_tx_code_spec_rules() -> None:
    text_mode: Any = "text"  # a settings file gives a plain string
    assert TxCodeSpec(4, text_mode).to_dict() == {"input_mode": "text", "length": 4}
    assert TxCodeSpec(4, TxCodeInputMode.TEXT).input_mode is TxCodeInputMode.TEXT
    TxCodeSpec(6, description="x" * 300)  # §4.1.1: at most 300 characters
    with pytest.raises(ValueError, match="300"):
        TxCodeSpec(6, description="x" * 301)
    with pytest.raises(ValueError):
        TxCodeSpec(0)
    with pytest.raises(ValueError):
        TxCodeSpec(6, "alphanumeric")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ids", "code"),
    [([], "c"), (["a", "a"], "c"), (["a"], "")],
    ids=["no-configuration", "repeated-configuration", "empty-code"],
)
def test_offer_refuses_bad_arguments(ids: list[str], code: str) -> None:
    with pytest.raises(ValueError):
        credential_offer(ISSUER, ids, code, None)


def test_offer_by_value_round_trips() -> None:
    offer = credential_offer(
        ISSUER,
        ["resident_register_extract", "health_insurance_eligibility"],
        "c+/=&?#",
        TxCodeSpec(6),
    )
    uri = offer_uri_by_value(offer)
    assert uri.startswith(f"{CREDENTIAL_OFFER_SCHEME}?credential_offer=%7B")
    assert not set(uri[len(CREDENTIAL_OFFER_SCHEME) :]) & set(' {}"&+#')
    assert parse_offer_uri(uri) == offer


def test_spec_offer_example_round_trips_by_value() -> None:
    assert parse_offer_uri(offer_uri_by_value(SPEC_PRE_AUTHZ_OFFER)) == SPEC_PRE_AUTHZ_OFFER


def test_offer_by_reference_round_trips() -> None:
    url = f"{ISSUER}/offers/Gk?x=1&y=2"
    uri = offer_uri_by_reference(url)
    assert uri == f"{CREDENTIAL_OFFER_SCHEME}?credential_offer_uri={quote(url, safe='')}"
    assert parse_offer_uri(uri) == url


def test_spec_offer_links_parse() -> None:
    offer = parse_offer_uri(SPEC_OFFER_BY_VALUE)
    assert isinstance(offer, dict)
    grant = offer["grants"][PRE_AUTHORIZED_CODE_GRANT]
    assert offer["credential_configuration_ids"] == ["org.iso.18013.5.1.mDL"]
    assert grant["tx_code"]["input_mode"] == "text"
    assert parse_offer_uri(SPEC_OFFER_BY_REFERENCE) == (
        "https://server.example.com/credential-offer/GkurKxf5T0Y-mnPFCHqWOMiZi4VS138cQO_V7PZHAdM"
    )


def test_http_reference_only_when_allowed() -> None:
    uri = offer_uri_by_reference("http://localhost:8000/offers/1")
    with pytest.raises(InvalidOfferError):
        parse_offer_uri(uri)
    assert parse_offer_uri(uri, allow_http=True) == "http://localhost:8000/offers/1"


def _by_value(offer: object) -> str:
    return f"{CREDENTIAL_OFFER_SCHEME}?credential_offer={quote(json.dumps(offer), safe='')}"


_GOOD = credential_offer(ISSUER, ["civil_servant_id"], "code", None)
_GRANT = _GOOD["grants"][PRE_AUTHORIZED_CODE_GRANT]
_REF = f"credential_offer_uri={quote(ISSUER + '/o/1', safe='')}"


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param(f"{_by_value(_GOOD)}&{_REF}", id="both-parameters"),
        pytest.param(f"{CREDENTIAL_OFFER_SCHEME}?", id="no-parameter"),
        pytest.param(f"{CREDENTIAL_OFFER_SCHEME}?{_REF}&{_REF}", id="repeated-parameter"),
        pytest.param(f"{_by_value(_GOOD)}&utm=1", id="extra-parameter"),
        pytest.param(f"{CREDENTIAL_OFFER_SCHEME}?credential_offer", id="no-equals-sign"),
        pytest.param(_by_value(_GOOD) + "%20" * 6000, id="oversize"),
        pytest.param(f"{CREDENTIAL_OFFER_SCHEME}?credential_offer=%7B", id="truncated-json"),
        pytest.param(f"{CREDENTIAL_OFFER_SCHEME}?credential_offer=%FF", id="not-utf8"),
        pytest.param(_by_value([_GOOD]), id="json-array"),
        pytest.param(
            _by_value(_GOOD)[:-3] + quote(',"credential_issuer":"x"}', safe=""),
            id="duplicate-member",
        ),
        pytest.param(_by_value(_GOOD | {"credential_issuer": 7}), id="issuer-not-string"),
        pytest.param(_by_value(_GOOD | {"credential_configuration_ids": []}), id="no-ids"),
        pytest.param(
            _by_value(_GOOD | {"credential_configuration_ids": ["a", "a"]}), id="repeated-ids"
        ),
        pytest.param(_by_value(_GOOD | {"grants": []}), id="grants-not-object"),
        pytest.param(_by_value(_GOOD | {"grants": {PRE_AUTHORIZED_CODE_GRANT: {}}}), id="no-code"),
        pytest.param(
            _by_value(
                _GOOD | {"grants": {PRE_AUTHORIZED_CODE_GRANT: _GRANT | {"tx_code": "1234"}}}
            ),
            id="tx-code-not-object",
        ),
        *(
            pytest.param(
                _by_value(
                    _GOOD | {"grants": {PRE_AUTHORIZED_CODE_GRANT: _GRANT | {"tx_code": tx_code}}}
                ),
                id=name,
            )
            for name, tx_code in [
                ("tx-code-description-over-300", {"description": "x" * 301}),  # §4.1.1
                ("tx-code-description-not-text", {"description": 7}),
                ("tx-code-length-zero", {"length": 0}),
                ("tx-code-length-huge", {"length": 10**6}),
                ("tx-code-length-bool", {"length": True}),
                ("tx-code-input-mode-unknown", {"input_mode": "emoji"}),
            ]
        ),
        pytest.param(
            f"{CREDENTIAL_OFFER_SCHEME}?credential_offer_uri=ftp%3A%2F%2Fx.example%2Fo",
            id="reference-not-https",
        ),
        pytest.param(
            f"{CREDENTIAL_OFFER_SCHEME}?credential_offer_uri=%2Foffers%2F1", id="reference-relative"
        ),
    ],
)
def test_parse_offer_uri_refuses(uri: str) -> None:
    with pytest.raises(InvalidOfferError):
        parse_offer_uri(uri)


def test_a_transaction_code_at_its_bounds_is_accepted() -> None:
    tx_code = {"length": 64, "input_mode": "text", "description": "x" * 300}
    offer = _GOOD | {"grants": {PRE_AUTHORIZED_CODE_GRANT: _GRANT | {"tx_code": tx_code}}}
    assert parse_offer_uri(_by_value(offer)) == offer


# --- the package boundary --------------------------------------------------------------------


def test_public_api_is_curated() -> None:
    assert sorted(protocols.oid4vci.__all__) == sorted(
        [
            "CREDENTIAL_OFFER_SCHEME",
            "JWT_PROOF_TYPE",
            "PRE_AUTHORIZED_CODE_GRANT",
            "PROOF_TYP",
            "SD_JWT_VC_FORMAT",
            "WELL_KNOWN_CREDENTIAL_ISSUER",
            "WELL_KNOWN_OAUTH_AS",
            "CredentialRequest",
            "InvalidOfferError",
            "IssuerEndpoints",
            "KeyProof",
            "NotificationEvent",
            "NotificationRequest",
            "TokenRequest",
            "TxCodeInputMode",
            "TxCodeSpec",
            "authorization_server_metadata",
            "credential_issuer_metadata",
            "credential_offer",
            "jwt_proof_signing_input",
            "make_jwt_proof",
            "offer_uri_by_reference",
            "offer_uri_by_value",
            "parse_credential_request",
            "parse_deferred_request",
            "parse_notification_request",
            "parse_offer_uri",
            "parse_token_request",
            "verify_jwt_proof",
            "well_known_url",
        ]
    )
    for name in protocols.oid4vci.__all__:
        assert getattr(protocols.oid4vci, name) is not None


def test_protocol_core_knows_no_web_framework_or_database() -> None:
    probe = (
        "import sys, protocols.oid4vci\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'sqlmodel', 'sqlalchemy', 'httpx')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
