"""The counter app in process: checks, frames, verdicts in the clerk's words, bad images,
the trust store's age, and what is kept (codes and times, never a claim)."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from counter_app.app import CSRF_HEADER, create_app
from counter_app.counter_log import CounterLog
from counter_app.desk import Desk
from counter_app.wording import WORDING
from credential_schemas import Registry
from tests._counter_desk import BANK, REVOKED_INDEX, DeskWorld, camera_frame
from verifier.errors import ErrorCode
from verifier.qr_image import read_qr_image, render_png

CHANGE = {CSRF_HEADER: "1"}
JPEG = {**CHANGE, "content-type": "image/jpeg"}
CLAIM_VALUES = ("홍길동", "1985-03-15", "서울특별시 종로구 세종대로 209")


@pytest.fixture
def world(tmp_path: Path) -> DeskWorld:
    return DeskWorld(tmp_path / "trust")


def make_desk(world: DeskWorld, *, with_key: bool = True, **options: Any) -> Desk:
    return Desk(
        trust_dir=world.trust_dir,
        client_id=BANK,
        signer=world.bank_key if with_key else None,
        log=CounterLog(world.trust_dir / "counter-log.jsonl"),
        registry=Registry.load(),
        **options,
    )


@pytest.fixture
def client(world: DeskWorld) -> Iterator[TestClient]:
    with TestClient(create_app(make_desk(world)), base_url="http://127.0.0.1") as client:
        yield client


def start(client: TestClient, purpose_id: str = "account_opening") -> dict[str, Any]:
    response = client.post("/api/checks", json={"purpose_id": purpose_id}, headers=CHANGE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def send_frame(client: TestClient, check_id: str, frame: bytes) -> dict[str, Any]:
    response = client.post(f"/api/checks/{check_id}/frames", content=frame, headers=JPEG)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def labelled(verdict: dict[str, Any]) -> dict[str, str]:
    return {row["label_en"]: row["value"] for row in verdict["claims"]}


# -- what the clerk may check -------------------------------------------------------------------


def test_the_counter_offers_its_registered_purposes_with_their_labels(client: TestClient) -> None:
    counter = client.get("/api/counter").json()
    assert (counter["client_id"], counter["name_en"], counter["two_way"]) == (
        BANK,
        "Jigap Bank",
        True,
    )
    opening, age = counter["purposes"]
    assert opening["id"] == "account_opening" and not opening["one_way"]
    assert opening["credentials"][0]["claims_en"] == ["Name", "Date of birth", "Address"]
    assert opening["credentials"][0]["claims_ko"] == ["성명", "생년월일", "주소"]
    assert age["one_way"] and age["window_seconds"] == 60 and age["available"]


def test_without_the_counters_key_only_the_presets_are_offered(world: DeskWorld) -> None:
    with TestClient(create_app(make_desk(world, with_key=False)), base_url="http://127.0.0.1") as c:
        opening, age = c.get("/api/counter").json()["purposes"]
        assert (opening["available"], age["available"]) == (False, True)
        refused = c.post("/api/checks", json={"purpose_id": "account_opening"}, headers=CHANGE)
        assert (refused.status_code, refused.json()["error"]) == (409, "no_signing_key")
        assert start(c, "age_check")["mode"] == "one_way"


def test_a_purpose_the_counter_did_not_register_is_refused(client: TestClient) -> None:
    refused = client.post("/api/checks", json={"purpose_id": "marketing"}, headers=CHANGE)
    assert (refused.status_code, refused.json()["error"]) == (404, "unknown_purpose")


# -- two-way: the request QR, then the answer ----------------------------------------------------


def test_the_request_qr_reads_back_as_the_signed_request(client: TestClient) -> None:
    check = start(client)
    assert check["mode"] == "two_way" and check["request_text"].startswith("JR1:")
    png = base64.b64decode(check["request_qr"].removeprefix("data:image/png;base64,"))
    assert read_qr_image(png) == check["request_text"]
    assert check["expires_at"] - time.time() == pytest.approx(300, abs=5)


def test_an_answer_in_a_camera_frame_is_valid_with_the_claims_under_their_labels(
    client: TestClient, world: DeskWorld
) -> None:
    check = start(client)
    read = send_frame(client, check["check_id"], camera_frame(world.answer(check["request_text"])))
    assert read["outcome"] == "verdict"
    verdict = read["verdict"]
    assert verdict["valid"] is True
    assert labelled(verdict) == dict(
        zip(("Name", "Date of birth", "Address"), CLAIM_VALUES, strict=True)
    )
    assert [row["label_ko"] for row in verdict["claims"]] == ["성명", "생년월일", "주소"]
    assert verdict["credential"]["name_ko"] == "주민등록표 초본"
    assert verdict["issuer"]["name_en"] == "Ministry of the Interior and Safety"
    assert verdict["status"]["value"] == "valid" and verdict["status"]["fresh"] is True
    assert set(read["timings"]) == {"decode_ms", "verify_ms"}


def test_a_check_gives_one_verdict_then_is_gone(client: TestClient, world: DeskWorld) -> None:
    check = start(client)
    frame = camera_frame(world.answer(check["request_text"]))
    assert send_frame(client, check["check_id"], frame)["verdict"]["valid"]
    again = client.post(f"/api/checks/{check['check_id']}/frames", content=frame, headers=JPEG)
    assert (again.status_code, again.json()["error"]) == (404, "unknown_check")


def test_an_answer_to_another_request_is_refused_and_the_clerk_told_to_ask_again(
    client: TestClient, world: DeskWorld
) -> None:
    first, second = start(client), start(client)
    read = send_frame(client, second["check_id"], camera_frame(world.answer(first["request_text"])))
    verdict = read["verdict"]
    assert (verdict["valid"], verdict["code"]) == (False, "nonce_mismatch")
    assert verdict["action_en"].startswith("Ask for a new QR")


@pytest.mark.parametrize(
    ("credential", "code", "reason_en"),
    [
        ({"index": REVOKED_INDEX}, "revoked", "Certificate revoked"),
        ({"stranger": True}, "unknown_issuer", "Issued by an agency this counter does not trust"),
    ],
    ids=["revoked", "untrusted-issuer"],
)
def test_a_refused_certificate_says_why_and_what_to_do_in_both_languages(
    client: TestClient, world: DeskWorld, credential: dict[str, Any], code: str, reason_en: str
) -> None:
    check = start(client)
    answer = world.answer(check["request_text"], credential=world.credential(**credential))
    verdict = send_frame(client, check["check_id"], camera_frame(answer))["verdict"]
    assert (verdict["valid"], verdict["code"], verdict["reason_en"]) == (False, code, reason_en)
    assert verdict["reason_ko"] and verdict["action_ko"] and verdict["action_en"]
    assert "claims" not in verdict


# -- one-way presets -------------------------------------------------------------------------


def test_a_preset_goes_straight_to_scanning_and_accepts_the_phones_own_answer(
    client: TestClient, world: DeskWorld
) -> None:
    check = start(client, "age_check")
    assert check["mode"] == "one_way" and "request_qr" not in check
    verdict = send_frame(client, check["check_id"], camera_frame(world.preset_answer()))["verdict"]
    assert verdict["valid"] and labelled(verdict) == {"Aged 19 or over": "예 / Yes"}


def test_a_photo_upload_is_read_like_a_frame(client: TestClient, world: DeskWorld) -> None:
    check = start(client, "age_check")
    photo = render_png(world.preset_answer())
    response = client.post(
        f"/api/checks/{check['check_id']}/photos",
        content=photo,
        headers={**CHANGE, "content-type": "image/png"},
    )
    assert response.json()["verdict"]["valid"] is True


# -- images that hold nothing to judge ---------------------------------------------------------


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "outcome"),
    [
        (lambda _: camera_frame("https://www.example.com/"), "not_a_certificate"),
        (lambda _: camera_frame("JR1:" + "A" * 40), "request_qr"),
        (lambda _: _png(Image.new("L", (1280, 720), 128)), "no_qr"),
        (lambda _: b"\xff\xd8\xff\xe0 not really a jpeg", "not_an_image"),
        (lambda _: b"GIF89a" + b"\x00" * 64, "not_an_image"),
    ],
    ids=["url-qr", "request-qr", "blank", "broken-jpeg", "broken-gif"],
)
def test_an_image_without_a_certificate_keeps_the_check_open(
    client: TestClient, world: DeskWorld, make: Any, outcome: str
) -> None:
    check = start(client, "age_check")
    assert send_frame(client, check["check_id"], make(world))["outcome"] == outcome
    verdict = send_frame(client, check["check_id"], camera_frame(world.preset_answer()))
    assert verdict["verdict"]["valid"] is True  # the check was still open


def test_a_frame_declaring_huge_dimensions_is_refused_before_decoding(
    client: TestClient,
) -> None:
    check = start(client, "age_check")
    # 20000 x 20000 declared in the header of a file of a few hundred bytes: never decoded.
    huge = _png(Image.new("1", (20_000, 20_000)))
    assert len(huge) < 200_000
    read = send_frame(client, check["check_id"], huge)
    assert read["outcome"] == "too_large"


def test_a_body_over_the_frame_limit_is_refused_without_reading_it_all(
    client: TestClient,
) -> None:
    check = start(client, "age_check")
    response = client.post(
        f"/api/checks/{check['check_id']}/frames", content=b"\xff" * (3 * 1024 * 1024), headers=JPEG
    )
    assert (response.status_code, response.json()["error"]) == (413, "too_large")


def test_a_body_that_is_not_an_image_type_is_refused(client: TestClient) -> None:
    check = start(client, "age_check")
    response = client.post(
        f"/api/checks/{check['check_id']}/frames",
        content=b"{}",
        headers={**CHANGE, "content-type": "application/json"},
    )
    assert (response.status_code, response.json()["error"]) == (415, "not_an_image")


def test_a_frame_arriving_while_another_is_read_is_dropped_at_once(
    client: TestClient, world: DeskWorld
) -> None:
    desk: Desk = client.app.state.desk  # type: ignore[attr-defined]
    check = start(client, "age_check")
    frame = camera_frame(world.preset_answer())
    with desk._reading:  # an image is being read
        started = time.perf_counter()
        busy = client.post(f"/api/checks/{check['check_id']}/frames", content=frame, headers=JPEG)
        assert time.perf_counter() - started < 2
    assert (busy.status_code, busy.json()["error"]) == (429, "busy")
    assert send_frame(client, check["check_id"], frame)["verdict"]["valid"]  # nothing queued


def test_a_photo_uploaded_while_a_frame_is_read_waits_and_is_read_next(
    client: TestClient, world: DeskWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clerk's upload is not dropped because the camera's frame was being read."""
    desk: Desk = client.app.state.desk  # type: ignore[attr-defined]
    photo = render_png(world.preset_answer())

    def upload(check_id: str) -> Any:
        return client.post(
            f"/api/checks/{check_id}/photos",
            content=photo,
            headers={**CHANGE, "content-type": "image/png"},
        )

    check = start(client, "age_check")
    desk._reading.acquire()  # a frame is being read: it is done in 0.3 s
    threading.Timer(0.3, desk._reading.release).start()
    started = time.perf_counter()
    response = upload(check["check_id"])
    assert time.perf_counter() - started >= 0.25  # it waited for the frame
    assert response.json()["verdict"]["valid"] is True

    # Its wait is bounded: an image that is never done reading turns it away, the check open.
    monkeypatch.setattr("counter_app.desk.PHOTO_WAIT_SECONDS", 0.2)
    check = start(client, "age_check")
    with desk._reading:
        busy = upload(check["check_id"])
    assert (busy.status_code, busy.json()["error"]) == (429, "busy")
    assert upload(check["check_id"]).json()["verdict"]["valid"] is True


