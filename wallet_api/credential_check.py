"""Nothing is stored unverified: what the wallet checks of each credential an issuer sends.

Our own offline verifier checks it exactly as a counter would (issuer signature by a key of
the trust list, the issuer authorised for the type when it signed, `exp`/`iat`, the type's
schema, the status list), with two differences that belong to a fresh credential: there is
no KB-JWT yet (the phone makes one at each presentation), and its holder key must be the one
the phone made for this copy (`cnf`), so that no one can slip a credential bound to another
key into a citizen's wallet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from credential_schemas import Registry
from keys.errors import KeyManagementError
from keys.jwk import public_key_from_jwk
from keys.jws import decode_compact
from verifier import ErrorCode, Policy, TrustStore, Verifier
from verifier import sd_jwt_vc as vc
from verifier.sd_jwt import split_compact

__all__ = ["CheckedCredential", "CredentialRefusedError", "check_received"]

# A fresh credential is not a presentation: no KB-JWT, and its status list may be one the
# wallet has not fetched yet (the caller syncs and checks again before refusing it).
_FRESH = Policy(require_holder_binding=False)


class CredentialRefusedError(Exception):
    """A credential the wallet will not store; ``code`` from the verifier's closed set, or
    ``key_binding_invalid`` for a `cnf` that is not the copy's key."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CheckedCredential:
    compact: str
    issuer_id: str
    credential_type: str  # registry id
    vct: str
    holder_jkt: str  # the `cnf` key's thumbprint: one of the copy keys the phone made
    expires_at: int
    status_uri: str | None
    status_index: int | None


def check_received(
    compact: str,
    *,
    store: TrustStore,
    registry: Registry,
    issuer_id: str,
    vct: str,
    holder_keys: frozenset[str],
    now: int,
) -> CheckedCredential:
    """Verify ``compact`` as issued by ``issuer_id`` for ``vct`` to one of ``holder_keys``."""
    result = Verifier(store, _FRESH, registry).verify(compact, now)
    if not result.valid:
        assert result.error is not None  # noqa: S101 - a failed result carries its code
        raise CredentialRefusedError(result.error, result.detail)
    if result.issuer != issuer_id or result.vct != vct:
        raise CredentialRefusedError(
            ErrorCode.ISSUER_NOT_AUTHORISED, f"{result.issuer} / {result.vct}: not what was offered"
        )
    # Verified above: the payload's `cnf` and `status` are the issuer's, signed.
    claims = decode_compact(split_compact(compact).issuer_jwt, expected_typ=vc.CREDENTIAL_TYP)
    payload = claims.unverified_claims()
    holder_jkt = _holder_jkt(payload)
    if holder_jkt not in holder_keys:
        raise CredentialRefusedError(
            ErrorCode.KEY_BINDING_INVALID, "`cnf` is not a key the phone made for this offer"
        )
    uri, index = _status_reference(payload)
    assert result.credential_type is not None and result.expires_at is not None  # noqa: S101
    return CheckedCredential(
        compact=compact,
        issuer_id=issuer_id,
        credential_type=result.credential_type,
        vct=vct,
        holder_jkt=holder_jkt,
        expires_at=result.expires_at,
        status_uri=uri,
        status_index=index,
    )


def _holder_jkt(payload: Mapping[str, Any]) -> str:
    cnf = payload.get(vc.CNF)
    jwk = cnf.get(vc.JWK) if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise CredentialRefusedError(ErrorCode.KEY_BINDING_INVALID, "no `cnf.jwk`")
    try:
        return public_key_from_jwk(jwk).kid
    except KeyManagementError as exc:
        raise CredentialRefusedError(ErrorCode.KEY_BINDING_INVALID, exc.detail) from exc


def _status_reference(payload: Mapping[str, Any]) -> tuple[str | None, int | None]:
    status = payload.get(vc.STATUS)
    reference = status.get(vc.STATUS_LIST) if isinstance(status, dict) else None
    if not isinstance(reference, dict):
        return None, None
    uri, index = reference.get(vc.STATUS_URI), reference.get(vc.STATUS_INDEX)
    if isinstance(uri, str) and type(index) is int:
        return uri, index
    return None, None  # the verifier accepted it: it has no status to follow
