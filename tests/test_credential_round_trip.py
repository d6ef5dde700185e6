"""Every certificate type in the registry: issued, presented, verified, for both algorithms."""

from __future__ import annotations

import dataclasses

import pytest

from credential_schemas import Registry
from issuer.credential import StatusReference, issue_sd_jwt_vc
from keys.encoding import b64url_decode, json_loads_object
from keys.jwk import Algorithm, SigningKey
from tests._world import COUNTER, ISSUER, NONCE, NOW, STATUS_URI, World, eddsa_world
from verifier import encode_envelope
from verifier.sd_jwt import SD_DIGESTS_KEY, split_compact
from wallet_api.presentation import build_presentation, prepare_presentation

TYPES = [t.id for t in Registry.load().types]


@pytest.mark.parametrize("algorithm", list(Algorithm))
@pytest.mark.parametrize("type_id", TYPES)
def test_every_claim_round_trips(type_id: str, algorithm: Algorithm) -> None:
    world = World() if algorithm is Algorithm.ES256 else eddsa_world()
    credential_type = world.registry.get(type_id)
    claims = credential_type.examples[0]
    credential = world.credential(type_id)
    # Every claim by name: the selectively disclosable ones, and those in the clear whose rows
    # or members have disclosures of their own (a household's members, a table's rows).
    everything = credential_type.claim_names
    for text in (
        world.present(credential, everything),
        encode_envelope(world.present(credential, everything)),
    ):
        result = world.verifier().verify(text, now=NOW)
        assert result.valid, result.detail
        assert result.credential_type == type_id
        assert result.issuer == ISSUER
        assert result.holder_bound
        for name, value in claims.items():
            assert result.claims[name] == value
        assert set(result.claims) - set(claims) <= credential_type.derived_claim_names


@pytest.mark.parametrize("type_id", TYPES)
def test_only_the_requested_claims_are_disclosed(type_id: str) -> None:
    world = World()
    credential_type = world.registry.get(type_id)
    requested = sorted(credential_type.selectively_disclosable)[:1]
    presentation = world.present(world.credential(type_id), requested)
    assert len(split_compact(presentation).disclosures) == len(requested)
    result = world.verifier().verify(presentation, now=NOW)
    assert result.valid
    # What the type issues in the clear is seen too (its hidden rows are not: no disclosure).
    shown_anyway = credential_type.always_disclosed & set(credential_type.examples[0])
    assert set(result.claims) == set(requested) | shown_anyway


def test_personal_claims_are_not_in_the_signed_payload() -> None:
    world = World()
    jwt = split_compact(world.credential()).issuer_jwt
    payload = json_loads_object(b64url_decode(jwt.split(".")[1]))
    assert "name" not in payload and "resident_registration_number" not in payload
    assert len(payload[SD_DIGESTS_KEY]) == len(
        world.registry.get("resident_register_extract").selectively_disclosable
    )
    assert payload["status"] == {"status_list": {"idx": 7, "uri": STATUS_URI}}
    assert payload["cnf"]["jwk"] == world.holder_key.public_key.to_thumbprint_jwk()


def test_salts_differ_between_two_issuances_of_the_same_claims() -> None:
    world = World()
    first, second = split_compact(world.credential()), split_compact(world.credential())
    assert not set(first.disclosures) & set(second.disclosures)


def test_derived_age_claims_follow_the_issuance_date() -> None:
    world = World()
    result = world.verifier().verify(world.present(claims=["age_over_19", "age_over_65"]), now=NOW)
    assert result.claims == {"age_over_19": True, "age_over_65": False}


def test_the_wallet_two_step_signature_equals_the_in_process_one() -> None:
    """The wallet API never holds the phone key: it hands over bytes, the phone signs them."""
    world = World()
    credential = world.credential()
    prepared = prepare_presentation(
        credential,
        ["name"],
        holder_algorithm=Algorithm.ES256,
        audience=COUNTER,
        nonce=NONCE,
        now=NOW,
    )
    on_the_phone = world.holder_key.sign(prepared.signing_input)
    presentation = prepared.finish(on_the_phone)
    assert world.verifier().verify(presentation, now=NOW).valid
    direct = build_presentation(
        credential, ["name"], holder_key=world.holder_key, audience=COUNTER, nonce=NONCE, now=NOW
    )
    assert presentation.split("~")[:-1] == direct.split("~")[:-1]


def test_decoys_are_added_when_the_type_asks() -> None:
    world = World()
    credential_type = world.registry.get("resident_register_extract")
    with_decoys = dataclasses.replace(credential_type, decoys=5)
    credential = issue_sd_jwt_vc(
        with_decoys,
        credential_type.examples[0],
        issuer_id=ISSUER,
        signing_key=world.issuer_key,
        holder_key=SigningKey.generate().public_key,
        status=StatusReference(STATUS_URI, 1),
        now=NOW,
    ).compact
    payload = json_loads_object(b64url_decode(split_compact(credential).issuer_jwt.split(".")[1]))
    assert len(payload[SD_DIGESTS_KEY]) == len(credential_type.selectively_disclosable) + 5


def test_derived_ages_count_birthdays_in_korean_time() -> None:
    """At 00:30 in Seoul (15:30 UTC the day before) a citizen born on this date is 19."""
    world = World()
    resident = world.registry.get("resident_register_extract")
    claims = {
        **resident.examples[0],
        "birth_date": "2007-11-28",
        "resident_registration_number": "071128-3000000",
    }
    seoul_half_past_midnight = 1795793400  # 2026-11-27T15:30:00Z = 2026-11-28T00:30 KST
    world.publish_status(fetched_at=seoul_half_past_midnight, issued_at=seoul_half_past_midnight)
    credential = world.credential(claims=claims, now=seoul_half_past_midnight)
    presentation = world.present(credential, ["age_over_19"], now=seoul_half_past_midnight)
    result = world.verifier().verify(presentation, now=seoul_half_past_midnight)
    assert result.valid, result.detail
    assert result.claims == {"age_over_19": True}
