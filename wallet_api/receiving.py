"""Receiving credentials: OpenID4VCI 1.0 (pre-authorized code flow) on the phone's behalf.

The phone hands over an offer and later its signatures; the service does the rest, as an
outside wallet would, over HTTP to the issuer. Each step is one call from the phone:

1. ``read_offer``: the offer (by value, by reference, or read from a photo of its QR code).
   The issuer must be on the trust list, authorised for every type offered, before the service
   sends it anything but the request for its public metadata; an offer by reference is fetched
   only from a trusted issuer's origin, so an offer cannot make the service call anywhere else.
2. ``accept_offer``: the citizen said yes (with the transaction code they typed): the code is
   redeemed for an access token, a nonce fetched, and for each device key the phone made (one
   per copy) the key proof's signing input returned. The phone keeps the private keys.
3. ``submit_proofs``: the phone's signatures make the proofs; the credentials are requested,
   each checked by our verifier (``credential_check``) and, only if all pass, sealed and stored
   in one transaction; the agency is told (notification, §11). A deferred issuance (§9) waits
   for ``poll_intake``.

Every change of an intake is conditional on the step it was decided from, so a step sent twice
at once runs once; a step that fails (the issuer unreachable, a nonce spent) leaves the intake
where it was, and the phone can ask for new signing inputs and try again. The codes and tokens
of an intake are sealed at rest like the credentials.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, delete, func, update
from sqlmodel import Session, col, select

from keys.encoding import b64url_decode, json_dumps, json_loads_object
from keys.errors import KeyManagementError
from keys.jwk import Algorithm, PublicKey, public_key_from_jwk
from protocols.oid4vci import (
    PRE_AUTHORIZED_CODE_GRANT,
    SD_JWT_VC_FORMAT,
    InvalidOfferError,
    NotificationEvent,
    jwt_proof_signing_input,
    parse_offer_uri,
)
from protocols.oid4vci.errors import CredentialErrorCode
from protocols.oid4vci.offer import MAX_TX_CODE_LENGTH, check_offer
from servicekit.db import retrying, session_scope
from verifier import ErrorCode, TrustStore
from verifier.errors import VerificationError
from wallet_api.credential_check import CheckedCredential, CredentialRefusedError, check_received
from wallet_api.deployment import WalletDeployment
from wallet_api.errors import WalletError, WalletErrorCode
from wallet_api.issuance_client import Deferred, IssuanceClient, IssuanceError, Issued
from wallet_api.metrics import CREDENTIALS_RECEIVED, CREDENTIALS_REFUSED
from wallet_api.models import Credential, CredentialCopy, Intake
from wallet_api.sealed import copy_context, intake_context
from wallet_api.trust import TrustUnavailableError

__all__ = [
    "IntakeState",
    "IntakeView",
    "ProofsToSign",
    "accept_offer",
    "cancel_intake",
    "get_intake",
    "poll_intake",
    "read_offer",
    "read_offer_photo",
    "submit_proofs",
    "trust_store",
]

logger = logging.getLogger("jigap.wallet.receiving")
_MAX_ID_LENGTH = 64
_DEVICE_KEY_ALGORITHMS = frozenset({Algorithm.ES256})  # what phones' secure hardware offers


class IntakeState(StrEnum):
    OFFERED = "offered"  # read and checked: the phone shows it, the citizen decides
    REDEEMED = "redeemed"  # the code is redeemed; the phone's keys are next
    SIGNING = "signing"  # signing inputs handed out; the signatures are next
    DEFERRED = "deferred"  # the agency issues later: poll
    DONE = "done"  # every type offered is held
    # The agency sent what the wallet refuses, or refused to issue: nothing was stored.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IntakeView:
    """What the phone shows: who offers what, and where the intake is."""

    intake_id: str
    state: IntakeState
    expires_at: int
    summary: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "intake_id": self.intake_id,
            "state": str(self.state),
            "expires_at": self.expires_at,
            **self.summary,
        }


@dataclass(frozen=True, slots=True)
class ProofsToSign:
    """One signing input per device key: the phone signs each with that key (ES256)."""

    intake_id: str
    configuration_id: str
    signing_inputs: tuple[tuple[str, str], ...]  # (key thumbprint, signing input)

    def to_json(self) -> dict[str, Any]:
        return {
            "intake_id": self.intake_id,
            "configuration_id": self.configuration_id,
            "proofs_to_sign": [
                {"key": kid, "signing_input": text} for kid, text in self.signing_inputs
            ],
        }


def _client(deployment: WalletDeployment) -> IssuanceClient:
    settings = deployment.settings
    return IssuanceClient(
        deployment.issuer_http,
        allow_http=settings.allow_http_issuers,
        timeout_seconds=settings.issuer_timeout_seconds,
    )


def trust_store(deployment: WalletDeployment) -> TrustStore:
    """The trust store, synced first if something in it is due; `trust_unavailable` if none
    is held."""
    with contextlib.suppress(TrustUnavailableError):  # what is held still serves
        deployment.trust.refresh()  # only when something is due
    try:
        return deployment.trust.store()
    except TrustUnavailableError as exc:
        raise WalletError(WalletErrorCode.TRUST_UNAVAILABLE, str(exc)) from exc


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _issuer_problem(exc: IssuanceError) -> WalletError:
    """An issuer's refusal (4xx) is the citizen's to act on; anything else is the agency's."""
    if exc.status is not None and 400 <= exc.status < 500:
        return WalletError(WalletErrorCode.OFFER_REFUSED, f"the agency answered {exc.code}")
    return WalletError(WalletErrorCode.ISSUER_UNAVAILABLE, exc.detail)