# -- the trust store -------------------------------------------------------------------------------


def test_the_trust_state_says_when_each_list_was_synced(client: TestClient) -> None:
    state = client.get("/api/trust").json()
    assert state["usable"] and not state["stale"]
    assert state["trust_list"]["sequence"] == 1
    (held,) = state["status_lists"]
    assert held["issuer_en"] == "Ministry of the Interior and Safety" and held["age_seconds"] < 60
    assert state["can_sync"] is False  # no source given, none remembered


def test_old_status_data_is_flagged_and_a_verdict_on_it_says_sync(
    client: TestClient, world: DeskWorld
) -> None:
    world.write_status_list(fetched_at=world.now - 3 * 86_400)
    state = client.get("/api/trust").json()
    assert state["stale"] and state["oldest_age_en"] == "3 days"
    check = start(client)
    read = send_frame(client, check["check_id"], camera_frame(world.answer(check["request_text"])))
    verdict = read["verdict"]
    assert (verdict["code"], verdict["trust_problem"]) == ("status_stale", True)
    assert verdict["reason_en"] == "This counter's trust data is 3 days old: sync"
    assert verdict["reason_ko"].startswith("이 창구의 신뢰 정보가 3일 전")


def test_an_expired_trust_list_stops_the_counter_until_a_sync(
    client: TestClient, world: DeskWorld
) -> None:
    world.write_trust_list(sequence=2, expires_in=-1)
    assert client.get("/api/counter").json()["error"] == "trust_unavailable"
    assert client.get("/ready").status_code == 503
    assert client.get("/api/trust").json()["usable"] is False
    world.write_trust_list(sequence=3)
    assert client.get("/ready").status_code == 200


