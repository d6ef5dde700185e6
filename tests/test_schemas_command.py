"""`jigap schemas`: what an operator adding a certificate type runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from credential_schemas import BUNDLED_TYPES_DIR
from jigap_cli import app

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
