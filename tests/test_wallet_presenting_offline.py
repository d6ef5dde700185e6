"""A phone with no network at the counter still answers: from copies it downloaded over the
authenticated channel (My data), with the trust store it synced, using the same request checks,
selection and KB-JWT code as the service; back online it reports the answer for the history,
and the copy it used is never offered again."""

from __future__ import annotations

import pytest

from tests import _presenting, _two_services
from tests._presenting import BANK, Counters, refusal
from verifier import TrustStore
from verifier.envelope import decode_envelope
from verifier.sd_jwt import split_compact
from wallet_api.holder.client import OfflineRefusedError

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures
counters = _presenting.counters  # fixture


def _phones_store(counters: Counters) -> TrustStore:
    """The trust store the phone synced while online, read from its directory."""
    return TrustStore.load(counters.pair.wallet.settings.trust_dir, now=counters.now())


def test_an_answer_built_offline_is_accepted_and_reported_later(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    held = phone.export()["credentials"]  # downloaded while online
    store = _phones_store(counters)
    request = counters.request()

    offline = phone.answer_offline(request.envelope, held, store)  # no call to the service
    assert offline.disclosed == (("name",), ("birth_date",), ("address",))
    verdict = counters.verifier().verify_answer(offline.envelope, request, counters.now())
    assert verdict.valid, verdict.error
    assert phone.presentations() == []  # nothing known to the service yet

    [entry] = phone.report_offline()
    assert phone.offline_reports == []
    assert entry["state"] == "offline" and entry["relying_party"]["id"] == BANK
    assert [row["path"] for row in entry["disclosed"]] == [["name"], ["birth_date"], ["address"]]
    assert entry["disclosed"][0]["label"]["en"] == "Name"
    assert [e["id"] for e in phone.presentations()] == [entry["id"]]
    [listed] = phone.credentials()
    assert listed["unused_copies"] == 1

    # The service answers the next request with the other copy, never the one used offline.
    online = phone.answer(counters.request().envelope)
    first = split_compact(decode_envelope(offline.envelope))
    second = split_compact(decode_envelope(online["envelope"]))
    assert first.issuer_jwt != second.issuer_jwt
    assert refusal(lambda: phone.present(counters.request().envelope))[:2] == (
        409,
        "no_unused_copy",
    )


def test_offline_answers_never_reuse_a_copy_and_refuse_as_the_service_does(
    counters: Counters,
) -> None:
    phone = counters.holder(copies=2)
    held = phone.export()["credentials"]
    store = _phones_store(counters)
    one = phone.answer_offline(counters.request().envelope, held, store)
    two = phone.answer_offline(counters.request().envelope, held, store)
    assert one.report["copy_id"] != two.report["copy_id"]
    with pytest.raises(OfflineRefusedError) as spent:
        phone.answer_offline(counters.request().envelope, held, store)
    assert spent.value.code == "no_unused_copy"

    over_asking = counters.forged(
        dcql_query={
            "credentials": [
                {
                    "id": "x",
                    "format": "dc+sd-jwt",
                    "meta": {"vct_values": ["urn:jigap:resident-register-extract:1"]},
                    "claims": [{"path": ["resident_registration_number"]}],
                }
            ]
        }
    )
    with pytest.raises(OfflineRefusedError) as refused:
        phone.answer_offline(over_asking, held, store)
    assert refused.value.code == "untrusted_request"
    assert refused.value.detail.startswith("over_asking")
    health = counters.request(purpose_id="health_check")
    with pytest.raises(OfflineRefusedError) as missing:
        phone.answer_offline(health.envelope, held, store)
    assert missing.value.code == "no_matching_credential"
    assert len(phone.report_offline()) == 2


def test_an_offline_report_names_the_accounts_own_copy(counters: Counters) -> None:
    phone = counters.holder(copies=1)
    offline = phone.answer_offline(
        counters.request().envelope, phone.export()["credentials"], _phones_store(counters)
    )
    other = counters.pair.registered_phone()
    status, error, _ = refusal(
        lambda: other.call("POST", "/presentations/offline", json=offline.report)
    )
    assert (status, error) == (404, "not_found")
    for bad in (
        {**offline.report, "request_hash": "not-a-hash" + "0" * 54},
        {**offline.report, "answered_at": counters.now() + 86_400},
        {**offline.report, "disclosed": [[0, "name"]]},
        {**offline.report, "purpose": {"ko": "x"}},
    ):
        response = phone.send("POST", "/presentations/offline", json=bad)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), bad
    assert phone.presentations() == []
    assert len(phone.report_offline()) == 1
