"""The README's main job, `make demo`, runs end to end and says so."""

from __future__ import annotations

from pathlib import Path

from jigap_demo import run_demo


def test_demo_issues_over_oid4vci_presents_and_verifies_every_type_offline(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert run_demo(str(out)) == 0
    images = sorted(p.name for p in (out / "qr").glob("*.png"))
    assert len(images) >= 4
    assert (out / "trust" / "trust-list.jwt").exists()
    # Keys are encrypted at rest: no private key appears in clear in the key stores.
    records = list((out / "issuer").rglob("*.json"))
    assert len(records) >= 4  # the anchor and one key per agency
    for record in records:
        assert "BEGIN PRIVATE KEY" not in record.read_text()
    # The deployment's secrets file is for its operator only.
    assert (out / "issuer" / "issuer.env").stat().st_mode & 0o777 == 0o600
