"""Strict parsers of what wallets send to the token, credential, deferred and notification
endpoints. Each returns a frozen value or raises the error code the spec names; unknown
parameters are ignored, as §6.1, §8.2, §9.1 and §11.1 require.

Only the shape is checked here. Whether a code, transaction code, nonce, transaction id or
notification id is *valid* is decided by the service against the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocols.oid4vci.constants import (
    AUTHORIZATION_CODE_GRANT,
    JWT_PROOF_TYPE,
    PRE_AUTHORIZED_CODE_GRANT,
    PRE_AUTHORIZED_CODE_PARAM,
    TX_CODE_PARAM,
    NotificationEvent,
)
from protocols.oid4vci.errors import (
    CredentialErrorCode,
    CredentialRequestError,
    NotificationError,
    NotificationErrorCode,
    OAuthError,
    OAuthErrorCode,
)

__all__ = [
    "MAX_EVENT_DESCRIPTION_LENGTH",
    "MAX_IDENTIFIER_LENGTH",
    "MAX_TOKEN_PARAMETER_LENGTH",
    "CredentialRequest",
    "NotificationRequest",
    "TokenRequest",
    "parse_credential_request",
    "parse_deferred_request",
    "parse_notification_request",
    "parse_token_request",
]

# Bounds on values we store or look up; far above anything we hand out.
MAX_TOKEN_PARAMETER_LENGTH = 512
MAX_IDENTIFIER_LENGTH = 256
MAX_EVENT_DESCRIPTION_LENGTH = 1024
# §11.1: event_description is ASCII without '"' and '\'.
_EVENT_DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")
_ENCRYPTION = "credential_response_encryption"
_EVENTS = frozenset(event.value for event in NotificationEvent)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    pre_authorized_code: str
    tx_code: str | None


@dataclass(frozen=True, slots=True)
class CredentialRequest:
    configuration_id: str
    proofs: tuple[str, ...]  # `jwt` key proofs, not yet verified


@dataclass(frozen=True, slots=True)
class NotificationRequest:
    notification_id: str
    event: NotificationEvent
    description: str | None


def _form_value(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        return None  # RFC 6749 §3.1: a parameter without a value is treated as omitted
    if not isinstance(value, str):
        raise OAuthError(OAuthErrorCode.INVALID_REQUEST, f"{name} is not text")
    if len(value) > MAX_TOKEN_PARAMETER_LENGTH:
        raise OAuthError(OAuthErrorCode.INVALID_REQUEST, f"{name} is too long")
    return value


def parse_token_request(form: Mapping[str, str]) -> TokenRequest:
    """§6.1: a pre-authorized code grant; errors per RFC 6749 §5.2 and §6.3."""
    grant_type = _form_value(form, "grant_type")
    if grant_type is None:
        raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "grant_type is missing")
    if grant_type != PRE_AUTHORIZED_CODE_GRANT:
        detail = (
            "only the pre-authorized code grant is supported"
            if grant_type == AUTHORIZATION_CODE_GRANT
            else "grant_type is not supported"
        )
        raise OAuthError(OAuthErrorCode.UNSUPPORTED_GRANT_TYPE, detail)
    code = _form_value(form, PRE_AUTHORIZED_CODE_PARAM)
    if code is None:
        # §6.1: MUST be present with this grant type.
        raise OAuthError(OAuthErrorCode.INVALID_REQUEST, "pre-authorized_code is missing")
    return TokenRequest(pre_authorized_code=code, tx_code=_form_value(form, TX_CODE_PARAM))


def _identifier(value: object, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER_LENGTH:
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_CREDENTIAL_REQUEST, f"{name} is not a short string"
        )
    return value


def _jwt_proofs(proofs: object, batch_size: int) -> tuple[str, ...]:
    # §8.2: an object with exactly one member, named for the proof type.
    if proofs is None:
        # §8.3.1.2 (1): a missing proofs parameter is invalid_proof.
        raise CredentialRequestError(CredentialErrorCode.INVALID_PROOF, "proofs is missing")
    if not isinstance(proofs, dict) or len(proofs) != 1:
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_PROOF, "proofs must be an object with one proof type"
        )
    if JWT_PROOF_TYPE not in proofs:
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_PROOF, "only jwt proofs are supported"
        )
    jwts = proofs[JWT_PROOF_TYPE]
    # Appendix F: the value is a non-empty array of JWTs.
    if not isinstance(jwts, list) or not jwts:
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_PROOF, "jwt proofs: not a non-empty array"
        )
    if len(jwts) > batch_size:
        # §12.2.4: batch_size bounds the proofs array; the proofs themselves may be fine.
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_CREDENTIAL_REQUEST, f"more than {batch_size} proofs"
        )
    if not all(isinstance(jwt, str) and jwt for jwt in jwts):
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_PROOF, "jwt proofs: not all strings"
        )
    if len(set(jwts)) != len(jwts):
        # §8.3: each key binds at most one credential; a repeated proof repeats its key.
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_PROOF, "jwt proofs: a proof repeats"
        )
    return tuple(jwts)


def parse_credential_request(body: object, *, batch_size: int) -> CredentialRequest:
    """§8.2, with the error codes of §8.3.1.2."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if not isinstance(body, dict):
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_CREDENTIAL_REQUEST, "body is not a JSON object"
        )
    has_configuration = "credential_configuration_id" in body
    if has_configuration == ("credential_identifier" in body):
        # §8.2: exactly one of the two; each MUST NOT be present with the other.
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_CREDENTIAL_REQUEST,
            "send exactly one of credential_configuration_id and credential_identifier",
        )
    if not has_configuration:
        # §8.2: only for identifiers from a token response; ours never carries any.
        _identifier(body["credential_identifier"], "credential_identifier")
        raise CredentialRequestError(
            CredentialErrorCode.UNKNOWN_CREDENTIAL_IDENTIFIER, "no credential identifiers issued"
        )
    configuration_id = _identifier(
        body["credential_configuration_id"], "credential_configuration_id"
    )
    if _ENCRYPTION in body:
        # §8.3.1.2: we do not advertise credential_response_encryption (§12.2.4).
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_ENCRYPTION_PARAMETERS, "response encryption not supported"
        )
    return CredentialRequest(configuration_id, _jwt_proofs(body.get("proofs"), batch_size))


