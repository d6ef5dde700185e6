"""`jigap verify request` (a counter shows a signed request) and `jigap verify check --request`
/ `--preset` (it judges the answer), offline, on a trust store and a key store on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from jigap_cli import app
from keys.cli import CliSettings
from keys.encoding import json_dumps
from keys.store import PASSPHRASE_ENV, FileKeyStore
from tests._counter import (
    AGE_CHECK_PURPOSE,
    ANCHOR,
    KB,
    KB_KEY,
    NOW,
    OPENING_PURPOSE,
    REGISTRY,
    WOORI,
    Counter,
    party_entry,
    payload_of,
    status_list_token,
    trust_list_token,
)
from verifier import TrustStore, encode_envelope, read_request
from verifier.qr_image import read_qr_image, render_png
from verifier.trust_store import STATUS_LISTS_FILE

PASSPHRASE = "counter passphrase, long enough"
runner = CliRunner()


class Desk:
    """A counter's machine: its key store, its synced trust store, and the phone at the desk."""

    def __init__(self, root: Path) -> None:
        self.keys = root / "keys"
        self.kid = FileKeyStore(self.keys, PASSPHRASE).generate().kid
        public = FileKeyStore(self.keys, PASSPHRASE).signer(self.kid).public_key
        parties = [
            party_entry(WOORI, public, [OPENING_PURPOSE, AGE_CHECK_PURPOSE]),
            party_entry(KB, KB_KEY.public_key, [OPENING_PURPOSE]),
        ]
        self.trust = root / "trust"
        self.trust.mkdir()
        (self.trust / "anchor.jwk").write_bytes(json_dumps(ANCHOR.public_key.to_jwk()))
        (self.trust / "trust-list.jwt").write_text(trust_list_token(parties))
        store = TrustStore.load(self.trust, now=NOW)
        store.add_status_list(
            "https://rr.issuer.jigap.example/status/1", status_list_token(), fetched_at=NOW
        )
        store.save_status_lists(self.trust)
        assert (self.trust / STATUS_LISTS_FILE).exists()
        self.phone = Counter(TrustStore.load(self.trust, now=NOW))

    def run(self, *args: str, at: int = NOW, passphrase: str = PASSPHRASE) -> Result:
        return runner.invoke(
            app,
            ["verify", *args],
            obj=CliSettings(clock=lambda: at),
            env={PASSPHRASE_ENV: passphrase},
        )

    def request(self, *extra: str, purpose: str = "account_opening", at: int = NOW) -> Result:
        return self.run(
            "request",
            "--trust", str(self.trust),
            "--key-store", str(self.keys),
            "--kid", self.kid,
            "--client-id", WOORI,
            "--purpose", purpose,
            *extra,
            at=at,
        )  # fmt: skip

    def check(self, answer: str, *options: str, at: int = NOW) -> Result:
        return self.run("check", "--trust", str(self.trust), "--json", *options, answer, at=at)


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path)


def test_a_request_shown_answered_and_checked_against_it(desk: Desk, tmp_path: Path) -> None:
    saved, image = tmp_path / "request.jwt", tmp_path / "request.png"
    shown = desk.request("--save", str(saved), "--out", str(image), "--lifetime", "120")
    assert shown.exit_code == 0, shown.output
    envelope = shown.stdout.strip()
    assert envelope.startswith("JR") and "\n" not in envelope
    assert read_qr_image(image) == envelope  # what the phone scans is what was printed
    request = read_request(envelope, desk.phone.store, now=NOW + 1)
    assert read_request(saved.read_text(), desk.phone.store, now=NOW + 1) == request
    assert request.expires_at == NOW + 120 and request.purpose.id == "account_opening"

    answer = desk.phone.answer(audience=WOORI, nonce=request.nonce, now=NOW + 30)
    answer_image = tmp_path / "answer.png"
    answer_image.write_bytes(render_png(encode_envelope(answer)))
    for shown_answer in (answer, encode_envelope(answer), str(answer_image)):
        checked = desk.check(shown_answer, "--request", str(saved), at=NOW + 40)
        assert checked.exit_code == 0, checked.output
        verdict = json.loads(checked.stdout)
        assert verdict["valid"] is True
        assert sorted(verdict["claims"]) == ["address", "birth_date", "name"]