# -- 1. reading the offer -------------------------------------------------------------------


def read_offer_photo(deployment: WalletDeployment, account_id: str, image: bytes) -> IntakeView:
    """The offer in a photo of its QR code (a PNG or JPEG the phone took)."""
    from verifier.qr_image import read_qr_image

    try:
        text = read_qr_image(image)
    except VerificationError as exc:
        raise WalletError(WalletErrorCode.INVALID_OFFER, f"the photo: {exc.detail}") from exc
    return read_offer(deployment, account_id, offer_uri=text.strip())


def read_offer(deployment: WalletDeployment, account_id: str, *, offer_uri: str) -> IntakeView:
    settings = deployment.settings
    store = trust_store(deployment)
    client = _client(deployment)
    try:
        parsed = parse_offer_uri(offer_uri, allow_http=settings.allow_http_issuers)
    except InvalidOfferError as exc:
        raise WalletError(WalletErrorCode.INVALID_OFFER, str(exc)) from exc
    if isinstance(parsed, str):  # by reference: only from a trusted issuer's own origin
        if not any(_origin(parsed) == _origin(i) for i in store.issuers):
            raise WalletError(
                WalletErrorCode.UNTRUSTED_ISSUER, "the offer is not at a trusted issuer"
            )
        try:
            offer = client.fetch_offer(parsed)
            check_offer(offer)
        except IssuanceError as exc:
            raise _issuer_problem(exc) from exc
        except InvalidOfferError as exc:
            raise WalletError(WalletErrorCode.INVALID_OFFER, str(exc)) from exc
        if _origin(offer["credential_issuer"]) != _origin(parsed):
            raise WalletError(
                WalletErrorCode.UNTRUSTED_ISSUER, "an offer for another issuer's origin"
            )
    else:
        offer = parsed
    grant = offer.get("grants", {}).get(PRE_AUTHORIZED_CODE_GRANT)
    if grant is None:
        raise WalletError(WalletErrorCode.INVALID_OFFER, "the offer has no pre-authorized code")
    issuer_id: str = offer["credential_issuer"]
    entry = store.issuer(issuer_id)
    now = deployment.now()
    if entry is None or not entry.is_current(now):
        raise WalletError(
            WalletErrorCode.UNTRUSTED_ISSUER, "the trust list does not name this issuer"
        )
    try:
        metadata = client.metadata(issuer_id)
        server = client.authorization_server(issuer_id)
    except IssuanceError as exc:
        raise WalletError(WalletErrorCode.ISSUER_UNAVAILABLE, exc.detail) from exc
    protocol = _protocol_state(deployment, store, issuer_id, offer, metadata, server)
    summary = _summary(store, issuer_id, protocol, grant)
    intake = Intake(
        id=uuid.uuid4().hex,
        account_id=account_id,
        created_at=now,
        expires_at=now + settings.intake_seconds,
        issuer_id=issuer_id,
        state=IntakeState.OFFERED,
        summary=summary,
        sealed_state=b"",
    )
    intake.sealed_state = _seal(deployment, intake.id, protocol)
    _insert_intake(deployment, intake)
    return _view(intake)


