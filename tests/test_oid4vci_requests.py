"""What wallets send (OID4VCI 1.0 final §6.1, §8.2, §9.1, §11.1): each refusal names its code."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import pytest

from protocols.oid4vci import (
    PRE_AUTHORIZED_CODE_GRANT,
    CredentialRequest,
    NotificationEvent,
    NotificationRequest,
    TokenRequest,
    parse_credential_request,
    parse_deferred_request,
    parse_notification_request,
    parse_token_request,
)
from protocols.oid4vci.errors import (
    CredentialErrorCode,
    CredentialRequestError,
    NotificationError,
    NotificationErrorCode,
    OAuthError,
    OAuthErrorCode,
    ProtocolError,
)

# §8.3.1.2 and §11.1: the characters an error_description or event_description may hold.
DESCRIPTION_CHARSET = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")
BATCH = 3
PROOF = "eyJ0eXAiOiJvcGVuaWQ0dmNpLXByb29mK2p3dCJ9.e30.c2ln"  # shape only: parsers do not verify


def _proofs(*jwts: object) -> dict[str, Any]:
    return {
        "credential_configuration_id": "resident_register_extract",
        "proofs": {"jwt": list(jwts)},
    }


# --- §6.1 token request ----------------------------------------------------------------------


def test_token_request_with_and_without_tx_code() -> None:
    form = {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": "SplxlOBeZQ"}
    assert parse_token_request(form) == TokenRequest("SplxlOBeZQ", None)
    assert parse_token_request(form | {"tx_code": "493536"}) == TokenRequest("SplxlOBeZQ", "493536")
    # RFC 6749 §3.1: an empty parameter is an omitted one; unknown ones are ignored (§6.1).
    assert parse_token_request(form | {"tx_code": "", "client_id": "w"}).tx_code is None


_TOKEN = {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": "code"}
TOKEN_CASES = [
    pytest.param({"pre-authorized_code": "c"}, OAuthErrorCode.INVALID_REQUEST, id="no-grant-type"),
    pytest.param(_TOKEN | {"grant_type": ""}, OAuthErrorCode.INVALID_REQUEST, id="empty-grant"),
    pytest.param(
        _TOKEN | {"grant_type": "authorization_code"},
        OAuthErrorCode.UNSUPPORTED_GRANT_TYPE,
        id="authorization-code-grant",
    ),
    pytest.param(
        _TOKEN | {"grant_type": "password"}, OAuthErrorCode.UNSUPPORTED_GRANT_TYPE, id="password"
    ),
    pytest.param(
        {"grant_type": PRE_AUTHORIZED_CODE_GRANT}, OAuthErrorCode.INVALID_REQUEST, id="no-code"
    ),
    pytest.param(
        _TOKEN | {"pre-authorized_code": ""}, OAuthErrorCode.INVALID_REQUEST, id="empty-code"
    ),
    pytest.param(
        _TOKEN | {"pre-authorized_code": "c" * 513}, OAuthErrorCode.INVALID_REQUEST, id="long-code"
    ),
    pytest.param(_TOKEN | {"tx_code": "1" * 513}, OAuthErrorCode.INVALID_REQUEST, id="long-tx"),
    pytest.param(_TOKEN | {"tx_code": 1234}, OAuthErrorCode.INVALID_REQUEST, id="tx-not-text"),
    pytest.param(
        _TOKEN | {"grant_type": [PRE_AUTHORIZED_CODE_GRANT]},
        OAuthErrorCode.INVALID_REQUEST,
        id="grant-not-text",
    ),
]


@pytest.mark.parametrize(("form", "code"), TOKEN_CASES)
def test_token_request_refusals(form: dict[str, Any], code: OAuthErrorCode) -> None:
    _assert_refused(lambda: parse_token_request(form), OAuthError, code)


def test_token_request_length_bound_is_inclusive() -> None:
    assert parse_token_request(_TOKEN | {"pre-authorized_code": "c" * 512}).pre_authorized_code


# --- §8.2 credential request -----------------------------------------------------------------


def test_credential_request_single_and_batch() -> None:
    assert parse_credential_request(_proofs(PROOF), batch_size=BATCH) == CredentialRequest(
        "resident_register_extract", (PROOF,)
    )
    three = [f"{PROOF}{i}" for i in range(BATCH)]
    assert parse_credential_request(_proofs(*three), batch_size=BATCH).proofs == tuple(three)


def test_credential_request_ignores_unknown_members() -> None:
    body = _proofs(PROOF) | {"format": "dc+sd-jwt", "proof": {"proof_type": "jwt"}}
    assert parse_credential_request(body, batch_size=1).proofs == (PROOF,)


_CONFIG = "credential_configuration_id"
_INVALID = CredentialErrorCode.INVALID_CREDENTIAL_REQUEST
_PROOF = CredentialErrorCode.INVALID_PROOF
CREDENTIAL_CASES = [
    pytest.param([_proofs(PROOF)], _INVALID, id="body-is-array"),
    pytest.param("{}", _INVALID, id="body-is-string"),
    pytest.param(None, _INVALID, id="body-is-null"),
    pytest.param({"proofs": {"jwt": [PROOF]}}, _INVALID, id="no-identifier"),
    pytest.param(_proofs(PROOF) | {"credential_identifier": "x"}, _INVALID, id="both-identifiers"),
    pytest.param(
        {"credential_identifier": "CivilEngineeringDegree-2023", "proofs": {"jwt": [PROOF]}},
        CredentialErrorCode.UNKNOWN_CREDENTIAL_IDENTIFIER,
        id="credential-identifier",
    ),
    pytest.param({"credential_identifier": 7}, _INVALID, id="credential-identifier-not-string"),
    pytest.param(_proofs(PROOF) | {_CONFIG: 7}, _INVALID, id="configuration-not-string"),
    pytest.param(_proofs(PROOF) | {_CONFIG: ""}, _INVALID, id="configuration-empty"),
    pytest.param(_proofs(PROOF) | {_CONFIG: "x" * 257}, _INVALID, id="configuration-long"),
    pytest.param(
        _proofs(PROOF) | {"credential_response_encryption": {"jwk": {}, "enc": "A128GCM"}},
        CredentialErrorCode.INVALID_ENCRYPTION_PARAMETERS,
        id="response-encryption",
    ),
    # §8.3.1.2 (1): a missing proofs parameter is invalid_proof.
    pytest.param({_CONFIG: "resident_register_extract"}, _PROOF, id="no-proofs"),
    pytest.param({_CONFIG: "x", "proof": {"jwt": PROOF}}, _PROOF, id="draft-singular-proof"),
    pytest.param({_CONFIG: "x", "proofs": None}, _PROOF, id="proofs-null"),
    pytest.param({_CONFIG: "x", "proofs": [PROOF]}, _PROOF, id="proofs-array"),
    pytest.param({_CONFIG: "x", "proofs": {}}, _PROOF, id="proofs-empty"),
    pytest.param(
        {_CONFIG: "x", "proofs": {"jwt": [PROOF], "attestation": [PROOF]}}, _PROOF, id="two-types"
    ),
    pytest.param({_CONFIG: "x", "proofs": {"di_vp": [{}]}}, _PROOF, id="di-vp"),
    pytest.param({_CONFIG: "x", "proofs": {"attestation": [PROOF]}}, _PROOF, id="attestation"),
    pytest.param({_CONFIG: "x", "proofs": {"jwt": PROOF}}, _PROOF, id="jwt-not-array"),
    pytest.param(_proofs(), _PROOF, id="jwt-empty-array"),
    pytest.param(_proofs(PROOF, 7), _PROOF, id="jwt-not-string"),
    pytest.param(_proofs(""), _PROOF, id="jwt-empty-string"),
    pytest.param(_proofs(PROOF, PROOF), _PROOF, id="jwt-repeated"),
    # The request asks for more than the advertised batch_size; the proofs may be fine.
    pytest.param(_proofs(*(f"{PROOF}{i}" for i in range(BATCH + 1))), _INVALID, id="over-batch"),
]


@pytest.mark.parametrize(("body", "code"), CREDENTIAL_CASES)
def test_credential_request_refusals(body: object, code: CredentialErrorCode) -> None:
    _assert_refused(
        lambda: parse_credential_request(body, batch_size=BATCH), CredentialRequestError, code
    )


# --- §9.1 deferred credential request --------------------------------------------------------


def test_deferred_request() -> None:
    assert parse_deferred_request({"transaction_id": "8xLOxBtZp8", "x": 1}) == "8xLOxBtZp8"


DEFERRED_CASES = [
    pytest.param([], _INVALID, id="body-is-array"),
    pytest.param({}, _INVALID, id="no-transaction-id"),
    pytest.param({"transaction_id": 8}, _INVALID, id="transaction-id-number"),
    pytest.param({"transaction_id": ""}, _INVALID, id="transaction-id-empty"),
    pytest.param({"transaction_id": "x" * 257}, _INVALID, id="transaction-id-long"),
    pytest.param(
        {"transaction_id": "t", "credential_response_encryption": {}},
        CredentialErrorCode.INVALID_ENCRYPTION_PARAMETERS,
        id="response-encryption",
    ),
]


@pytest.mark.parametrize(("body", "code"), DEFERRED_CASES)
def test_deferred_request_refusals(body: object, code: CredentialErrorCode) -> None:
    _assert_refused(lambda: parse_deferred_request(body), CredentialRequestError, code)


# --- §11.1 notification request --------------------------------------------------------------


@pytest.mark.parametrize("event", list(NotificationEvent))
def test_notification_request_each_event(event: NotificationEvent) -> None:
    parsed = parse_notification_request({"notification_id": "3fwe98js", "event": event.value})
    assert parsed == NotificationRequest("3fwe98js", event, None)
    assert parsed.event is event


def test_notification_request_spec_example() -> None:
    # §11.1's second example, verbatim.
    body = {
        "notification_id": "3fwe98js",
        "event": "credential_failure",
        "event_description": "Could not store the Credential. Out of storage.",
    }
    assert parse_notification_request(body).description == body["event_description"]


_NOTE = {"notification_id": "n", "event": "credential_accepted"}
_BAD_NOTE = NotificationErrorCode.INVALID_NOTIFICATION_REQUEST
NOTIFICATION_CASES = [
    pytest.param("n", _BAD_NOTE, id="body-is-string"),
    pytest.param({"event": "credential_accepted"}, _BAD_NOTE, id="no-notification-id"),
    pytest.param(_NOTE | {"notification_id": 1}, _BAD_NOTE, id="notification-id-number"),
    pytest.param(_NOTE | {"notification_id": ""}, _BAD_NOTE, id="notification-id-empty"),
    pytest.param(_NOTE | {"notification_id": "n" * 257}, _BAD_NOTE, id="notification-id-long"),
    pytest.param({"notification_id": "n"}, _BAD_NOTE, id="no-event"),
    pytest.param(_NOTE | {"event": "Credential_Accepted"}, _BAD_NOTE, id="event-case"),
    pytest.param(_NOTE | {"event": "credential_revoked"}, _BAD_NOTE, id="event-unknown"),
    pytest.param(_NOTE | {"event": ["credential_accepted"]}, _BAD_NOTE, id="event-array"),
    pytest.param(_NOTE | {"event_description": 'say "hi"'}, _BAD_NOTE, id="description-quote"),
    pytest.param(_NOTE | {"event_description": "a\\b"}, _BAD_NOTE, id="description-backslash"),
    pytest.param(_NOTE | {"event_description": "저장 실패"}, _BAD_NOTE, id="description-korean"),
    pytest.param(_NOTE | {"event_description": "a\nb"}, _BAD_NOTE, id="description-newline"),
    pytest.param(_NOTE | {"event_description": "a\x7f"}, _BAD_NOTE, id="description-del"),
    pytest.param(_NOTE | {"event_description": 5}, _BAD_NOTE, id="description-number"),
    pytest.param(_NOTE | {"event_description": "a" * 1025}, _BAD_NOTE, id="description-long"),
]


@pytest.mark.parametrize(("body", "code"), NOTIFICATION_CASES)
def test_notification_request_refusals(body: object, code: NotificationErrorCode) -> None:
    _assert_refused(lambda: parse_notification_request(body), NotificationError, code)


def test_notification_description_allows_the_whole_permitted_charset() -> None:
    allowed = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\')
    assert parse_notification_request(_NOTE | {"event_description": allowed}).description == allowed


# --- every refusal ---------------------------------------------------------------------------


def _assert_refused(call: Callable[[], object], kind: type[ProtocolError], code: StrEnum) -> None:
    with pytest.raises(kind) as caught:
        call()
    assert caught.value.code == code
    # §8.3.1.2: error_description is ASCII without '"' and '\'; ours never echo the input.
    assert DESCRIPTION_CHARSET.fullmatch(caught.value.detail)
