"""The integrator's guide stays complete as the code grows."""

from __future__ import annotations

from pathlib import Path

from verifier import ErrorCode, Policy

GUIDE = (Path(__file__).parents[1] / "docs" / "verifier.md").read_text()


def test_every_error_code_is_explained_to_integrators() -> None:
    for code in ErrorCode:
        assert f"| `{code.value}` |" in GUIDE, code


def test_every_policy_field_is_explained_to_integrators() -> None:
    for name in Policy.__dataclass_fields__:
        assert f"| `{name}` |" in GUIDE, name
