"""The counter's side of a presentation: ask (a signed request), then judge the answer against it.

OpenID4VP 1.0 (final) §8.6 asks a verifier to check that each presentation meets every
criterion of the query it answers, and §14.2.2 that it is bound to the request's `client_id`
(the KB-JWT's `aud`, §B.3.6) and `nonce`. The usual verification (``Verifier``) does the
second through its policy; ``Answering`` does the first, inside the same pipeline, after the
issuer's and the holder's signatures are checked:

- the credential's `vct` is one the query names (§B.3.5), else ``credential_type_not_accepted``;
- every disclosure sits at a path the query asked for, or on the way to one, else
  ``not_requested``: nothing unasked is accepted as if asked (§6.4: a wallet MUST NOT send it);
- every claim the query asks for is disclosed, else ``missing_required_claim``.

A one-way preset (``keys.relying_party``: a purpose with ``one_way_seconds``) is judged the same
way against the purpose's registration, with no nonce: the phone chose it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keys.jwk import Signer
from keys.relying_party import Purpose, RelyingParty
from verifier.dcql import CredentialQuery, parse_dcql_query
from verifier.dcql_select import disclosure_paths, missing_claims, path_requested
from verifier.errors import ErrorCode, VerificationError
from verifier.openid4vp import (
    PresentationRequest,
    RequestError,
    RequestErrorCode,
    query_for,
    read_request,
    sign_request,
)
from verifier.sd_jwt import Disclosure

if TYPE_CHECKING:
    from credential_schemas import Registry
    from verifier.trust_store import TrustStore

__all__ = ["Answering", "answering_preset", "answering_request", "make_request", "preset"]


@dataclass(frozen=True, slots=True)
class Answering:
    """What an answer must be: for each type it may be of, the query it answers."""

    queries: Mapping[str, CredentialQuery]

    def check(
        self,
        vct: str,
        issuer_payload: Mapping[str, Any],
        disclosures: Iterable[Disclosure],
        claims: Mapping[str, Any],
    ) -> None:
        query = self.queries.get(vct)
        if query is None:
            raise VerificationError(
                ErrorCode.CREDENTIAL_TYPE_NOT_ACCEPTED, f"{vct} is not the type asked for"
            )
        presented = tuple(disclosures)
        paths = disclosure_paths(issuer_payload, presented)
        for disclosure in presented:
            path = paths.get(disclosure.digest)
            if path is None or not path_requested(path, query):
                where = "at no path" if path is None else f"at {list(path)}"
                raise VerificationError(ErrorCode.NOT_REQUESTED, f"a disclosure {where}")
        missing = missing_claims(claims, query)
        if missing:
            raise VerificationError(
                ErrorCode.MISSING_REQUIRED_CLAIM, f"missing {[list(p) for p in missing]}"
            )


def answering_request(request: PresentationRequest) -> Answering:
    query = request.credential_query
    return Answering(dict.fromkeys(query.vct_values, query))


def answering_preset(purpose: Purpose) -> Answering:
    """Each type the purpose registers, asked for with exactly its registered claims."""
    return Answering(
        {
            registration.vct: parse_dcql_query(query_for(registration)).credentials[0]
            for registration in purpose.credentials
        }
    )


def preset(store: TrustStore, client_id: str, purpose_id: str, now: int) -> Purpose:
    """The one-way purpose ``purpose_id`` of the counter ``client_id``, registered and current."""
    party = _party(store, client_id, now)
    purpose = party.purpose(purpose_id)
    if purpose is None or purpose.one_way_seconds is None:
        raise RequestError(
            RequestErrorCode.PURPOSE_NOT_REGISTERED, f"{client_id} has no preset {purpose_id!r}"
        )
    return purpose


def make_request(
    store: TrustStore,
    registry: Registry,
    *,
    signer: Signer,
    client_id: str,
    purpose_id: str,
    now: int,
    lifetime: int,
    response_mode: str,
    response_uri: str | None,
    state: str | None,
    vct: str | None,
) -> PresentationRequest:
    """Sign a request for a purpose registered in ``store``, then read it as a phone would.

    A counter cannot ask beyond its registration: the query is built from it, and the signed
    request goes through every check of ``read_request`` before it is shown.
    """
    party = _party(store, client_id, now)
    purpose = party.purpose(purpose_id)
    if purpose is None:
        raise RequestError(
            RequestErrorCode.PURPOSE_NOT_REGISTERED, f"{client_id} has no purpose {purpose_id!r}"
        )
    if party.jwks.get(signer.kid) is None:
        raise RequestError(RequestErrorCode.UNKNOWN_KEY, f"{signer.kid} is not {client_id}'s")
    asked = vct or (purpose.credentials[0].vct if len(purpose.credentials) == 1 else None)
    credential_type = registry.by_vct(asked) if asked is not None else None
    token = sign_request(
        signer=signer,
        client_id=client_id,
        purpose=purpose,
        now=now,
        lifetime=lifetime,
        response_mode=response_mode,
        response_uri=response_uri,
        state=state,
        vct=asked,
        # §8.1: the answer is keyed by the query's id; the type's registry id says what it is.
        query_id=credential_type.id if credential_type is not None else "credential",
    )
    return read_request(token, store, now=now, registry=registry)


def _party(store: TrustStore, client_id: str, now: int) -> RelyingParty:
    party = store.relying_party(client_id)
    if party is None:
        raise RequestError(RequestErrorCode.UNREGISTERED_CLIENT, f"{client_id!r}")
    if not party.is_current(now):
        raise RequestError(
            RequestErrorCode.CLIENT_NOT_CURRENT, f"{client_id} is outside its registration"
        )
    return party
