"""QR size per certificate type: the plain SD-JWT text against the compact envelope; the
counter's request object against its request envelope; and the answers to the sample counters'
registered purposes.

For each type of the registry, a fresh ES256 credential of its first valid example is
presented for a typical request, with a KB-JWT: the type's declared ``typical_presentation``
(claims paths, selected as the onboarding lint selects them: ``jigap_schemas_check``), or for
a type that declares none ``scenario.typical_request``. Salts, keys and
signatures are random, so the envelope's compressed size varies by a few characters from one
credential to the next: each row reports the largest of ``samples`` presentations.

The request row is the sample bank's signed request object (OpenID4VP 1.0 §5, signed by
``verifier.openid4vp.sign_request`` as ``Verifier.make_request`` does, docs/counter-request.md)
for its account-opening purpose. Only its pool (``kid``, nonce, signature: 112 bytes) is
random, so its size is the same every run.

The answer rows are what a phone shows back (OpenID4VP 1.0 §6.4, §B.3.6): for each of the
sample counters' purposes, the fewest disclosures ``verifier.dcql_select.select_for_query``
picks for the DCQL query the purpose registers, a KB-JWT with the counter's client_id and a
request nonce, as the wallet builds it (``wallet_api.answering``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from bench.scenario import (
    NOW,
    PRESENTED_AT,
    RESIDENT_REGISTER,
    RESIDENT_REGISTER_REQUEST,
    Parties,
    typical_request,
)
from issuer.cli import sample_relying_parties
from jigap_schemas_check import present_paths
from keys.encoding import b64url_encode
from keys.jwk import Algorithm, SigningKey
from keys.relying_party import RelyingParty, relying_party_from_entry
from verifier import encode_envelope
from verifier.dcql import parse_dcql_query
from verifier.dcql_select import select_for_query
from verifier.openid4vp import NONCE_BYTES, query_for, sign_request
from verifier.qr_image import qr_version
from verifier.request_envelope import encode_request_envelope
from wallet_api.presentation import prepare_key_binding

ERROR_CORRECTION = "M"
# The acceptance point: a resident-register extract envelope a counter scanner reads easily.
MAX_ENVELOPE_VERSION = 25

REQUEST_ROW = f"counter request for {RESIDENT_REGISTER}"
ANSWER_ROW = "answer: "  # then the counter and the purpose
# The development deployment's sample bank and purpose (issuer/sample_relying_parties.json).
COUNTER_CLIENT_ID = "counter.bank.example"
COUNTER_PURPOSE_ID = "account_opening"
REQUEST_LIFETIME = 300
# The answers measured: (counter, purpose) of the sample counters, each for one type.
ANSWERED = (
    ("counter.bank.example", "account_opening"),  # name, birth_date, address: must fit v25
    ("counter.store.example", "age_check"),  # age_over_19 only
    ("counter.bank.example", "loan_health_insurance"),  # name, insured_type, workplace, ...
)


@dataclass(frozen=True, slots=True)
class QrSize:
    credential_type: str
    request: tuple[str, ...]
    plain_length: int
    plain_version: int
    envelope_length: int
    envelope_version: int


def measure_sizes(parties: Parties, *, samples: int) -> list[QrSize]:
    """One row per certificate type's presentation, the counter's request, then each answer."""
    rows = []
    for credential_type in sorted(parties.registry.types, key=lambda t: t.id):
        request = typical_request(credential_type)
        if credential_type.typical_presentation:
            holder = parties.holder_keys[Algorithm.ES256]
            made = [
                present_paths(
                    credential_type,
                    parties.issue(credential_type, Algorithm.ES256).compact,
                    credential_type.typical_presentation,
                    holder,
                )
                for _ in range(samples)
            ]
            presentations = [text for _, text in made]
            request = tuple(".".join("*" if s is None else str(s) for s in p) for p in made[0][0])
        else:
            presentations = [
                parties.present(credential_type, Algorithm.ES256) for _ in range(samples)
            ]
        plain = max(presentations, key=len)
        envelope = max((encode_envelope(p) for p in presentations), key=len)
        rows.append(_row(credential_type.id, request, plain, envelope))
    requests = [counter_request(SigningKey.generate(Algorithm.ES256)) for _ in range(samples)]
    envelope = max((encode_request_envelope(r) for r in requests), key=len)
    rows.append(_row(REQUEST_ROW, RESIDENT_REGISTER_REQUEST, max(requests, key=len), envelope))
    for client_id, purpose_id in ANSWERED:
        answers = [counter_answer(parties, client_id, purpose_id) for _ in range(samples)]
        [paths] = {paths for paths, _ in answers}
        texts = [text for _, text in answers]
        envelope = max((encode_envelope(t) for t in texts), key=len)
        label = f"{ANSWER_ROW}{client_id} {purpose_id}"
        rows.append(_row(label, paths, max(texts, key=len), envelope))
    return rows


def sample_counter(client_id: str, key: SigningKey) -> RelyingParty:
    """A sample counter's registration (issuer/sample_relying_parties.json) with ``key``."""
    [entry] = [e for e in sample_relying_parties() if e["id"] == client_id]
    return relying_party_from_entry(
        {
            **entry,
            "jwks": {"keys": [key.public_key.to_jwk()]},
            "valid_from": NOW - 86_400,
            "valid_until": NOW + 86_400,
            "response_uris": [],
        }
    )


