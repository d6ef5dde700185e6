"""Offline verification of an SD-JWT VC presentation (RFC 9901 §7, SD-JWT VC draft 12 §4).

Each step raises ``VerificationError`` with its code; ``Verifier.verify`` is the one boundary
that turns it into a frozen ``VerificationResult`` (``verify_answer`` and ``verify_preset``
pass through it too, with the request's audience, nonce and query: ``verifier.counter``).
Values read before the issuer's signature is checked are named ``unverified_*``.
"""

from __future__ import annotations

import copy
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from credential_schemas import CredentialType, Registry, SchemaRegistryError
from keys.errors import KeyErrorCode, KeyManagementError
from keys.jwk import PublicKey, Signer, public_key_from_jwk
from keys.jws import ALG, KID, UnverifiedJws, decode_compact, verify_with
from verifier import counter
from verifier import sd_jwt_vc as vc
from verifier.counter import Answering, answering_preset, answering_request
from verifier.envelope import decode_envelope, is_envelope, strip_scanner_whitespace
from verifier.errors import ErrorCode, VerificationError, from_key_error
from verifier.openid4vp import RESPONSE_MODE_QR, PresentationRequest
from verifier.policy import Policy
from verifier.result import CredentialStatus, VerificationResult
from verifier.sd_jwt import (
    SD_HASH_KEY,
    SdJwt,
    decode_disclosures,
    resolve_claims,
    sd_hash,
    split_compact,
)
from verifier.status_list import StatusValue
from verifier.trust_store import MAX_KEYS_TRIED, IssuerEntry, TrustStore

MAX_INPUT_LENGTH = 64 * 1024

Timestamp = int | float | datetime | None


def _epoch(now: Timestamp) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return int(now.timestamp())
    return int(now)


def _int_claim(claims: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if name not in claims:
        raise VerificationError(ErrorCode.MALFORMED, f"`{name}` is missing")
    # bool is an int in Python; a JSON `true` is not a time.
    if isinstance(value, bool) or not isinstance(value, int):
        raise VerificationError(ErrorCode.MALFORMED, f"`{name}` is not an integer")
    return value


_MISSING = {vc.EXP: ErrorCode.MISSING_EXP, vc.IAT: ErrorCode.MISSING_IAT}


def _time_claim(claims: Mapping[str, Any], name: str, optional: bool) -> int | None:
    """`exp` or `iat`: absent is its own reason (``missing_*``), not a malformed value."""
    if name not in claims:
        if optional:
            return None
        raise VerificationError(_MISSING[name], f"no `{name}`")
    return _int_claim(claims, name)


def _str_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str):
        raise VerificationError(ErrorCode.MALFORMED, f"`{name}` is not a string")
    return value