def parse_deferred_request(body: object) -> str:
    """§9.1: the `transaction_id` of a deferred issuance."""
    if not isinstance(body, dict):
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_CREDENTIAL_REQUEST, "body is not a JSON object"
        )
    if _ENCRYPTION in body:
        raise CredentialRequestError(
            CredentialErrorCode.INVALID_ENCRYPTION_PARAMETERS, "response encryption not supported"
        )
    return _identifier(body.get("transaction_id"), "transaction_id")


def _notification_error(detail: str) -> NotificationError:
    return NotificationError(NotificationErrorCode.INVALID_NOTIFICATION_REQUEST, detail)


def parse_notification_request(body: object) -> NotificationRequest:
    """§11.1, with the error codes of §11.3."""
    if not isinstance(body, dict):
        raise _notification_error("body is not a JSON object")
    notification_id = body.get("notification_id")
    if not isinstance(notification_id, str) or not notification_id:
        raise _notification_error("notification_id is missing or not a string")
    if len(notification_id) > MAX_IDENTIFIER_LENGTH:
        raise _notification_error("notification_id is too long")
    event = body.get("event")
    if not isinstance(event, str) or event not in _EVENTS:
        # §11.1: one of three case-sensitive values.
        raise _notification_error("event is not a known notification event")
    description = body.get("event_description")
    if description is not None and (
        not isinstance(description, str)
        or len(description) > MAX_EVENT_DESCRIPTION_LENGTH
        or not _EVENT_DESCRIPTION.fullmatch(description)
    ):
        # §11.1: MUST NOT include characters outside %x20-21 / %x23-5B / %x5D-7E.
        raise _notification_error("event_description is not short printable ASCII")
    return NotificationRequest(notification_id, NotificationEvent(event), description)
