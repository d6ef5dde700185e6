"""Time checks are exact at their boundaries (RFC 7519 §4.1.4: valid only *before* `exp`)."""

from __future__ import annotations

import pytest

from tests._world import NOW, World
from verifier import ErrorCode

DAY = 86400


def _credential_expiring_at(world: World, exp: int) -> str:
    return world.present(world.forged_credential(payload_changes={"exp": exp}), ("name",))


@pytest.mark.parametrize("skew", [0, 30])
def test_expiry_boundary(skew: int) -> None:
    world = World()
    verifier = world.verifier(clock_skew=skew)
    exp = NOW - skew  # the last second of validity is exp + skew - 1
    assert verifier.verify(_credential_expiring_at(world, exp + 1), now=NOW).valid
    assert verifier.verify(_credential_expiring_at(world, exp), now=NOW).error == ErrorCode.EXPIRED


@pytest.mark.parametrize("skew", [0, 30])
def test_issued_at_boundary(skew: int) -> None:
    world = World()
    verifier = world.verifier(clock_skew=skew)
    at_limit = world.forged_credential(payload_changes={"iat": NOW + skew})
    beyond = world.forged_credential(payload_changes={"iat": NOW + skew + 1})
    assert verifier.verify(world.present(at_limit, ("name",)), now=NOW).valid
    result = verifier.verify(world.present(beyond, ("name",)), now=NOW)
    assert result.error == ErrorCode.NOT_YET_VALID


def test_not_before_boundary() -> None:
    world = World()
    verifier = world.verifier(clock_skew=0)
    ok = world.forged_credential(payload_changes={"nbf": NOW})
    early = world.forged_credential(payload_changes={"nbf": NOW + 1})
    assert verifier.verify(world.present(ok, ("name",)), now=NOW).valid
    assert (
        verifier.verify(world.present(early, ("name",)), now=NOW).error == ErrorCode.NOT_YET_VALID
    )


def test_presentation_age_boundary() -> None:
    world = World()
    verifier = world.verifier(max_presentation_age=300, clock_skew=0)
    credential = world.credential()
    assert verifier.verify(world.present(credential, now=NOW - 300), now=NOW).valid
    result = verifier.verify(world.present(credential, now=NOW - 301), now=NOW)
    assert result.error == ErrorCode.PRESENTATION_TOO_OLD


def test_kb_jwt_from_the_future_boundary() -> None:
    world = World()
    verifier = world.verifier(clock_skew=10)
    credential = world.credential()
    assert verifier.verify(world.present(credential, now=NOW + 10), now=NOW).valid
    result = verifier.verify(world.present(credential, now=NOW + 11), now=NOW)
    assert result.error == ErrorCode.KEY_BINDING_INVALID


def test_status_age_boundary() -> None:
    world = World()
    world.publish_status(fetched_at=NOW - DAY, issued_at=NOW - DAY)
    verifier = world.verifier(max_status_age=DAY)
    presentation = world.present()
    assert verifier.verify(presentation, now=NOW).valid
    assert verifier.verify(presentation, now=NOW + 1).error == ErrorCode.STATUS_STALE


def test_result_says_when_the_status_was_known() -> None:
    world = World()
    world.publish_status(fetched_at=NOW - 3600, issued_at=NOW - 3600)
    result = world.verifier().verify(world.present(), now=NOW)
    assert result.valid
    assert result.status_known_at == NOW - 3600