def _protocol_state(
    deployment: WalletDeployment,
    store: TrustStore,
    issuer_id: str,
    offer: Mapping[str, Any],
    metadata: Mapping[str, Any],
    server: Mapping[str, Any],
) -> dict[str, Any]:
    """What the next steps need from the offer and the metadata, checked now: the types are
    ones the trust list lets this issuer issue and the registry knows; every endpoint is on
    the issuer's own origin (the service talks to no one the trust list does not name)."""
    entry = store.issuer(issuer_id)
    assert entry is not None  # noqa: S101 - checked by the caller
    supported = metadata.get("credential_configurations_supported")
    if not isinstance(supported, dict):
        raise WalletError(WalletErrorCode.ISSUER_UNAVAILABLE, "metadata without configurations")
    configurations: dict[str, dict[str, str]] = {}
    for configuration_id in offer["credential_configuration_ids"]:
        configuration = supported.get(configuration_id)
        vct = configuration.get("vct") if isinstance(configuration, dict) else None
        if not isinstance(configuration, dict) or not isinstance(vct, str):
            raise WalletError(WalletErrorCode.INVALID_OFFER, f"{configuration_id!r} is not offered")
        if configuration.get("format") != SD_JWT_VC_FORMAT:
            raise WalletError(WalletErrorCode.INVALID_OFFER, f"{configuration_id!r}: not SD-JWT VC")
        credential_type = deployment.registry.by_vct(vct)
        if credential_type is None:
            raise WalletError(
                WalletErrorCode.INVALID_OFFER, f"{vct!r}: an unknown certificate type"
            )
        if not entry.may_issue(vct):
            raise WalletError(
                WalletErrorCode.UNTRUSTED_ISSUER, f"this issuer may not issue {credential_type.id}"
            )
        configurations[configuration_id] = {
            "vct": vct,
            "type": credential_type.id,
            "name_ko": credential_type.display_name("ko"),
            "name_en": credential_type.display_name("en"),
        }
    endpoints = {
        "token": server.get("token_endpoint"),
        "nonce": metadata.get("nonce_endpoint"),
        "credential": metadata.get("credential_endpoint"),
        "deferred": metadata.get("deferred_credential_endpoint"),
        "notification": metadata.get("notification_endpoint"),
    }
    for name, url in endpoints.items():
        if url is None and name in ("deferred", "notification"):
            continue
        if not isinstance(url, str) or _origin(url) != _origin(issuer_id):
            raise WalletError(
                WalletErrorCode.UNTRUSTED_ISSUER, f"the {name} endpoint is not the issuer's"
            )
    batch = metadata.get("batch_credential_issuance")
    batch_size = batch.get("batch_size") if isinstance(batch, dict) else 1
    grant = offer["grants"][PRE_AUTHORIZED_CODE_GRANT]
    return {
        "code": grant["pre-authorized_code"],
        "tx_code_required": "tx_code" in grant,
        "audience": issuer_id,
        "endpoints": endpoints,
        "batch_size": batch_size if type(batch_size) is int and batch_size >= 1 else 1,
        "configurations": configurations,
        "received": [],
    }


def _summary(
    store: TrustStore, issuer_id: str, protocol: Mapping[str, Any], grant: Mapping[str, Any]
) -> dict[str, Any]:
    """What the phone shows before the citizen says yes. The issuer's name is the trust
    list's (the trust operator's word), not what the issuer calls itself."""
    listed = store.trust_list.issuers[issuer_id] if store.trust_list else None
    names = dict(listed.names) if listed is not None else {"ko": issuer_id, "en": issuer_id}
    tx_code = grant.get("tx_code")  # its members checked with the offer (check_offer)
    shown_tx_code = None
    if tx_code is not None:
        shown_tx_code = {
            key: tx_code[key]
            for key in ("length", "input_mode", "description")
            if tx_code.get(key) is not None
        }
    return {
        "issuer": {"id": issuer_id, "name": names},
        "credentials": [
            {
                "configuration_id": configuration_id,
                "credential_type": c["type"],
                "vct": c["vct"],
                "name": {"ko": c["name_ko"], "en": c["name_en"]},  # the registry's
            }
            for configuration_id, c in protocol["configurations"].items()
        ],
        "tx_code": shown_tx_code,
        "max_copies": protocol["batch_size"],
        "received": [],
        "retry_after": None,
    }