def test_sync_now_fetches_from_the_remembered_sources(world: DeskWorld, tmp_path: Path) -> None:
    source = tmp_path / "new-trust-list.jwt"
    world.write_trust_list(sequence=5)
    source.write_bytes((world.trust_dir / "trust-list.jwt").read_bytes())
    desk = make_desk(world, sync_sources=[str(source)])
    with TestClient(create_app(desk), base_url="http://127.0.0.1") as client:
        assert client.get("/api/trust").json()["can_sync"] is True
        synced = client.post("/api/sync", headers=CHANGE)
        assert synced.status_code == 200 and synced.json()["ok"] is True
        assert client.get("/api/trust").json()["last_sync"]["ok"] is True


def test_sync_now_without_a_source_is_refused(client: TestClient) -> None:
    refused = client.post("/api/sync", headers=CHANGE)
    assert (refused.status_code, refused.json()["error"]) == (409, "sync_unavailable")


# -- what the app keeps, and who may reach it --------------------------------------------------


def test_the_log_keeps_codes_and_times_and_no_claim_anywhere_on_disk(
    client: TestClient, world: DeskWorld
) -> None:
    for credential in (world.credential(), world.credential(index=REVOKED_INDEX)):
        check = start(client)
        answer = world.answer(check["request_text"], credential=credential)
        send_frame(client, check["check_id"], camera_frame(answer))
    entries = client.get("/api/log").json()["entries"]
    assert [(e["purpose"], e["verdict"], e["code"]) for e in entries] == [
        ("account_opening", "refused", "revoked"),
        ("account_opening", "valid", None),
    ]
    log_file = world.trust_dir / "counter-log.jsonl"
    assert log_file.stat().st_mode & 0o777 == 0o600
    assert [json.loads(line)["verdict"] for line in log_file.read_text().splitlines()] == [
        "valid",
        "refused",
    ]
    for path in world.trust_dir.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            for value in CLAIM_VALUES:
                assert value not in text, f"{value} in {path.name}"


