"""The counter app in real Chromium with a fake camera, as a clerk uses it.

The app runs under uvicorn on loopback over a trust store on disk (``tests/_counter_desk.py``).
The phone is played by the test: it reads the request QR off the page's own image, answers with
the wallet's code, and its screen becomes the camera's video (``tests/_y4m.py``). Chromium
opens the video when a capture starts, and the page stops the camera at each verdict, so each
check sees the answer written for it. Screenshots of each state go to
``test-output/test_counter_browser/<test>/``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from counter_app.app import create_app
from counter_app.counter_log import CounterLog
from counter_app.desk import Desk
from credential_schemas import Registry
from tests._browser import CameraBrowser, browser_output, camera_browser
from tests._counter_desk import BANK, REVOKED_INDEX, DeskWorld
from tests._y4m import phone_frame, write_y4m
from verifier.qr_image import read_qr_image, render_png

__all__ = ["browser_output"]  # the fixture, used by name

WAIT_MS = 30_000  # an upper bound on a loaded 2-core machine
CLAIM_VALUES = ("홍길동", "1985-03-15", "서울특별시 종로구 세종대로 209")


@pytest.fixture
def world(tmp_path: Path) -> DeskWorld:
    return DeskWorld(tmp_path / "trust")


@pytest.fixture
def sources(world: DeskWorld, tmp_path: Path) -> list[str]:
    """Where "Sync now" fetches from: the trust list and a fresh status list, as files."""
    trust_list, status_list = tmp_path / "trust-list.jwt", tmp_path / "status-1.jwt"
    trust_list.write_bytes((world.trust_dir / "trust-list.jwt").read_bytes())
    status_list.write_text(world.status_list_token(issued_at=int(time.time())))
    return [str(trust_list), str(status_list)]


@pytest.fixture
def app_url(world: DeskWorld, sources: list[str]) -> Iterator[str]:
    import uvicorn

    desk = Desk(
        trust_dir=world.trust_dir,
        client_id=BANK,
        signer=world.bank_key,
        log=CounterLog(world.trust_dir / "counter-log.jsonl"),
        registry=Registry.load(),
        sync_sources=sources,
    )
    listening = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(desk), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()


@pytest.fixture
def browser(tmp_path: Path, browser_output: Path) -> Iterator[CameraBrowser]:
    video = tmp_path / "camera.y4m"
    write_y4m(video, [phone_frame(render_png("NOTHING YET"))])
    with camera_browser(video, profile_dir=tmp_path / "profile", output_dir=browser_output) as b:
        b.page.set_viewport_size({"width": 1366, "height": 768})  # a counter laptop's screen
        yield b


def show_phone(browser: CameraBrowser, answer: str) -> None:
    """The phone's screen, as the camera will see it at its next start."""
    write_y4m(browser.video, [phone_frame(render_png(answer))], repeat=3)


def request_on_screen(page: Page) -> str:
    """What the phone reads off the counter's screen: the request QR, decoded."""
    image = page.locator("#request-qr")
    expect(image).to_be_visible(timeout=WAIT_MS)
    return read_qr_image(image.screenshot())


def verdict(page: Page) -> str:
    panel = page.locator("#verdict")
    expect(panel).to_be_visible(timeout=WAIT_MS)
    return panel.inner_text()


def test_the_clerk_checks_a_valid_answer_then_a_revoked_one_then_an_untrusted_one(
    browser: CameraBrowser, world: DeskWorld, app_url: str
) -> None:
    page = browser.open(app_url)
    expect(page.locator("#purpose-list button")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("#trust-summary")).to_contain_text("Trust data synced")
    browser.screenshot("idle")

    # Account opening: the request on screen, the phone answers, Enter scans it.
    page.keyboard.press("1")
    request = request_on_screen(page)
    assert request.startswith("JR1:")
    expect(page.locator("#request-asks")).to_contain_text("Name, Date of birth, Address")
    browser.screenshot("request")
    show_phone(browser, world.answer(request))
    page.keyboard.press("Enter")
    shown = verdict(page)
    assert "VALID" in shown and "유효" in shown
    for value in CLAIM_VALUES:
        assert value in shown
    assert "성명 · Name" in shown and "Ministry of the Interior and Safety" in shown
    assert "Status checked" in shown
    expect(page.locator("#verdict")).to_be_focused()
    browser.screenshot("valid")
    timings = page.evaluate("window.jigapCounterTimings")
    assert len(timings) == 1 and timings[0]["round_trip_ms"] > 0

    # Cleared: nothing of the citizen stays on the page or in the browser's storage.
    page.keyboard.press("Escape")
    expect(page.locator("#idle")).to_be_visible()
    html = page.content()
    assert not any(value in html for value in CLAIM_VALUES)
    stored = page.evaluate(
        """async () => ({
            local: localStorage.length,
            session: sessionStorage.length,
            cookies: document.cookie,
            databases: (await indexedDB.databases()).length,
            caches: (await caches.keys()).length,
        })"""
    )
    assert stored == {"local": 0, "session": 0, "cookies": "", "databases": 0, "caches": 0}
    browser.screenshot("cleared")

    # The next citizen's extract was revoked.
    page.keyboard.press("1")
    revoked = world.credential(index=REVOKED_INDEX)
    show_phone(browser, world.answer(request_on_screen(page), credential=revoked))
    page.keyboard.press("Enter")
    shown = verdict(page)
    assert "REFUSED" in shown and "Certificate revoked" in shown and "폐기된 증명서" in shown
    assert "The citizen needs a new certificate from the agency" in shown
    assert not any(value in shown for value in CLAIM_VALUES)
    browser.screenshot("revoked")

    # Next customer (N): the same purpose, a new request; an agency nobody registered.
    page.keyboard.press("n")
    stranger = world.credential(stranger=True)
    show_phone(browser, world.answer(request_on_screen(page), credential=stranger))
    page.keyboard.press("Enter")
    shown = verdict(page)
    assert "REFUSED" in shown and "Issued by an agency this counter does not trust" in shown
    browser.screenshot("untrusted")

    log = page.locator("#log-list li")
    expect(log).to_have_count(3)
    assert "revoked" in (log.nth(1).text_content() or "")  # inside the closed "Counter log"
    browser.assert_stays_on_machine()
    assert any(r.url.endswith("/frames") for r in browser.requests)