@retrying
def _insert_intake(deployment: WalletDeployment, intake: Intake) -> None:
    settings = deployment.settings
    with session_scope(deployment.engine) as session:
        # Offers never finished are forgotten when they expire, the account's and others'.
        session.execute(delete(Intake).where(col(Intake.expires_at) <= intake.created_at))
        open_count = session.exec(
            select(func.count()).select_from(Intake).where(Intake.account_id == intake.account_id)
        ).one()
        if open_count >= settings.max_open_intakes:
            raise WalletError(
                WalletErrorCode.TOO_MANY_OFFERS,
                f"{open_count} offers under way: finish or cancel one first",
            )
        session.add(Intake.model_validate(intake.model_dump()))


# -- reading, cancelling --------------------------------------------------------------------


def _owned(
    session: Session, deployment: WalletDeployment, account_id: str, intake_id: str
) -> Intake:
    """The account's intake ``intake_id``; another account's is answered as none at all."""
    intake = (
        session.exec(
            select(Intake).where(Intake.id == intake_id, Intake.account_id == account_id)
        ).first()
        if len(intake_id) <= _MAX_ID_LENGTH
        else None
    )
    if intake is None or intake.expires_at <= deployment.now():
        raise WalletError(WalletErrorCode.NOT_FOUND, "no such offer")
    return intake


def _view(intake: Intake) -> IntakeView:
    return IntakeView(intake.id, IntakeState(intake.state), intake.expires_at, intake.summary)


def get_intake(deployment: WalletDeployment, account_id: str, intake_id: str) -> IntakeView:
    with session_scope(deployment.read_engine) as session:
        return _view(_owned(session, deployment, account_id, intake_id))


@retrying
def cancel_intake(deployment: WalletDeployment, account_id: str, intake_id: str) -> None:
    with session_scope(deployment.engine) as session:
        intake = _owned(session, deployment, account_id, intake_id)
        session.execute(delete(Intake).where(col(Intake.id) == intake.id))


# -- 2. accepting: the token, a nonce, the signing inputs -----------------------------------


def _device_keys(jwks: Sequence[object], batch_size: int) -> list[PublicKey]:
    if not 1 <= len(jwks) <= batch_size:
        raise WalletError(
            WalletErrorCode.INVALID_REQUEST,
            f"between 1 and {batch_size} device keys, one per copy",
        )
    keys: list[PublicKey] = []
    for jwk in jwks:
        try:
            key = public_key_from_jwk(jwk) if isinstance(jwk, dict) else None
        except KeyManagementError:
            key = None
        if key is None or key.algorithm not in _DEVICE_KEY_ALGORITHMS:
            raise WalletError(WalletErrorCode.INVALID_REQUEST, "device keys are P-256 public JWKs")
        keys.append(key)
    if len({k.kid for k in keys}) != len(keys):
        raise WalletError(WalletErrorCode.INVALID_REQUEST, "a device key given twice")
    return keys


