"""A lost phone: a new device joins with the recovery code, the old device's binding ends at
once, wrong codes are limited, two devices racing with the right code get one winner; and
each account reaches only its own records."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests._wallet_service import WalletWorld, wallet_world
from wallet_api.holder.client import WalletApiError, WalletClient


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[WalletWorld]:
    yield from wallet_world(database_url, tmp_path)


def _refused(call: object, *args: str) -> WalletApiError:
    with pytest.raises(WalletApiError) as refused:
        call(*args)  # type: ignore[operator]
    return refused.value


def test_a_new_device_recovers_the_account_and_the_old_one_is_cut_off(
    world: WalletWorld,
) -> None:
    old = world.phone()
    bound = old.register()
    new = world.phone()
    rebound = new.recover(bound.account_id, bound.recovery_code)
    assert rebound.account_id == bound.account_id
    assert rebound.device_jkt == new.device_kid != old.device_kid
    assert rebound.recovery_code != bound.recovery_code
    me = new.me()
    assert (me["account_id"], me["device_jkt"]) == (bound.account_id, new.device_kid)
    cut = _refused(old.me)
    assert (cut.status, cut.error) == (401, "invalid_dpop_proof")
    # The old code is spent: a third device cannot use it; the new code works.
    third = world.phone()
    spent = _refused(third.recover, bound.account_id, bound.recovery_code)
    assert (spent.status, spent.error) == (400, "recovery_refused")
    assert third.recover(bound.account_id, rebound.recovery_code).device_jkt == third.device_kid


def test_codes_are_read_without_separators_or_case(world: WalletWorld) -> None:
    bound = world.phone().register()
    sloppy = bound.recovery_code.replace("-", " ").lower()
    assert world.phone().recover(bound.account_id, sloppy).account_id == bound.account_id


def test_wrong_codes_lock_the_recovery_after_five_tries(world: WalletWorld) -> None:
    old = world.phone()
    bound = old.register()
    thief = world.phone()
    for _ in range(5):
        wrong = _refused(thief.recover, bound.account_id, "0000-0000-0000-0000-0000")
        assert (wrong.status, wrong.error) == (400, "recovery_refused")
    locked = _refused(thief.recover, bound.account_id, bound.recovery_code)
    assert (locked.status, locked.error) == (403, "recovery_locked")
    assert "register a new account" in locked.description
    with world.deployment.engine.connect() as connection:
        failures = connection.execute(text("SELECT recovery_failures FROM wallet_accounts"))
        assert failures.scalar() == 5
    # The phone that holds the key still works: locking stops recovery, not the account.
    assert old.me()["device_jkt"] == old.device_kid


def test_another_accounts_id_is_answered_as_one_that_does_not_exist(world: WalletWorld) -> None:
    alice, bob = world.phone(), world.phone()
    alice_bound, bob_bound = alice.register(), bob.register()
    newcomer = world.phone()
    # Bob's code with Alice's id, and Bob's code with an id nobody has: the same answer.
    with_alice = _refused(newcomer.recover, alice_bound.account_id, bob_bound.recovery_code)
    nobody = _refused(newcomer.recover, "0" * 32, bob_bound.recovery_code)
    assert (with_alice.status, with_alice.error, with_alice.description) == (
        nobody.status,
        nobody.error,
        nobody.description,
    )
    # Each device reads its own account, and only through its own key.
    assert alice.me()["account_id"] == alice_bound.account_id
    assert bob.me()["account_id"] == bob_bound.account_id


def test_a_key_bound_to_an_account_cannot_take_another(world: WalletWorld) -> None:
    alice, bob = world.phone(), world.phone()
    alice_bound = alice.register()
    bob.register()
    taken = _refused(bob.recover, alice_bound.account_id, alice_bound.recovery_code)
    assert (taken.status, taken.error) == (409, "key_in_use")
    assert alice.me()["device_jkt"] == alice.device_kid  # nothing spent, nothing moved


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "invalid_request"),
        (b'{"account_id": 7, "recovery_code": "x"}', "application/json", 400, "invalid_request"),
        (b'{"account_id": "a"}', "application/json", 400, "invalid_request"),
        (b'{"account_id": "a", "recovery_code": "b", "x": 1}', "application/json", 400,
         "invalid_request"),
        (b'["a", "b"]', "application/json", 400, "invalid_request"),
        (b'{"account_id": "' + b"a" * 65 + b'", "recovery_code": "b"}', "application/json", 400,
         "invalid_request"),
        (b'{"account_id": "a\\u0000", "recovery_code": "b"}', "application/json", 400,
         "invalid_request"),
        (b'{"account_id": "' + b"a" * 70_000 + b'"}', "application/json", 413, "too_large"),
    ],
)  # fmt: skip
def test_bad_recovery_bodies_get_a_clear_error(
    world: WalletWorld, body: bytes, content_type: str, status: int, error: str
) -> None:
    phone = world.phone()
    phone.device_kid = phone.keys.create_key().kid
    phone.send("GET", "/accounts/me")  # fetches a nonce
    proof = phone.proof("POST", "/accounts/recover")
    answer = world.http.post(
        "/accounts/recover",
        content=body,
        headers={"DPoP": proof, "Content-Type": content_type},
    )
    assert (answer.status_code, answer.json()["error"]) == (status, error), answer.text


def test_two_new_devices_racing_with_the_right_code_one_wins(world: WalletWorld) -> None:
    bound = world.phone().register()
    racers: list[WalletClient] = [world.phone() for _ in range(6)]
    for racer in racers:
        racer.device_kid = racer.keys.create_key().kid
        racer.send("GET", "/accounts/me")  # each holds a nonce: the race is the recovery
    barrier = threading.Barrier(len(racers))
    outcomes: list[str] = []

    def race(racer: WalletClient) -> None:
        barrier.wait()
        try:
            racer.recover(bound.account_id, bound.recovery_code)
            outcomes.append("won")
        except WalletApiError as exc:
            outcomes.append(exc.error)

    threads = [threading.Thread(target=race, args=(racer,)) for racer in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["recovery_refused"] * 5 + ["won"], outcomes
    winners = [racer for racer in racers if racer.send("GET", "/accounts/me").status_code == 200]
    assert len(winners) == 1
    with world.deployment.engine.connect() as connection:
        failures = connection.execute(text("SELECT recovery_failures FROM wallet_accounts"))
        assert failures.scalar() == 0  # losing the race spent no attempt of the new code


def _race(calls: list[object]) -> list[str]:
    """Run ``calls`` at once (threads released together); each one's outcome: "won" or the
    error code."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: object) -> None:
        barrier.wait()
        try:
            call()  # type: ignore[operator]
            outcomes.append("won")
        except WalletApiError as exc:
            outcomes.append(exc.error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_one_key_registering_twice_at_once_gets_one_account(world: WalletWorld) -> None:
    phone = world.phone()
    phone.device_kid = phone.keys.create_key().kid
    phone.send("GET", "/accounts/me")  # a nonce
    outcomes = _race([lambda: phone.call("POST", "/accounts") for _ in range(4)])
    assert outcomes == ["account_exists"] * 3 + ["won"]


def test_two_accounts_recovered_onto_one_key_at_once_one_wins(world: WalletWorld) -> None:
    kits = [world.phone().register() for _ in range(3)]
    thief = world.phone()
    thief.device_kid = thief.keys.create_key().kid
    thief.send("GET", "/accounts/me")
    outcomes = _race(
        [lambda kit=kit: thief.recover(kit.account_id, kit.recovery_code) for kit in kits]
    )
    assert outcomes == ["key_in_use"] * 2 + ["won"]