def _object_claim(claims: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = claims.get(name)
    if not isinstance(value, dict):
        raise VerificationError(ErrorCode.MALFORMED, f"`{name}` is not an object")
    return value


class Verifier:
    """Verifies presentations against a trust store and a policy, with no network."""

    def __init__(
        self, store: TrustStore, policy: Policy | None = None, registry: Registry | None = None
    ):
        self.store = store
        self.policy = policy or Policy()
        self.registry = registry or Registry.load()
        # A misspelt type would refuse every presentation: say so now, not at the counter.
        known = {name for t in self.registry.types for name in (t.id, t.vct)}
        unknown = self.policy.accepted_credential_types - known
        if unknown:
            raise ValueError(f"accepted_credential_types not in the registry: {sorted(unknown)}")

    def verify(self, text: str, now: Timestamp = None) -> VerificationResult:
        """Verify a QR envelope or a plain SD-JWT compact string; never raises for bad input."""
        return self._judge(text, _epoch(now), None)

    def make_request(
        self,
        *,
        signer: Signer,
        client_id: str,
        purpose_id: str,
        now: Timestamp = None,
        lifetime: int = 300,
        response_mode: str = RESPONSE_MODE_QR,
        response_uri: str | None = None,
        state: str | None = None,
        vct: str | None = None,
    ) -> PresentationRequest:
        """A signed request for a purpose this counter registered (OpenID4VP 1.0 §5).

        Show ``.envelope`` as a QR code and keep the request to judge the answer with
        ``verify_answer``. Raises ``openid4vp.RequestError`` when the trust store does not
        register ``client_id``, its ``purpose_id`` or ``signer``'s key.
        """
        return counter.make_request(
            self.store,
            self.registry,
            signer=signer,
            client_id=client_id,
            purpose_id=purpose_id,
            now=_epoch(now),
            lifetime=lifetime,
            response_mode=response_mode,
            response_uri=response_uri,
            state=state,
            vct=vct,
        )

    def verify_answer(
        self, text: str, request: PresentationRequest, now: Timestamp = None
    ) -> VerificationResult:
        """Verify a presentation answering ``request``: its audience and nonce, its type, every
        claim asked disclosed and no other; never raises for bad input."""
        at = _epoch(now)
        if at >= request.expires_at:  # the counter's own clock made both: no skew
            return VerificationResult.failure(
                ErrorCode.REQUEST_EXPIRED, f"request expired at {request.expires_at}"
            )
        # §14.2.2: bound to this request, whatever the policy says of presentations at large.
        policy = replace(
            self.policy,
            expected_audience=request.client_id,
            expected_nonce=request.nonce,
            require_holder_binding=True,
        )
        return self._under(policy)._judge(text, at, answering_request(request))

    def verify_preset(
        self, text: str, client_id: str, purpose_id: str, now: Timestamp = None
    ) -> VerificationResult:
        """Verify a one-way answer to a registered preset (no request, the phone's own nonce).

        The KB-JWT's audience is ``client_id`` and it is accepted for the purpose's
        ``one_way_seconds``. Raises ``openid4vp.RequestError`` when the trust store registers
        no such current counter or preset: that is the counter's configuration, not the answer.
        """
        at = _epoch(now)
        purpose = counter.preset(self.store, client_id, purpose_id, at)
        assert purpose.one_way_seconds is not None  # noqa: S101 - a preset has one
        policy = replace(
            self.policy,
            expected_audience=client_id,
            expected_nonce=None,
            max_presentation_age=purpose.one_way_seconds,
            require_holder_binding=True,  # the KB-JWT's `iat` is the one-way window
        )
        return self._under(policy)._judge(text, at, answering_preset(purpose))

    def _under(self, policy: Policy) -> Verifier:
        """This verifier with another policy (same store and registry)."""
        other = copy.copy(self)
        other.policy = policy
        return other

    def _judge(self, text: str, now: int, answering: Answering | None) -> VerificationResult:
        """The one boundary: every refusal becomes a frozen result with its code."""
        try:
            return self._verify(text, now, answering)
        except VerificationError as exc:
            return VerificationResult.failure(exc.code, exc.detail)
        except KeyManagementError as exc:
            translated = from_key_error(exc)
            return VerificationResult.failure(translated.code, translated.detail)

    def verify_image(
        self, image: str | os.PathLike[str] | bytes, now: Timestamp = None
    ) -> VerificationResult:
        """Read the QR code in ``image`` (a path or the file's bytes) and verify it.

        A path that cannot be opened or read raises ``OSError`` (``FileNotFoundError``, ...):
        no certificate was read, so there is no verdict to return.
        """
        from verifier.qr_image import read_qr_image

        try:
            text = read_qr_image(image)
        except VerificationError as exc:
            return VerificationResult.failure(exc.code, exc.detail)
        return self.verify(text, now)

    # -- steps ------------------------------------------------------------------------------

    def _verify(self, text: str, now: int, answering: Answering | None) -> VerificationResult:
        if not isinstance(text, str):
            raise VerificationError(ErrorCode.MALFORMED, "input is not text")
        if len(text) > MAX_INPUT_LENGTH:
            raise VerificationError(
                ErrorCode.TOO_LARGE, f"input over {MAX_INPUT_LENGTH} characters"
            )
        text = strip_scanner_whitespace(text)
        if is_envelope(text):
            text = decode_envelope(text)
        presentation = split_compact(text)

        # Authenticity first (issuer, then holder), then what the credential says. The
        # disclosures are processed between the two (RFC 9901 §7.1 before §7.3): the holder's
        # key is read from the processed payload, so a disclosed `cnf` is named for what it is.
        issuer, signed = self._check_issuer_signature(presentation)
        disclosures = decode_disclosures(presentation.disclosures)
        claims = resolve_claims(signed, disclosures, not_disclosable=vc.NOT_SELECTIVELY_DISCLOSABLE)
        holder_bound = self._check_key_binding(text, presentation, claims, now)
        issued_at, expires_at = self._check_times(issuer, claims, now)
        vct = _str_claim(claims, vc.VCT)
        credential_type = self._check_type(issuer, vct, issued_at, now)
        type_claims = {k: v for k, v in claims.items() if k not in vc.REGISTERED_CLAIMS}
        if answering is not None:  # what was asked: OpenID4VP 1.0 §8.6 step 2.2
            answering.check(vct, signed, disclosures.values(), type_claims)
        status, known_at = self._check_status(issuer, claims, now)
        self._check_content(credential_type, type_claims)

        return VerificationResult(
            valid=True,
            error=None,
            detail="valid",
            issuer=issuer.issuer_id,
            credential_type=credential_type.id,
            vct=vct,
            claims=type_claims,
            holder_bound=holder_bound,
            status=status,
            status_known_at=known_at,
            issued_at=issued_at,
            expires_at=expires_at,
        )

    def _check_issuer_signature(self, presentation: SdJwt) -> tuple[IssuerEntry, dict[str, Any]]:
        jws = decode_compact(presentation.issuer_jwt, expected_typ=vc.CREDENTIAL_TYP)
        unverified_claims = jws.unverified_claims()
        unverified_iss = _str_claim(unverified_claims, vc.ISS)
        issuer = self.store.issuer(unverified_iss)
        if issuer is None:
            raise VerificationError(ErrorCode.UNKNOWN_ISSUER, f"issuer {unverified_iss!r}")
        unverified_kid = jws.unverified_header.get(KID)
        if unverified_kid is None:
            self._verify_without_kid(jws, issuer)
            return issuer, unverified_claims  # verified from here on
        key = issuer.key(unverified_kid) if isinstance(unverified_kid, str) else None
        if key is None:
            raise VerificationError(
                ErrorCode.UNKNOWN_KEY, f"kid {unverified_kid!r} of {issuer.issuer_id}"
            )
        self._check_algorithm(key)
        verify_with(jws, key)
        return issuer, unverified_claims  # verified from here on

    def _verify_without_kid(self, jws: UnverifiedJws, issuer: IssuerEntry) -> None:
        """SD-JWT VC draft 12 §5 only RECOMMENDS `kid`: an issuer registered by hand may omit it
        when the policy allows; each of its keys of the header's algorithm is tried, a bounded
        number. The trust list's issuers always name their key."""
        if not issuer.by_hand or self.policy.require_kid:
            raise VerificationError(ErrorCode.MISSING_KID, f"no kid in {issuer.issuer_id}'s token")
        unverified_alg = jws.unverified_header.get(ALG)
        candidates = [
            key
            for key in issuer.jwks.keys.values()
            if key.algorithm == unverified_alg and key.algorithm in self.policy.algorithms
        ]
        if not candidates:
            raise VerificationError(
                ErrorCode.UNSUPPORTED_ALGORITHM, f"{issuer.issuer_id} has no allowed key for it"
            )
        if len(candidates) > MAX_KEYS_TRIED:
            raise VerificationError(
                ErrorCode.MISSING_KID,
                f"no kid and {len(candidates)} keys to try (at most {MAX_KEYS_TRIED})",
            )
        for key in candidates:
            try:
                verify_with(jws, key)
                return
            except KeyManagementError as exc:
                if exc.code != KeyErrorCode.BAD_SIGNATURE:
                    raise
        raise VerificationError(
            ErrorCode.BAD_SIGNATURE, f"no key of {issuer.issuer_id} verifies it (no kid)"
        )

    def _check_algorithm(self, key: PublicKey) -> None:
        if key.algorithm not in self.policy.algorithms:
            raise VerificationError(ErrorCode.UNSUPPORTED_ALGORITHM, f"{key.algorithm} not allowed")

    def _check_times(
        self, issuer: IssuerEntry, claims: Mapping[str, Any], now: int
    ) -> tuple[int | None, int | None]:
        skew = self.policy.clock_skew
        # SD-JWT VC draft 12 §3.2.2.2: `exp` and `iat` are OPTIONAL. The scheme requires both;
        # an issuer registered by hand is held to what the policy says.
        lenient = issuer.by_hand
        issued_at = _time_claim(claims, vc.IAT, lenient and not self.policy.require_iat)
        expires_at = _time_claim(claims, vc.EXP, lenient and not self.policy.require_exp)
        not_before = _int_claim(claims, vc.NBF, required=False)
        # RFC 7519 §4.1.4: valid only *before* exp.
        if expires_at is not None and now >= expires_at + skew:
            raise VerificationError(ErrorCode.EXPIRED, f"expired at {expires_at}")
        if issued_at is not None and issued_at > now + skew:
            raise VerificationError(ErrorCode.NOT_YET_VALID, f"issued in the future ({issued_at})")
        if not_before is not None and not_before > now + skew:
            raise VerificationError(ErrorCode.NOT_YET_VALID, f"not before {not_before}")
        return issued_at, expires_at

    def _check_type(
        self, issuer: IssuerEntry, vct: str, issued_at: int | None, now: int
    ) -> CredentialType:
        if not issuer.is_current(now):
            raise VerificationError(
                ErrorCode.ISSUER_NOT_AUTHORISED, f"{issuer.issuer_id} is outside its trust period"
            )
        # Trusted now is not enough: the issuer had to be trusted when it signed (`iat`; only
        # an issuer registered by hand, with no trust period, may leave it out).
        if issued_at is not None and not issuer.is_current(issued_at):
            raise VerificationError(
                ErrorCode.ISSUER_NOT_AUTHORISED,
                f"issued at {issued_at}, outside {issuer.issuer_id}'s trust period",
            )
        credential_type = self.registry.by_vct(vct)
        if credential_type is None:
            raise VerificationError(ErrorCode.UNKNOWN_CREDENTIAL_TYPE, f"vct {vct!r}")
        if not issuer.may_issue(vct):
            raise VerificationError(
                ErrorCode.ISSUER_NOT_AUTHORISED, f"{issuer.issuer_id} may not issue {vct}"
            )
        accepted = self.policy.accepted_credential_types
        if accepted and not accepted & {vct, credential_type.id}:
            raise VerificationError(ErrorCode.CREDENTIAL_TYPE_NOT_ACCEPTED, credential_type.id)
        return credential_type

    def _check_key_binding(
        self, text: str, presentation: SdJwt, claims: Mapping[str, Any], now: int
    ) -> bool:
        if presentation.kb_jwt is None:
            if self.policy.require_holder_binding:
                raise VerificationError(ErrorCode.KEY_BINDING_MISSING, "no KB-JWT")
            return False
        if vc.CNF not in claims:
            raise VerificationError(ErrorCode.KEY_BINDING_INVALID, "KB-JWT but no `cnf` key")
        holder_key = public_key_from_jwk(_object_claim(_object_claim(claims, vc.CNF), vc.JWK))
        self._check_algorithm(holder_key)
        jws = decode_compact(presentation.kb_jwt, expected_typ=vc.KB_JWT_TYP)
        try:
            kb = jws.unverified_claims()
            verify_with(jws, holder_key)
        except KeyManagementError as exc:
            raise VerificationError(ErrorCode.KEY_BINDING_INVALID, exc.detail) from exc
        kb_iat = _int_claim(kb, vc.IAT)
        assert kb_iat is not None  # noqa: S101 - required above
        nonce, audience, digest = (
            _str_claim(kb, vc.NONCE),
            _str_claim(kb, vc.AUD),
            _str_claim(kb, SD_HASH_KEY),
        )
        # RFC 9901 §4.3.1: over the presentation up to and including the last `~`. That is
        # ``presentation.without_key_binding()``, sliced from the text rather than joined again.
        covered = text[: len(text) - len(presentation.kb_jwt)]
        if not hmac.compare_digest(digest, sd_hash(covered)):
            raise VerificationError(ErrorCode.KEY_BINDING_INVALID, "sd_hash does not match")
        # Audience first (OpenID4VP 1.0 §14.2.2): an answer made for another counter carries
        # that counter's nonce too, and "made for someone else" is what the counter must hear.
        expected_audience = self.policy.expected_audience
        if expected_audience is not None and audience != expected_audience:
            raise VerificationError(ErrorCode.AUDIENCE_MISMATCH, f"aud {audience!r}")
        expected_nonce = self.policy.expected_nonce
        if expected_nonce is not None and not hmac.compare_digest(
            nonce.encode(), expected_nonce.encode()
        ):
            raise VerificationError(ErrorCode.NONCE_MISMATCH, "nonce is not the one asked for")
        if kb_iat > now + self.policy.clock_skew:
            raise VerificationError(ErrorCode.KEY_BINDING_INVALID, "KB-JWT issued in the future")
        if now - kb_iat > self.policy.max_presentation_age:
            raise VerificationError(ErrorCode.PRESENTATION_TOO_OLD, f"made at {kb_iat}")
        return True

    def _check_status(
        self, issuer: IssuerEntry, claims: Mapping[str, Any], now: int
    ) -> tuple[CredentialStatus, int | None]:
        if vc.STATUS not in claims:
            if self.policy.require_status:
                raise VerificationError(ErrorCode.STATUS_UNKNOWN, "credential has no status")
            return CredentialStatus.UNKNOWN, None
        reference = _object_claim(_object_claim(claims, vc.STATUS), vc.STATUS_LIST)
        index = _int_claim(reference, vc.STATUS_INDEX)
        uri = _str_claim(reference, vc.STATUS_URI)
        assert index is not None  # noqa: S101 - required above
        held = self.store.status_list(uri)
        if held is None or held.issuer_id != issuer.issuer_id:
            raise VerificationError(ErrorCode.STATUS_UNKNOWN, f"no status list held for {uri}")
        # A list "fetched" ahead of the clock would look fresh for ever: it says nothing.
        if held.fetched_at > now + self.policy.clock_skew:
            raise VerificationError(
                ErrorCode.STATUS_LIST_INVALID,
                f"status list fetched in the future ({held.fetched_at})",
            )
        if now - held.fetched_at > self.policy.max_status_age:
            raise VerificationError(
                ErrorCode.STATUS_STALE, f"status list fetched at {held.fetched_at}"
            )
        expires = held.snapshot.expires_at
        if expires is not None and now >= expires:
            raise VerificationError(ErrorCode.STATUS_STALE, f"status list expired at {expires}")
        value = held.snapshot.status_at(index)
        if value != StatusValue.VALID:
            if value == StatusValue.INVALID:
                raise VerificationError(ErrorCode.REVOKED, "revoked by its issuer")
            if value == StatusValue.SUSPENDED:
                raise VerificationError(ErrorCode.SUSPENDED, "suspended by its issuer")
            raise VerificationError(ErrorCode.STATUS_UNKNOWN, f"status value {value}")
        return CredentialStatus.VALID, held.fetched_at

    def _check_content(self, credential_type: CredentialType, claims: Mapping[str, Any]) -> None:
        try:
            credential_type.validate_disclosed(claims)
        except SchemaRegistryError as exc:
            raise VerificationError(ErrorCode.SCHEMA_VIOLATION, exc.detail) from exc
        missing = self.policy.required_claims - claims.keys()
        if missing:
            raise VerificationError(ErrorCode.MISSING_REQUIRED_CLAIM, f"missing {sorted(missing)}")
