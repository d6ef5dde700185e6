"""`jigap schemas`: what an operator adding a certificate type runs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from credential_schemas import BUNDLED_TYPES_DIR
from jigap_cli import app
from jigap_schemas_check import Outcome, check_directory

runner = CliRunner(env={"COLUMNS": "200"})  # rich would truncate a narrow table


def test_list_shows_every_bundled_type() -> None:
    result = runner.invoke(app, ["schemas", "list"])
    assert result.exit_code == 0
    for type_id in ("resident_register_extract", "civil_servant_id"):
        assert type_id in result.stdout


def test_show_lists_claims_with_their_disclosure() -> None:
    result = runner.invoke(app, ["schemas", "show", "resident_register_extract"])
    assert result.exit_code == 0
    assert "resident_registration_number" in result.stdout
    assert "derived" in result.stdout
    assert runner.invoke(app, ["schemas", "show", "no_such_type"]).exit_code == 1


def test_check_accepts_a_good_directory_and_names_a_broken_file(tmp_path: Path) -> None:
    types = tmp_path / "types"
    shutil.copytree(BUNDLED_TYPES_DIR, types)
    assert runner.invoke(app, ["schemas", "check", str(types)]).exit_code == 0
    broken = types / "resident_register_extract" / "v1.json"
    broken.write_text(broken.read_text().replace('"validity_days"', '"validity_dayz"'))
    result = runner.invoke(app, ["schemas", "check", str(types)])
    assert result.exit_code == 1
    assert "v1.json" in result.output


# --- the onboarding lint: each check named, each able to fail -------------------------------

HOUSEHOLD = "resident_register_copy"
INCOME = "income_amount_certificate"


def one_type(tmp_path: Path, type_id: str = HOUSEHOLD) -> Path:
    """A types directory holding one bundled type (the lint issues every example: keep it small)."""
    types = tmp_path / "types"
    shutil.copytree(BUNDLED_TYPES_DIR / type_id, types / type_id)
    return types


def mutate_file(path: Path, change: Callable[[dict[str, Any]], object]) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def outcomes(types: Path) -> dict[str, list[tuple[Outcome, str]]]:
    found: dict[str, list[tuple[Outcome, str]]] = {}
    for finding in check_directory(types):
        found.setdefault(finding.check, []).append((finding.outcome, finding.detail))
    return found


def members(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["claims_schema"]["properties"]["household_members"]  # type: ignore[no-any-return]


BROKEN: list[Any] = [
    pytest.param(lambda d: d.update({"id": "household"}), "naming", "differs", id="naming"),
    pytest.param(lambda d: d["display"].pop("en"), "meta-schema", "'en'", id="display-english"),
    pytest.param(
        lambda d: d["claims_schema"]["required"].append("nickname"),
        "schema",
        "undeclared claim 'nickname'",
        id="schema",
    ),
    pytest.param(
        lambda d: d["derived"][0].update({"source": "address"}),
        "derived claims",
        "not an array",
        id="derived",
    ),
    pytest.param(
        lambda d: d.update({"date_order": [{"earlier": "name", "later": "household_formed_on"}]}),
        "date order",
        "'name' is not a top-level date claim",
        id="date-order",
    ),
    pytest.param(
        lambda d: d["claim_labels"].pop("household_members[].relation"),
        "display and labels",
        "no label for household_members[].relation",
        id="label-missing",
    ),
    pytest.param(
        lambda d: d["nested_disclosures"].append("household_members[].age"),
        "disclosure",
        "household_members[].age",
        id="nested-unknown",
    ),
    pytest.param(
        lambda d: members(d).update({"maxItems": 40}),
        "disclosure",
        "over the 64",
        id="too-many-disclosures",
    ),
    pytest.param(
        lambda d: d["typical_presentation"].append(["household_members", None, "age"]),
        "typical presentation",
        "no claim of the type",
        id="typical",
    ),
    pytest.param(
        lambda d: d["examples"]["invalid"][0].update({"code": "invalid_rrn"}),
        "examples",
        "examples.invalid[0] fails with missing_required_claim, not invalid_rrn",
        id="example-wrong-code",
    ),
    pytest.param(
        lambda d: d["examples"]["valid"][0].update({"household_members": []}),
        "examples",
        "examples.valid[0] is refused: schema_violation",
        id="valid-example-refused",
    ),
    pytest.param(
        lambda d: d["typical_presentation"].append(["household_members", None, "relation"]),
        "qr budget",
        "over 25-M",
        id="qr-budget",
    ),
]


@pytest.mark.parametrize(("change", "check", "fragment"), BROKEN)
def test_each_check_fails_on_a_file_broken_for_it(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], check: str, fragment: str
) -> None:
    types = one_type(tmp_path)
    mutate_file(types / HOUSEHOLD / "v1.json", change)
    found = outcomes(types)
    failed = {name for name, results in found.items() if Outcome.FAILED in dict(results)}
    assert failed == {check}, found
    assert any(fragment in detail for outcome, detail in found[check]), found[check]


def test_the_bundled_file_passes_every_check(tmp_path: Path) -> None:
    found = outcomes(one_type(tmp_path))
    assert {outcome for results in found.values() for outcome, _ in results} == {Outcome.PASSED}
    [(_, qr)] = found["qr budget"]
    assert qr.startswith(("version 2", "version 1"))  # within 25: e.g. "version 25 (1362 ..."


def test_every_broken_example_is_its_own_line_and_the_rest_is_skipped(tmp_path: Path) -> None:
    types = one_type(tmp_path, INCOME)

    def break_two(doc: dict[str, Any]) -> None:
        doc["examples"]["invalid"][0]["code"] = "invalid_rrn"
        doc["examples"]["invalid"][1]["claims"] = doc["examples"]["valid"][0]

    mutate_file(types / INCOME / "v1.json", break_two)
    found = outcomes(types)
    assert [outcome for outcome, _ in found["examples"]] == [Outcome.FAILED, Outcome.FAILED]
    assert found["qr budget"] == [(Outcome.SKIPPED, "needs examples")]


def test_without_a_typical_presentation_too_large_is_a_warning(tmp_path: Path) -> None:
    """Published files that predate `typical_presentation` (e.g. the extract): every selective
    claim over the budget is a warning; the credential with nothing shown must still fit."""
    types = one_type(tmp_path, "resident_register_extract")
    [(outcome, detail)] = outcomes(types)["qr budget"]
    assert outcome is Outcome.WARNED
    assert "declare typical_presentation" in detail
    assert runner.invoke(app, ["schemas", "check", str(types)]).exit_code == 0


def test_bad_json_layout_and_duplicates_fail_and_the_command_exits_1(tmp_path: Path) -> None:
    types = one_type(tmp_path)
    (types / HOUSEHOLD / "v1.json").write_text("{", encoding="utf-8")
    (types / HOUSEHOLD / "notes.txt").write_text("", encoding="utf-8")
    result = runner.invoke(app, ["schemas", "check", str(types)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.split()[:2] == ["fail", "file:"] for line in lines), result.stdout
    assert any(line.split()[:2] == ["fail", "layout:"] for line in lines), result.stdout
    assert "2 failed" in result.stdout

    twin = one_type(tmp_path / "twin")
    shutil.copytree(twin / HOUSEHOLD, twin / "resident_register_copy_two")
    mutate_file(
        twin / "resident_register_copy_two" / "v1.json",
        lambda d: d.update(id="resident_register_copy_two"),
    )
    found = outcomes(twin)
    assert found["registry"][0][0] is Outcome.FAILED
    assert "also declared by" in found["registry"][0][1]