def accept_offer(
    deployment: WalletDeployment,
    account_id: str,
    intake_id: str,
    *,
    tx_code: str | None,
    device_keys: Sequence[object],
    configuration_id: str | None = None,
) -> ProofsToSign:
    """Redeem the code (once) and hand out the key proofs' signing inputs for one type."""
    with session_scope(deployment.read_engine) as session:
        intake = _owned(session, deployment, account_id, intake_id)
    if intake.state not in (IntakeState.OFFERED, IntakeState.REDEEMED, IntakeState.SIGNING):
        raise WalletError(WalletErrorCode.WRONG_STATE, f"this offer is {intake.state}")
    protocol = _open(deployment, intake)
    remaining = [c for c in protocol["configurations"] if c not in protocol["received"]]
    if configuration_id is None:
        configuration_id = remaining[0] if len(remaining) == 1 else None
        if configuration_id is None:
            raise WalletError(
                WalletErrorCode.INVALID_REQUEST, "name the configuration_id to receive"
            )
    if configuration_id not in remaining:
        raise WalletError(WalletErrorCode.INVALID_REQUEST, "not a type this offer still holds")
    keys = _device_keys(device_keys, protocol["batch_size"])
    client = _client(deployment)
    if intake.state == IntakeState.OFFERED:
        if protocol["tx_code_required"] and not tx_code:
            raise WalletError(WalletErrorCode.INVALID_REQUEST, "the transaction code is needed")
        if tx_code is not None and len(tx_code) > MAX_TX_CODE_LENGTH:
            raise WalletError(WalletErrorCode.INVALID_REQUEST, "the transaction code is too long")
        try:
            protocol["access_token"] = client.redeem(
                protocol["endpoints"]["token"],
                protocol["code"],
                tx_code if protocol["tx_code_required"] else None,
            )
        except IssuanceError as exc:
            raise _issuer_problem(exc) from exc  # still offered: the citizen may type again
        # Redeemed and kept at once: the code is spent, the token is what stays secret now.
        protocol["code"] = None
        _advance(deployment, intake, IntakeState.REDEEMED, protocol)
    try:
        nonce = client.fetch_nonce(protocol["endpoints"]["nonce"])
    except IssuanceError as exc:
        raise _issuer_problem(exc) from exc
    now = deployment.now()
    inputs = [
        (
            key.kid,
            jwt_proof_signing_input(
                key, audience=protocol["audience"], nonce=nonce, now=now
            ).decode("ascii"),
        )
        for key in keys
    ]
    protocol["pending"] = {
        "configuration_id": configuration_id,
        "keys": [key.to_jwk() for key in keys],
        "signing_inputs": [text for _, text in inputs],
    }
    _advance(deployment, intake, IntakeState.SIGNING, protocol)
    return ProofsToSign(intake.id, configuration_id, tuple(inputs))


# -- 3. the phone's signatures: the credentials ---------------------------------------------


def submit_proofs(
    deployment: WalletDeployment, account_id: str, intake_id: str, *, signatures: Sequence[object]
) -> IntakeView:
    with session_scope(deployment.read_engine) as session:
        intake = _owned(session, deployment, account_id, intake_id)
    if intake.state != IntakeState.SIGNING:
        raise WalletError(WalletErrorCode.WRONG_STATE, f"this offer is {intake.state}")
    protocol = _open(deployment, intake)
    pending = protocol["pending"]
    keys = [public_key_from_jwk(jwk) for jwk in pending["keys"]]
    inputs: list[str] = pending["signing_inputs"]
    if len(signatures) != len(inputs) or not all(isinstance(s, str) for s in signatures):
        raise WalletError(WalletErrorCode.INVALID_REQUEST, f"{len(inputs)} signatures, in order")
    proofs = []
    for key, text, signature in zip(keys, inputs, signatures, strict=True):
        assert isinstance(signature, str)  # noqa: S101 - checked above
        try:
            key.verify(b64url_decode(signature), text.encode("ascii"))
        except KeyManagementError:
            raise WalletError(
                WalletErrorCode.INVALID_SIGNATURE, f"the signature for key {key.kid}"
            ) from None
        proofs.append(f"{text}.{signature}")
    try:
        answer = _client(deployment).send_proofs(
            protocol["endpoints"]["credential"],
            protocol["access_token"],
            pending["configuration_id"],
            proofs,
        )
    except IssuanceError as exc:
        _end_if_denied(deployment, intake, protocol, exc)
        raise _issuer_problem(exc) from exc
    return _take_answer(deployment, intake, protocol, answer)


def poll_intake(deployment: WalletDeployment, account_id: str, intake_id: str) -> IntakeView:
    """Ask the agency again for a deferred credential (§9); the view says when to ask next."""
    with session_scope(deployment.read_engine) as session:
        intake = _owned(session, deployment, account_id, intake_id)
    if intake.state != IntakeState.DEFERRED:
        return _view(intake)
    protocol = _open(deployment, intake)
    endpoint = protocol["endpoints"]["deferred"]
    if endpoint is None:
        raise WalletError(WalletErrorCode.ISSUER_UNAVAILABLE, "the issuer has no deferred endpoint")
    try:
        answer = _client(deployment).poll_deferred(
            endpoint, protocol["access_token"], protocol["pending"]["transaction_id"]
        )
    except IssuanceError as exc:
        _end_if_denied(deployment, intake, protocol, exc)
        raise _issuer_problem(exc) from exc
    if isinstance(answer, Deferred) and answer.interval == intake.summary.get("retry_after"):
        return _view(intake)  # nothing changed: no write
    return _take_answer(deployment, intake, protocol, answer)