def counter_request(signer: SigningKey) -> str:
    """The request object the sample bank shows for a resident-register extract: name, birth
    date and address, why in Korean and English, answered as a QR (response mode jigap_qr),
    signed as ``Verifier.make_request`` signs it (the query named by the type's registry id)."""
    party = sample_counter(COUNTER_CLIENT_ID, signer)
    purpose = party.purpose(COUNTER_PURPOSE_ID)
    assert purpose is not None  # the sample registers it
    return sign_request(
        signer=signer,
        client_id=party.id,
        purpose=purpose,
        now=NOW,
        lifetime=REQUEST_LIFETIME,
        query_id=RESIDENT_REGISTER,
    )


def counter_answer(
    parties: Parties, client_id: str, purpose_id: str
) -> tuple[tuple[str, ...], str]:
    """The phone's answer to ``purpose_id`` of ``client_id``: a fresh credential of the type the
    purpose registers, the fewest disclosures for its query, a KB-JWT (aud the client_id, a
    request's nonce). Returns the disclosed claims' names and the answer's compact text."""
    party = sample_counter(client_id, SigningKey.generate(Algorithm.ES256))
    purpose = party.purpose(purpose_id)
    assert purpose is not None  # the sample registers it
    [registration] = purpose.credentials
    credential_type = parties.registry.by_vct(registration.vct)
    assert credential_type is not None  # the registry holds every sample type
    query = parse_dcql_query(query_for(registration, credential_type.id)).credentials[0]
    holder = parties.holder_keys[Algorithm.ES256]
    selection = select_for_query(parties.issue(credential_type, Algorithm.ES256).compact, query)
    prepared = prepare_key_binding(
        selection.sd_jwt,
        holder_algorithm=holder.algorithm,
        audience=client_id,
        nonce=b64url_encode(secrets.token_bytes(NONCE_BYTES)),
        now=PRESENTED_AT,
    )
    signature = b64url_encode(holder.sign(prepared.signing_input))
    text = f"{prepared.sd_jwt.without_key_binding()}{prepared.signing_input.decode()}.{signature}"
    paths = tuple(".".join(str(step) for step in path) for path in selection.disclosed)
    return paths, text


def _row(label: str, request: tuple[str, ...], plain: str, envelope: str) -> QrSize:
    return QrSize(
        label,
        request,
        len(plain),
        qr_version(plain, ERROR_CORRECTION),
        len(envelope),
        qr_version(envelope, ERROR_CORRECTION),
    )