def test_a_preset_scans_at_once_and_keeps_scanning_past_other_codes(
    browser: CameraBrowser, world: DeskWorld, app_url: str, tmp_path: Path
) -> None:
    page = browser.open(app_url)
    expect(page.locator("#purpose-list button")).to_have_count(2, timeout=WAIT_MS)
    # The camera first sees a web address's QR code: a hint, and the scanning goes on.
    show_phone(browser, "https://www.example.com/")
    page.keyboard.press("2")
    expect(page.locator("#scan-hint")).to_contain_text("Not a certificate QR", timeout=WAIT_MS)
    expect(page.locator("#scanning")).to_be_visible()
    browser.screenshot("not-a-certificate")
    # The clerk uploads a screenshot of the phone's answer instead.
    photo = tmp_path / "answer.png"
    photo.write_bytes(render_png(world.preset_answer()))
    page.set_input_files("#upload", photo)
    shown = verdict(page)
    assert "VALID" in shown and "Aged 19 or over" in shown and "예 / Yes" in shown
    assert "홍길동" not in shown  # the age check shows nothing else
    assert page.locator("#upload").input_value() == ""  # the field let the file go
    # Next customer: the camera starts again, and reads the next phone.
    show_phone(browser, world.preset_answer())
    page.keyboard.press("n")
    shown = verdict(page)
    assert "VALID" in shown and "Aged 19 or over" in shown
    browser.screenshot("preset-valid")
    browser.assert_stays_on_machine()


def test_the_verdict_fits_a_counter_laptop_and_reads_without_colour(
    browser: CameraBrowser, world: DeskWorld, app_url: str
) -> None:
    page = browser.open(app_url)
    expect(page.locator("#purpose-list button")).to_have_count(2, timeout=WAIT_MS)
    show_phone(browser, world.preset_answer())
    page.keyboard.press("2")
    verdict(page)
    layout = page.evaluate(
        """() => {
            const box = document.querySelector('#verdict .headline').getBoundingClientRect();
            return {scroll: document.documentElement.scrollWidth, top: box.top,
                    bottom: box.bottom, role: document.querySelector('#verdict').role};
        }"""
    )
    assert layout["scroll"] <= 1366 and layout["top"] >= 0 and layout["bottom"] <= 768
    assert page.locator("#verdict").get_attribute("role") == "alert"
    # Every control says what it does to a screen reader.
    for button in page.locator("button").all():
        assert button.inner_text().strip() or button.get_attribute("aria-label")
    for labelled in ("#request-qr", "#camera", "#upload"):
        element = page.locator(labelled)
        assert element.get_attribute("alt") or element.get_attribute("aria-label"), labelled
    # White text on the verdict's green: WCAG AA for large text and for body text.
    colours = page.evaluate(
        """() => { const s = getComputedStyle(document.querySelector('#verdict'));
                   return [s.color, s.backgroundColor]; }"""
    )
    assert _contrast(*colours) >= 4.5, colours


def _contrast(foreground: str, background: str) -> float:
    def luminance(css: str) -> float:
        red, green, blue = (int(part) for part in css[css.index("(") + 1 : -1].split(",")[:3])

        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_old_trust_data_is_flagged_and_sync_now_mends_it(
    browser: CameraBrowser, world: DeskWorld, app_url: str
) -> None:
    world.write_status_list(fetched_at=world.now - 3 * 86_400)
    page = browser.open(app_url)
    summary = page.locator("#trust-summary")
    expect(summary).to_contain_text("trust data is 3 days old: sync", timeout=WAIT_MS)
    expect(summary).to_have_class("trust-summary warn")
    page.locator("#trust-details summary").click()
    expect(page.locator("#trust-table tr.stale")).to_have_count(1)
    browser.screenshot("stale")
    page.keyboard.press("s")
    expect(summary).to_contain_text("Trust data synced", timeout=WAIT_MS)
    expect(summary).to_have_class("trust-summary ok")
    expect(page.locator("#trust-table")).to_contain_text("Last sync")
    browser.screenshot("synced")
    browser.assert_stays_on_machine()