def _end_if_denied(
    deployment: WalletDeployment, intake: Intake, protocol: Mapping[str, Any], exc: IssuanceError
) -> None:
    """The agency's no (§8.3.1.2, §9.3) is final: the intake fails rather than waiting on."""
    if exc.code == CredentialErrorCode.CREDENTIAL_REQUEST_DENIED:
        summary = {**intake.summary, "refused": exc.code, "retry_after": None}
        _advance(deployment, intake, IntakeState.FAILED, protocol, summary)


def _take_answer(
    deployment: WalletDeployment,
    intake: Intake,
    protocol: dict[str, Any],
    answer: Issued | Deferred,
) -> IntakeView:
    pending = protocol["pending"]
    summary = dict(intake.summary)
    if isinstance(answer, Deferred):
        pending["transaction_id"] = answer.transaction_id
        summary["retry_after"] = answer.interval
        return _advance(deployment, intake, IntakeState.DEFERRED, protocol, summary)
    configuration = protocol["configurations"][pending["configuration_id"]]
    holder_keys = frozenset(public_key_from_jwk(jwk).kid for jwk in pending["keys"])
    try:
        checked = _check_all(
            deployment, intake.issuer_id, configuration["vct"], answer, holder_keys
        )
    except CredentialRefusedError as exc:
        CREDENTIALS_REFUSED.labels(code=str(exc.code)).inc()
        _notify(deployment, protocol, answer, NotificationEvent.CREDENTIAL_FAILURE)
        summary["refused"] = str(exc.code)
        _advance(deployment, intake, IntakeState.FAILED, protocol, summary)
        raise WalletError(
            WalletErrorCode.CREDENTIAL_REFUSED, f"{exc.code}: nothing was stored"
        ) from exc
    credential_id = uuid.uuid4().hex
    protocol["received"].append(pending["configuration_id"])
    protocol["pending"] = None
    summary["received"] = [*summary.get("received", []), credential_id]
    summary["retry_after"] = None
    done = set(protocol["received"]) >= set(protocol["configurations"])
    state = IntakeState.DONE if done else IntakeState.REDEEMED
    view = _advance(
        deployment,
        intake,
        state,
        protocol,
        summary,
        store=(credential_id, pending["configuration_id"], checked),
    )
    CREDENTIALS_RECEIVED.labels(credential_type=configuration["type"]).inc(len(checked))
    _notify(deployment, protocol, answer, NotificationEvent.CREDENTIAL_ACCEPTED)
    logger.info(
        "credentials received",
        extra={"event": "credentials_received", "credential_type": configuration["type"],
               "copies": len(checked)},
    )  # fmt: skip
    return view


def _check_all(
    deployment: WalletDeployment,
    issuer_id: str,
    vct: str,
    answer: Issued,
    holder_keys: frozenset[str],
) -> list[CheckedCredential]:
    """Every credential verified, each bound to a different one of the phone's keys; a status
    list not held yet (a new list of the issuer's) is fetched once before refusing."""
    if len(answer.credentials) > len(holder_keys):
        raise CredentialRefusedError(ErrorCode.MALFORMED, "more credentials than keys")
    for attempt in (1, 2):
        try:
            store = deployment.trust.store()
        except TrustUnavailableError as exc:
            raise WalletError(WalletErrorCode.TRUST_UNAVAILABLE, str(exc)) from exc
        try:
            checked = [
                check_received(
                    compact,
                    store=store,
                    registry=deployment.registry,
                    issuer_id=issuer_id,
                    vct=vct,
                    holder_keys=holder_keys,
                    now=deployment.now(),
                )
                for compact in answer.credentials
            ]
        except CredentialRefusedError as exc:
            if attempt == 1 and exc.code in (ErrorCode.STATUS_UNKNOWN, ErrorCode.STATUS_STALE):
                try:
                    deployment.trust.refresh(force=True)
                except TrustUnavailableError:
                    raise exc from None
                continue
            raise
        if len({c.holder_jkt for c in checked}) != len(checked):
            raise CredentialRefusedError(ErrorCode.KEY_BINDING_INVALID, "two copies, one key")
        return checked
    raise AssertionError("unreachable")  # pragma: no cover


