"""The counter's request: an OpenID4VP 1.0 (final) Request Object in jigap's counter profile.

A registered counter asks a phone for named claims of one certificate, and says why, in a
signed JWT (JAR, RFC 9101) shown as a QR code (``verifier.request_envelope``) or fetched by
reference. The profile (docs/counter-request.md) keeps OpenID4VP's members and checks, and
departs where a pre-registered client in a signed trust list, an offline two-QR exchange and
minimal disclosure ask for it:

- §5: ``typ`` MUST be ``oauth-authz-req+jwt``; unknown parameters are ignored, but
  ``transaction_data`` MUST be refused by a wallet that does not support it (we do not).
- §5.2: ``nonce`` REQUIRED, URL-safe characters only (we also require 22 or more: 128 bits).
- §5.2: ``state`` URL-safe characters only.
- §5.8: with static discovery ``aud`` MUST be ``https://self-issued.me/v2``.
- §5.9.2: a ``client_id`` without ``:`` is a pre-registered client: here an entry of the trust
  list (``keys.relying_party``), whose keys alone may have signed the request.
- §8.2: ``direct_post`` needs ``response_uri``, which MUST be a URI the client may use (one it
  registered), and then ``redirect_uri`` MUST NOT be present.
- §6: the query is DCQL (``verifier.dcql``); our profile asks for exactly ONE credential of
  format ``dc+sd-jwt``, names its claims, and never more than the purpose registered.
- ``purpose`` {"ko", "en"} (ours, not OpenID4VP's): the registered purpose's names, so the
  phone shows who asks and why.

``read_request`` runs every check in order and raises ``RequestError`` with the first fault's
code; values read before the signature is checked are named ``unverified_*``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from keys.errors import KeyErrorCode, KeyManagementError
from keys.jwk import Signer
from keys.jws import ALG, KID, TYP, UnverifiedJws, decode_compact, sign_compact, verify_with
from keys.relying_party import Purpose, RegisteredCredential, RelyingParty
from verifier.dcql import (
    SD_JWT_VC_FORMAT,
    CredentialQuery,
    DcqlQuery,
    InvalidDcqlError,
    parse_dcql_query,
)
from verifier.envelope import strip_scanner_whitespace
from verifier.errors import ErrorCode, VerificationError
from verifier.request_envelope import (
    decode_request_envelope,
    encode_request_envelope,
    is_request_envelope,
)

if TYPE_CHECKING:
    from credential_schemas import Registry
    from verifier.trust_store import TrustStore

__all__ = [
    "MAX_REQUEST_LENGTH",
    "MAX_REQUEST_LIFETIME",
    "REQUEST_TYP",
    "RESPONSE_MODE_DIRECT_POST",
    "RESPONSE_MODE_QR",
    "STATIC_AUDIENCE",
    "PresentationRequest",
    "RequestError",
    "RequestErrorCode",
    "query_for",
    "read_request",
    "sign_request",
]

REQUEST_TYP = "oauth-authz-req+jwt"  # RFC 9101 §10.8, OpenID4VP 1.0 §5
STATIC_AUDIENCE = "https://self-issued.me/v2"  # §5.8
RESPONSE_TYPE_VP_TOKEN = "vp_token"  # noqa: S105 - §5.6, a response type
RESPONSE_MODE_QR = "jigap_qr"  # ours: the answer shown as a JG1 QR code
RESPONSE_MODE_DIRECT_POST = "direct_post"  # §8.2
RESPONSE_MODES = frozenset({RESPONSE_MODE_QR, RESPONSE_MODE_DIRECT_POST})

CLIENT_ID, RESPONSE_TYPE, RESPONSE_MODE = "client_id", "response_type", "response_mode"
RESPONSE_URI, REDIRECT_URI, AUD, NONCE, STATE = (
    "response_uri",
    "redirect_uri",
    "aud",
    "nonce",
    "state",
)
IAT, EXP, NBF, DCQL_QUERY, PURPOSE = "iat", "exp", "nbf", "dcql_query", "purpose"
TRANSACTION_DATA, SCOPE, CLIENT_METADATA = "transaction_data", "scope", "client_metadata"
# RFC 9101 §6.3 / §10.4: a Request Object naming another request, or metadata that a
# pre-registered client's registration already holds (§8.5 `invalid_client`), contradicts itself.
_CONTRADICTING = ("request", "request_uri", CLIENT_METADATA)

MAX_REQUEST_LENGTH = 8 * 1024  # the compact JWS; a counter's request is ~1 KB
MAX_REQUEST_LIFETIME = 600  # exp - iat, seconds: a request is answered at the counter, now
CLOCK_SKEW = 30  # the counter's and the phone's clocks
NONCE_BYTES = 16  # 128 bits (§14.2: "fresh, cryptographically random")
MIN_NONCE_LENGTH = 22  # 128 bits of base64url
_MAX_URL_SAFE = 256
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")  # §5.2 nonce and state: ASCII URL-safe only
_LANGUAGES = frozenset({"ko", "en"})
_MAX_NAME = 200


class RequestErrorCode(StrEnum):
    MALFORMED = "malformed"  # not a JWS, not JSON, a member missing or of the wrong shape
    TOO_LARGE = "too_large"  # over MAX_REQUEST_LENGTH, or its envelope over its limits
    UNSUPPORTED = "unsupported"  # well formed, outside our profile (transaction_data, modes...)
    UNREGISTERED_CLIENT = "unregistered_client"  # client_id not a relying party of the list
    CLIENT_NOT_CURRENT = "client_not_current"  # registered, outside its validity
    UNKNOWN_KEY = "unknown_key"  # kid not among the relying party's registered keys
    BAD_SIGNATURE = "bad_signature"  # forged, altered, or unsigned (alg none)
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"  # iat or nbf in the future
    LIFETIME_TOO_LONG = "lifetime_too_long"  # exp - iat over MAX_REQUEST_LIFETIME
    PURPOSE_NOT_REGISTERED = "purpose_not_registered"  # names no purpose of the client
    OVER_ASKING = "over_asking"  # a type, claim or whole object beyond the purpose's
    INVALID_QUERY = "invalid_query"  # DCQL malformed, empty, or naming what no type has
    RESPONSE_URI_NOT_REGISTERED = "response_uri_not_registered"


class RequestError(Exception):
    """A request the phone must refuse, and why; ``detail`` is for logs, never the phone."""

    def __init__(self, code: RequestErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PresentationRequest:
    """A request whose every check passed: who asks (registered), why, and for what."""

    token: str  # the compact JWS, as signed
    client_id: str
    relying_party: RelyingParty
    purpose: Purpose
    nonce: str
    issued_at: int
    expires_at: int
    query: DcqlQuery
    response_mode: str
    response_uri: str | None
    state: str | None

    @property
    def credential_query(self) -> CredentialQuery:
        """The one credential query of our profile."""
        return self.query.credentials[0]

    @property
    def envelope(self) -> str:
        """The request as QR text ("JR1:...")."""
        return encode_request_envelope(self.token)


# -- signing (the counter) --------------------------------------------------------------------


def query_for(registration: RegisteredCredential, query_id: str = "credential") -> dict[str, Any]:
    """The DCQL query asking for exactly what ``registration`` allows: one path each (§6)."""
    return {
        "credentials": [
            {
                "id": query_id,
                "format": SD_JWT_VC_FORMAT,
                "meta": {"vct_values": [registration.vct]},
                "claims": [{"path": list(path)} for path in registration.claims],
            }
        ]
    }


def sign_request(
    *,
    signer: Signer,
    client_id: str,
    purpose: Purpose,
    now: int,
    lifetime: int = 300,
    response_mode: str = RESPONSE_MODE_QR,
    response_uri: str | None = None,
    state: str | None = None,
    nonce: str | None = None,
    vct: str | None = None,
    query_id: str = "credential",
) -> str:
    """A request object for ``purpose``, signed by ``signer``; ``ValueError`` for what a phone
    would refuse whatever the registration (the registration itself is the reader's check)."""
    if not 0 < lifetime <= MAX_REQUEST_LIFETIME:
        raise ValueError(f"lifetime must be 1 to {MAX_REQUEST_LIFETIME} seconds")
    if response_mode not in RESPONSE_MODES:
        raise ValueError(f"response_mode must be one of {sorted(RESPONSE_MODES)}")
    if (response_mode == RESPONSE_MODE_DIRECT_POST) != (response_uri is not None):
        raise ValueError("response_uri is given with direct_post, and only with it (§8.2)")
    nonce = secrets.token_urlsafe(NONCE_BYTES) if nonce is None else nonce
    if not _is_url_safe(nonce, MIN_NONCE_LENGTH):
        raise ValueError(f"nonce must be {MIN_NONCE_LENGTH} or more URL-safe characters")
    if state is not None and not _is_url_safe(state, 1):
        raise ValueError("state must be URL-safe characters")
    registration = _registration(purpose, vct)
    payload: dict[str, Any] = {
        CLIENT_ID: client_id,
        RESPONSE_TYPE: RESPONSE_TYPE_VP_TOKEN,
        RESPONSE_MODE: response_mode,
        **({RESPONSE_URI: response_uri} if response_uri is not None else {}),
        AUD: STATIC_AUDIENCE,
        NONCE: nonce,
        **({STATE: state} if state is not None else {}),
        IAT: now,
        EXP: now + lifetime,
        PURPOSE: {"ko": purpose.names["ko"], "en": purpose.names["en"]},
        DCQL_QUERY: query_for(registration, query_id),
    }
    return sign_compact(payload, signer, {TYP: REQUEST_TYP, KID: signer.kid})


def _registration(purpose: Purpose, vct: str | None) -> RegisteredCredential:
    if vct is None:
        if len(purpose.credentials) != 1:
            vcts = [c.vct for c in purpose.credentials]
            raise ValueError(f"purpose {purpose.id} registers {vcts}: name the vct to ask for")
        return purpose.credentials[0]
    registration = purpose.registration_for(vct)
    if registration is None:
        raise ValueError(f"purpose {purpose.id} does not register {vct}")
    return registration


# -- reading (the phone, the wallet, the counter checking its own) -------------------------------


def read_request(
    token: str, store: TrustStore, *, now: int, registry: Registry | None = None
) -> PresentationRequest:
    """Check a request object (compact JWS or its "JR1:" envelope) in full; raise RequestError.

    Order: size, JWS form and `typ`, client registered and current, its key, the signature,
    times, `aud`, parameters, `response_uri`, DCQL, profile limits, (with ``registry``: every
    path of a known type), purpose registered, nothing asked beyond it.
    """
    token = _compact(token)
    jws = _decode(token)
    try:
        unverified = jws.unverified_claims()
    except KeyManagementError as exc:
        raise RequestError(RequestErrorCode.MALFORMED, exc.detail) from exc
    unverified_client_id = unverified.get(CLIENT_ID)
    if not isinstance(unverified_client_id, str):
        raise RequestError(RequestErrorCode.MALFORMED, "client_id is not a string")
    party = store.relying_party(unverified_client_id)
    if party is None:  # a `:` prefix (§5.9.1) is no pre-registered client either
        raise RequestError(
            RequestErrorCode.UNREGISTERED_CLIENT, f"client_id {unverified_client_id[:100]!r}"
        )
    if not party.is_current(now):
        raise RequestError(
            RequestErrorCode.CLIENT_NOT_CURRENT, f"{party.id} is outside its registration"
        )
    unverified_kid = jws.unverified_header.get(KID)
    key = party.jwks.get(unverified_kid) if isinstance(unverified_kid, str) else None
    if key is None:
        raise RequestError(RequestErrorCode.UNKNOWN_KEY, f"kid {unverified_kid!r} of {party.id}")
    try:
        verify_with(jws, key)  # the key's algorithm; a header naming another is refused
    except KeyManagementError as exc:
        raise RequestError(RequestErrorCode.BAD_SIGNATURE, exc.detail) from exc
    claims = unverified  # verified from here on

    issued_at, expires_at = _check_times(claims, now)
    _check_parameters(claims)
    response_mode = claims[RESPONSE_MODE]
    response_uri = claims.get(RESPONSE_URI)
    if response_mode == RESPONSE_MODE_DIRECT_POST and response_uri not in party.response_uris:
        raise RequestError(
            RequestErrorCode.RESPONSE_URI_NOT_REGISTERED, f"{str(response_uri)[:200]!r}"
        )
    query = _query(claims.get(DCQL_QUERY))
    credential_query = _check_profile(query)
    if registry is not None:
        _check_known_paths(credential_query, registry)
    purpose = _purpose(claims.get(PURPOSE), party)
    _check_within(credential_query, purpose)
    return PresentationRequest(
        token=token,
        client_id=party.id,
        relying_party=party,
        purpose=purpose,
        nonce=claims[NONCE],
        issued_at=issued_at,
        expires_at=expires_at,
        query=query,
        response_mode=response_mode,
        response_uri=response_uri,
        state=claims.get(STATE),
    )


_ENVELOPE_CODES = {
    ErrorCode.TOO_LARGE: RequestErrorCode.TOO_LARGE,
    ErrorCode.UNSUPPORTED_FORMAT: RequestErrorCode.UNSUPPORTED,
}


def _compact(text: str) -> str:
    if not isinstance(text, str):
        raise RequestError(RequestErrorCode.MALFORMED, "a request is text")
    text = strip_scanner_whitespace(text)
    if len(text) > 2 * MAX_REQUEST_LENGTH:
        raise RequestError(RequestErrorCode.TOO_LARGE, f"{len(text)} characters")
    if is_request_envelope(text):
        try:
            text = decode_request_envelope(text)
        except VerificationError as exc:
            code = _ENVELOPE_CODES.get(exc.code, RequestErrorCode.MALFORMED)
            raise RequestError(code, f"request envelope: {exc.detail}") from exc
    if len(text) > MAX_REQUEST_LENGTH:
        raise RequestError(RequestErrorCode.TOO_LARGE, f"request of {len(text)} characters")
    return text


_JWS_CODES = {
    KeyErrorCode.TOO_LARGE: RequestErrorCode.TOO_LARGE,
    KeyErrorCode.CRITICAL_HEADER: RequestErrorCode.UNSUPPORTED,
    KeyErrorCode.EMBEDDED_KEY: RequestErrorCode.UNSUPPORTED,  # x5c, jwk: not how we trust
}


def _decode(token: str) -> UnverifiedJws:
    try:
        jws = decode_compact(token, expected_typ=REQUEST_TYP, max_length=MAX_REQUEST_LENGTH)
    except KeyManagementError as exc:  # WRONG_TOKEN_TYPE too: §5 MUST NOT process it
        code = _JWS_CODES.get(exc.code, RequestErrorCode.MALFORMED)
        raise RequestError(code, exc.detail) from exc
    if jws.unverified_header[ALG] == "none" or not jws.signature:
        raise RequestError(RequestErrorCode.BAD_SIGNATURE, "an unsigned request object")
    return jws


def _integer(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if type(value) is not int:  # a JSON `true` is not a time
        raise RequestError(RequestErrorCode.MALFORMED, f"`{name}` is not an integer")
    return value


def _check_times(claims: Mapping[str, Any], now: int) -> tuple[int, int]:
    issued_at, expires_at = _integer(claims, IAT), _integer(claims, EXP)
    if expires_at <= issued_at:
        raise RequestError(RequestErrorCode.MALFORMED, "exp is not after iat")
    if expires_at - issued_at > MAX_REQUEST_LIFETIME:
        raise RequestError(
            RequestErrorCode.LIFETIME_TOO_LONG,
            f"{expires_at - issued_at} s, over {MAX_REQUEST_LIFETIME}",
        )
    if now >= expires_at + CLOCK_SKEW:  # RFC 7519 §4.1.4: valid only before exp
        raise RequestError(RequestErrorCode.EXPIRED, f"expired at {expires_at}")
    not_before = _integer(claims, NBF) if NBF in claims else issued_at
    if max(issued_at, not_before) > now + CLOCK_SKEW:
        raise RequestError(RequestErrorCode.NOT_YET_VALID, f"issued at {issued_at}")
    return issued_at, expires_at


def _check_parameters(claims: Mapping[str, Any]) -> None:
    if claims.get(AUD) != STATIC_AUDIENCE:  # §5.8: static discovery, the only one offline
        raise RequestError(RequestErrorCode.UNSUPPORTED, f"aud is not {STATIC_AUDIENCE!r}")
    if TRANSACTION_DATA in claims:  # §5: MUST reject it when not supported
        raise RequestError(RequestErrorCode.UNSUPPORTED, "transaction_data is not supported")
    for name in _CONTRADICTING:
        if name in claims:
            raise RequestError(RequestErrorCode.MALFORMED, f"`{name}` in a request object")
    if claims.get(RESPONSE_TYPE) != RESPONSE_TYPE_VP_TOKEN:
        raise RequestError(RequestErrorCode.UNSUPPORTED, "response_type is not vp_token")
    mode = claims.get(RESPONSE_MODE)
    if mode not in RESPONSE_MODES:
        raise RequestError(RequestErrorCode.UNSUPPORTED, f"response_mode {str(mode)[:50]!r}")
    if REDIRECT_URI in claims:  # §8.2: never with response_uri; and a counter redirects nowhere
        raise RequestError(RequestErrorCode.MALFORMED, "redirect_uri in a request object")
    has_uri = RESPONSE_URI in claims
    if has_uri != (mode == RESPONSE_MODE_DIRECT_POST):
        raise RequestError(RequestErrorCode.MALFORMED, "response_uri goes with direct_post only")
    if has_uri and not isinstance(claims[RESPONSE_URI], str):
        raise RequestError(RequestErrorCode.MALFORMED, "response_uri is not a string")
    if not _is_url_safe(claims.get(NONCE), MIN_NONCE_LENGTH):
        raise RequestError(
            RequestErrorCode.MALFORMED, f"nonce is not {MIN_NONCE_LENGTH}+ URL-safe characters"
        )
    if STATE in claims and not _is_url_safe(claims[STATE], 1):
        raise RequestError(RequestErrorCode.MALFORMED, "state is not URL-safe characters")
    if SCOPE in claims:  # §5.1: a dcql_query or a scope, never both; we read only the query
        raise RequestError(RequestErrorCode.UNSUPPORTED, "scope is not supported")
    if DCQL_QUERY not in claims:
        raise RequestError(RequestErrorCode.MALFORMED, "dcql_query is missing")


def _is_url_safe(value: object, least: int) -> bool:
    """§5.2: ASCII letters, digits, `-`, `.`, `_` and `~` only (bounded, as all we read)."""
    return (
        isinstance(value, str)
        and least <= len(value) <= _MAX_URL_SAFE
        and _URL_SAFE.fullmatch(value) is not None
    )


def _query(value: object) -> DcqlQuery:
    try:
        return parse_dcql_query(value)
    except InvalidDcqlError as exc:
        raise RequestError(RequestErrorCode.INVALID_QUERY, str(exc)) from exc


def _check_profile(query: DcqlQuery) -> CredentialQuery:
    if len(query.credentials) != 1 or query.credential_sets is not None:
        raise RequestError(RequestErrorCode.UNSUPPORTED, "our profile asks for one credential")
    credential = query.credentials[0]
    if credential.multiple or not credential.require_cryptographic_holder_binding:
        raise RequestError(
            RequestErrorCode.UNSUPPORTED, "one presentation, always bound to its holder"
        )
    if credential.claims is None:  # §6.4.1 reads it as "only what is always disclosed"
        raise RequestError(RequestErrorCode.OVER_ASKING, "a query naming no claim")
    return credential


def _check_known_paths(query: CredentialQuery, registry: Registry) -> None:
    for vct in query.vct_values:
        credential_type = registry.by_vct(vct)
        if credential_type is None:
            raise RequestError(RequestErrorCode.INVALID_QUERY, f"no type {vct[:100]!r}")
        for claim in query.claims or ():
            if not credential_type.has_claim(claim.path):
                raise RequestError(
                    RequestErrorCode.INVALID_QUERY, f"{vct} has no claim {list(claim.path)}"
                )


def _purpose(value: object, party: RelyingParty) -> Purpose:
    if not (
        isinstance(value, dict)
        and value.keys() == _LANGUAGES
        and all(isinstance(name, str) and len(name) <= _MAX_NAME for name in value.values())
    ):
        raise RequestError(RequestErrorCode.MALFORMED, "purpose is not {ko, en} names")
    purpose = party.purpose_named(value)
    if purpose is None:
        raise RequestError(
            RequestErrorCode.PURPOSE_NOT_REGISTERED, f"{party.id} registered no such purpose"
        )
    return purpose


def _check_within(query: CredentialQuery, purpose: Purpose) -> None:
    for vct in query.vct_values:
        registration = purpose.registration_for(vct)
        if registration is None:
            raise RequestError(
                RequestErrorCode.OVER_ASKING, f"{vct[:100]} is not registered for {purpose.id}"
            )
        for claim in query.claims or ():
            if not registration.allows(claim.path):
                raise RequestError(
                    RequestErrorCode.OVER_ASKING,
                    f"{list(claim.path)} of {vct} is not registered for {purpose.id}",
                )