def test_answers_that_do_not_fit_the_request_exit_1_with_their_code(
    desk: Desk, tmp_path: Path
) -> None:
    saved = tmp_path / "request.jwt"
    assert desk.request("--save", str(saved)).exit_code == 0
    request = read_request(saved.read_text(), desk.phone.store, now=NOW)
    phone = desk.phone
    answers = {
        "nonce_mismatch": phone.answer(audience=WOORI, nonce="another-request-nonce-000"),
        "audience_mismatch": phone.answer(audience=KB, nonce=request.nonce),
        "not_requested": phone.answer(
            audience=WOORI,
            nonce=request.nonce,
            claims=("name", "birth_date", "address", "resident_registration_number"),
        ),
        "missing_required_claim": phone.answer(
            audience=WOORI, nonce=request.nonce, claims=("name",)
        ),
    }
    for code, answer in answers.items():
        checked = desk.check(answer, "--request", str(saved), at=NOW + 5)
        assert checked.exit_code == 1, (code, checked.output)
        assert json.loads(checked.stdout)["error"] == code
    late = desk.check(answers["nonce_mismatch"], "--request", str(saved), at=NOW + 400)
    assert late.exit_code == 1
    assert json.loads(late.stdout)["error"] == "request_expired"


def test_a_one_way_preset_within_and_beyond_its_window(desk: Desk) -> None:
    answer = desk.phone.answer(audience=WOORI, nonce="phone-chosen", claims=("age_over_19",))
    within = desk.check(answer, "--preset", f"{WOORI}:age_check", at=NOW + 60)
    assert within.exit_code == 0, within.output
    assert json.loads(within.stdout)["claims"] == {"age_over_19": True}
    beyond = desk.check(answer, "--preset", f"{WOORI}:age_check", at=NOW + 61)
    assert beyond.exit_code == 1
    assert json.loads(beyond.stdout)["error"] == "presentation_too_old"
    not_a_preset = desk.check(answer, "--preset", f"{WOORI}:account_opening")
    assert not_a_preset.exit_code == 2
    assert "purpose_not_registered" in not_a_preset.stderr


@pytest.mark.parametrize(
    ("arguments", "exit_code", "said"),
    [
        ({"purpose": "marketing"}, 1, "refused: purpose_not_registered"),
        ({"passphrase": "not the passphrase at all"}, 1, "refused: wrong_passphrase"),
        ({"extra": ("--out", "request.jpg")}, 2, "png or .svg"),
        ({"extra": ("--lifetime", "601")}, 2, "lifetime"),
    ],
)
def test_request_refusals_and_usage_errors(
    desk: Desk, arguments: dict[str, object], exit_code: int, said: str
) -> None:
    if "passphrase" in arguments:
        result = desk.run(
            "request", "--trust", str(desk.trust), "--key-store", str(desk.keys),
            "--kid", desk.kid, "--client-id", WOORI, "--purpose", "account_opening",
            passphrase=str(arguments["passphrase"]),
        )  # fmt: skip
    else:
        extra = arguments.get("extra", ())
        assert isinstance(extra, tuple)
        result = desk.request(*extra, purpose=str(arguments.get("purpose", "account_opening")))
    assert result.exit_code == exit_code, result.output
    assert said in result.output
    assert not result.stdout.startswith("JR")


def test_check_usage_errors_for_a_request(desk: Desk, tmp_path: Path) -> None:
    saved = tmp_path / "request.jwt"
    assert desk.request("--save", str(saved)).exit_code == 0
    both = desk.check("x~", "--request", str(saved), "--nonce", "abc")
    assert both.exit_code == 2 and "come from the request" in both.stderr
    two = desk.check("x~", "--request", str(saved), "--preset", f"{WOORI}:age_check")
    assert two.exit_code == 2
    missing = desk.check("x~", "--request", str(tmp_path / "none.jwt"))
    assert missing.exit_code == 2 and "none.jwt" in missing.stderr
    saved.write_text(saved.read_text().replace(".", "X", 1))
    damaged = desk.check("x~", "--request", str(saved))
    assert damaged.exit_code == 2 and "--request" in damaged.stderr


def test_the_saved_request_is_the_signed_token(desk: Desk, tmp_path: Path) -> None:
    saved = tmp_path / "request.jwt"
    assert desk.request("--save", str(saved)).exit_code == 0
    payload = payload_of(saved.read_text().strip())
    assert payload["client_id"] == WOORI
    query = payload["dcql_query"]["credentials"][0]
    assert query["id"] == REGISTRY.get("resident_register_extract").id