def _notify(
    deployment: WalletDeployment,
    protocol: Mapping[str, Any],
    answer: Issued,
    event: NotificationEvent,
) -> None:
    """Tell the agency (§11). Best effort: a lost notification changes nothing the citizen
    holds, and the agency's own records show the credential issued."""
    endpoint = protocol["endpoints"]["notification"]
    if endpoint is None or answer.notification_id is None:
        return
    try:
        _client(deployment).notify(
            endpoint, protocol["access_token"], answer.notification_id, str(event)
        )
    except IssuanceError as exc:
        logger.warning(
            "notification not delivered",
            extra={"event": "notification_failed", "error": exc.code},
        )


# -- the intake's row -----------------------------------------------------------------------


def _seal(deployment: WalletDeployment, intake_id: str, protocol: Mapping[str, Any]) -> bytes:
    return deployment.sealer.seal(json_dumps(protocol), context=intake_context(intake_id))


def _open(deployment: WalletDeployment, intake: Intake) -> dict[str, Any]:
    return json_loads_object(
        deployment.sealer.open(intake.sealed_state, context=intake_context(intake.id))
    )


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)  # noqa: S101 - an UPDATE's result
    return result.rowcount


@retrying
def _advance(
    deployment: WalletDeployment,
    intake: Intake,
    state: IntakeState,
    protocol: Mapping[str, Any],
    summary: Mapping[str, Any] | None = None,
    *,
    store: tuple[str, str, list[CheckedCredential]] | None = None,
) -> IntakeView:
    """Move ``intake`` on from the step it was read at, and store what was received, in one
    transaction; a step another request took meanwhile is refused (``wrong_state``)."""
    summary = dict(summary if summary is not None else intake.summary)
    expires_at = intake.expires_at
    if state == IntakeState.DEFERRED:  # waiting on the agency, not on the citizen
        expires_at = max(expires_at, deployment.now() + deployment.settings.deferred_intake_seconds)
    with session_scope(deployment.engine) as session:
        moved = session.execute(
            update(Intake)
            .where(col(Intake.id) == intake.id, col(Intake.step) == intake.step)
            .values(
                step=intake.step + 1,
                state=str(state),
                summary=summary,
                sealed_state=_seal(deployment, intake.id, protocol),
                expires_at=expires_at,
            )
        )
        if _rowcount(moved) != 1:
            raise WalletError(WalletErrorCode.WRONG_STATE, "this offer changed meanwhile: read it")
        intake.step, intake.state, intake.summary = intake.step + 1, str(state), summary
        intake.expires_at = expires_at
        if store is not None:
            credential_id, configuration_id, checked = store
            _store_credential(session, deployment, intake, credential_id, configuration_id, checked)
    return IntakeView(intake.id, state, intake.expires_at, summary)


def _store_credential(
    session: Session,
    deployment: WalletDeployment,
    intake: Intake,
    credential_id: str,
    configuration_id: str,
    checked: list[CheckedCredential],
) -> None:
    first = checked[0]
    session.add(
        Credential(
            id=credential_id,
            account_id=intake.account_id,
            issuer_id=intake.issuer_id,
            credential_type=first.credential_type,
            vct=first.vct,
            configuration_id=configuration_id,
            received_at=deployment.now(),
            expires_at=min(c.expires_at for c in checked),
        )
    )
    session.flush()  # the credential before its copies (their foreign key)
    for copy in checked:
        copy_id = uuid.uuid4().hex
        session.add(
            CredentialCopy(
                id=copy_id,
                credential_id=credential_id,
                account_id=intake.account_id,
                holder_jkt=copy.holder_jkt,
                status_uri=copy.status_uri,
                status_index=copy.status_index,
                sealed=deployment.sealer.seal(
                    copy.compact.encode("ascii"), context=copy_context(copy_id)
                ),
            )
        )