def test_every_response_is_kept_by_no_cache_and_the_page_reaches_only_the_app(
    client: TestClient,
) -> None:
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for path in ("/", "/api/counter", "/api/trust", "/api/log"):
        assert client.get(path).headers["cache-control"] == "no-store", path


def test_a_change_without_the_counter_header_is_refused(client: TestClient) -> None:
    response = client.post("/api/checks", json={"purpose_id": "age_check"})
    assert response.status_code == 403


def test_a_request_naming_another_host_is_refused(world: DeskWorld) -> None:
    with TestClient(create_app(make_desk(world)), base_url="http://counter.evil.example") as c:
        assert c.get("/api/counter").status_code == 421


def test_every_verifier_code_has_the_clerks_wording() -> None:
    assert set(WORDING) == set(ErrorCode)
    for wording in WORDING.values():
        assert all((wording.reason_ko, wording.reason_en, wording.action_ko, wording.action_en))


def test_frames_from_many_threads_get_answers_and_no_queue_builds(client: TestClient) -> None:
    check = start(client, "age_check")
    blank = camera_frame("https://www.example.com/")  # keeps the check open
    statuses: list[int] = []

    def send() -> None:
        for _ in range(5):
            url = f"/api/checks/{check['check_id']}/frames"
            statuses.append(client.post(url, content=blank, headers=JPEG).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == 40 and set(statuses) <= {200, 429}


def test_the_counter_guide_gives_every_codes_wording_and_its_screenshots_exist() -> None:
    docs = Path(__file__).parents[1] / "docs"
    guide = (docs / "counter.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", guide)
    assert len(images) >= 5 and all((docs / image).is_file() for image in images), images
    for code, wording in WORDING.items():
        row = next((line for line in guide.splitlines() if f"`{code.value}`" in line), None)
        assert row is not None, code
        if "{" not in wording.reason_en:  # the stale data's age is "N days" in the guide
            assert wording.reason_en in row and wording.reason_ko in row, code
        assert wording.action_en in row and wording.action_ko in row, code


def test_a_table_like_claim_is_shown_one_row_per_member_under_its_labels() -> None:
    """A household copy's rows, as a verdict would carry one disclosed row: numbered labels."""
    from counter_app.verdict import claim_rows

    household = Registry.load().get("resident_register_copy")
    rows = claim_rows(
        household,
        {"household_size": 4, "household_members": [{"relation": "spouse", "name": "김영희"}]},
    )
    assert [(row["label_en"], row["value"]) for row in rows] == [
        ("Relationship to head of household 1", "spouse"),
        ("Name 1", "김영희"),
        (household.claim_label("household_size", "en"), "4"),
    ]


def test_an_amount_in_won_is_shown_grouped_with_its_unit() -> None:
    from counter_app.verdict import claim_rows

    tax = Registry.load().get("tax_payment_certificate")
    rows = claim_rows(tax, {"deferred_taxes": [{"tax_year": 2025, "amount": 1250000}]})
    assert [row["value"] for row in rows] == ["2025", "1,250,000원 (KRW)"]
