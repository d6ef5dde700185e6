"""The browser harness itself (tests/_browser.py, tests/_y4m.py), proven on a tiny page.

The page does what the counter web app's page will do: it opens the fake camera, draws one
frame to a canvas and posts it as an image to its app (FastAPI under uvicorn on loopback),
which reads the QR with ``read_qr_image``. The code is a real presentation envelope of about
1,300 characters (QR version 25, 117 modules wide): at 1280x720 it decodes from a frame where
the code, quiet zone included, is 600 pixels high (4.8 pixels a module), blurred and noisy.
The page's answers carry timings (first frame, decode) for measuring by hand; no test
asserts them.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("zxingcpp")

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image
from playwright.sync_api import Error as PlaywrightError

from tests._browser import (
    CameraBrowser,
    browser_output,  # noqa: F401 (a fixture)
    camera_browser,
    is_on_machine,
    require_chromium,
)
from tests._envelope_fixtures import resident_register_presentation
from tests._presenting import serve
from tests._server import free_port
from tests._y4m import DEFAULT_SIZE, phone_frame, write_y4m
from verifier.envelope import encode_envelope
from verifier.errors import VerificationError
from verifier.qr_image import qr_version, read_qr_image, render_png

ENVELOPE = encode_envelope(resident_register_presentation())
OTHER_ENVELOPE = encode_envelope(resident_register_presentation())  # other salts, other text

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>camera harness</title></head>
<body>
<video id="camera" autoplay muted playsinline width="320" height="180"></video>
<canvas id="frame" style="width: 640px"></canvas>
<p id="result">idle</p>
<script>
let held = null;
async function scan(type, quality) {
  const started = performance.now();
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  try {
    const video = document.getElementById("camera");
    video.srcObject = stream;
    await video.play();
    await new Promise(resolve => video.requestVideoFrameCallback(resolve));
    const firstFrame = performance.now();
    const canvas = document.getElementById("frame");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise(resolve => canvas.toBlob(resolve, type, quality));
    const response = await fetch("/frame", {method: "POST", headers: {"Content-Type": type},
                                            body: blob});
    const answer = await response.json();
    document.getElementById("result").textContent = answer.text ?? answer.error;
    return {...answer, width: canvas.width, height: canvas.height, bytes: blob.size,
            first_frame_ms: firstFrame - started, total_ms: performance.now() - started};
  } finally {
    stream.getTracks().forEach(track => track.stop());
  }
}
async function levels(xs, y) {
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  try {
    const video = document.getElementById("camera");
    video.srcObject = stream;
    await video.play();
    await new Promise(resolve => video.requestVideoFrameCallback(resolve));
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext("2d", {willReadFrequently: true});
    context.drawImage(video, 0, 0);
    return xs.map(x => Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3)));
  } finally {
    stream.getTracks().forEach(track => track.stop());
  }
}
async function hold() { held = await navigator.mediaDevices.getUserMedia({video: true}); }
function release() { held.getTracks().forEach(track => track.stop()); held = null; }
</script>
</body></html>
"""
# Two requests off the machine: by host name, and to an IP literal (TEST-NET-1, RFC 5737).
LEAKY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>leaky</title>
<script src="http://example.invalid/x.js"></script></head>
<body><p>leaky</p><img src="http://192.0.2.1/pixel.png" alt=""></body></html>
"""


def harness_app() -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/leaky", response_class=HTMLResponse)
    def leaky() -> str:
        return LEAKY_PAGE

    @app.post("/frame")
    async def frame(request: Request) -> JSONResponse:
        body = await request.body()
        started = time.perf_counter()
        try:
            text = read_qr_image(body)  # bounded: over MAX_IMAGE_BYTES is TOO_LARGE
        except VerificationError as exc:
            return JSONResponse({"error": exc.code.value})
        decode_ms = (time.perf_counter() - started) * 1000
        return JSONResponse({"text": text, "decode_ms": decode_ms})

    return app


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve(harness_app(), free_port()) as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path, browser_output: Path) -> Iterator[CameraBrowser]:  # noqa: F811
    video = write_y4m(tmp_path / "camera.y4m", [phone_frame(render_png(ENVELOPE))])
    with camera_browser(
        video, profile_dir=tmp_path / "profile", output_dir=browser_output
    ) as running:
        yield running


def show(browser: CameraBrowser, text: str) -> None:
    """The phone now shows ``text``'s QR: a few frames, each with its own noise."""
    png = render_png(text)
    write_y4m(browser.video, [phone_frame(png, seed=seed) for seed in range(3)])


def scan(
    browser: CameraBrowser, mime: str = "image/jpeg", quality: float = 0.92
) -> dict[str, object]:
    answer: dict[str, object] = browser.page.evaluate(
        "([type, quality]) => scan(type, quality)", [mime, quality]
    )
    return answer


def test_the_fixture_qr_is_the_size_of_a_counter_answer() -> None:
    assert 1200 <= len(ENVELOPE) <= 1400
    assert qr_version(ENVELOPE) == 25


def test_y4m_layout(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (64, 48), "white"), Image.new("RGB", (64, 48), "black")]
    path = write_y4m(tmp_path / "v.y4m", frames, fps=15, repeat=2)
    data = path.read_bytes()
    header = b"YUV4MPEG2 W64 H48 F15:1 Ip A1:1 C420jpeg\n"
    frame = 64 * 48 * 3 // 2
    assert data.startswith(header)
    assert len(data) == len(header) + 4 * (len(b"FRAME\n") + frame)
    white, black = data[len(header) + 6 :][:frame], data[len(header) + 6 + frame + 6 :][:frame]
    # Limited range: luma 16-235, and grey carries no chroma.
    assert set(white[: 64 * 48]) == {235} and set(black[: 64 * 48]) == {16}
    assert set(white[64 * 48 :]) == {128} == set(black[64 * 48 :])
    assert [p.name for p in tmp_path.iterdir()] == ["v.y4m"]  # no partial file left behind


def test_y4m_chroma_is_subsampled_in_limited_range(tmp_path: Path) -> None:
    image = Image.new("RGB", (4, 2), (255, 0, 0))
    image.paste((0, 0, 255), (2, 0, 4, 2))  # left 2x2 block red, right one blue
    data = write_y4m(tmp_path / "v.y4m", [image]).read_bytes()
    planes = data[data.index(b"FRAME\n") + 6 :]
    y, u, v = planes[:8], planes[8:10], planes[10:12]
    # BT.601 studio-range red (81, 90, 240) and blue (41, 240, 110), one chroma pair per block;
    # Pillow's integer RGB to YCbCr may be 1 off.
    expected = [81, 81, 41, 41] * 2 + [90, 240] + [240, 110]
    assert all(abs(a - b) <= 1 for a, b in zip(y + u + v, expected, strict=True)), list(planes)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([], "at least one frame"),
        ([Image.new("L", (63, 48))], "even width and height"),
        ([Image.new("L", (64, 48)), Image.new("L", (32, 48))], "same size"),
    ],
    ids=["none", "odd-width", "mixed-sizes"],
)
def test_y4m_refuses_what_chromium_cannot_play(
    tmp_path: Path, frames: list[Image.Image], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_y4m(tmp_path / "v.y4m", frames)


def test_phone_frame_is_a_readable_and_reproducible_photo() -> None:
    png = render_png(ENVELOPE)
    frame = phone_frame(png, seed=1)
    assert frame.size == DEFAULT_SIZE
    buffer = io.BytesIO()
    frame.save(buffer, format="JPEG", quality=80)
    assert read_qr_image(buffer.getvalue()) == ENVELOPE
    assert phone_frame(png, seed=1).tobytes() == frame.tobytes()
    assert phone_frame(png, seed=2).tobytes() != frame.tobytes()
    assert phone_frame(png, noise=0, blur=0).getextrema() == (0, 255)
    with pytest.raises(ValueError, match="does not fit"):
        phone_frame(png, qr_height=700)


def test_camera_levels_come_back_as_written(browser: CameraBrowser, site: str) -> None:
    bands = Image.new("L", DEFAULT_SIZE, 0)
    bands.paste(255, (0, 0, 400, 720))
    bands.paste(128, (400, 0, 800, 720))
    write_y4m(browser.video, [bands])
    browser.open(site)
    assert browser.page.evaluate("levels([200, 600, 1000], 360)") == [
        [255, 255, 255],
        [128, 128, 128],
        [0, 0, 0],
    ]


def test_page_reads_the_qr_the_camera_shows(browser: CameraBrowser, site: str) -> None:
    browser.open(site)
    answer = scan(browser)
    assert (answer["width"], answer["height"]) == DEFAULT_SIZE
    assert answer.get("error") is None
    assert answer["text"] == ENVELOPE
    assert browser.page.text_content("#result") == ENVELOPE
    browser.assert_stays_on_machine()


def test_the_camera_is_the_granted_origins_only(browser: CameraBrowser, site: str) -> None:
    browser.page.goto(site)  # not open(): nothing granted
    with pytest.raises(PlaywrightError, match="NotAllowedError"):
        scan(browser)


def test_localhost_is_loopback_too(browser: CameraBrowser, site: str) -> None:
    browser.open(site.replace("127.0.0.1", "localhost"))
    assert scan(browser)["text"] == ENVELOPE
    browser.assert_stays_on_machine()


@pytest.mark.parametrize("mime", ["image/jpeg", "image/png", "image/webp"])
def test_frame_formats_a_page_may_post(browser: CameraBrowser, site: str, mime: str) -> None:
    browser.open(site)
    assert scan(browser, mime)["text"] == ENVELOPE


def test_a_new_video_plays_at_the_next_capture(browser: CameraBrowser, site: str) -> None:
    browser.open(site)
    assert scan(browser)["text"] == ENVELOPE
    show(browser, OTHER_ENVELOPE)
    assert scan(browser)["text"] == OTHER_ENVELOPE  # same page: every track was stopped
    show(browser, ENVELOPE)
    assert scan(browser)["text"] == ENVELOPE


def test_a_live_track_keeps_the_old_video(browser: CameraBrowser, site: str) -> None:
    browser.open(site)
    browser.page.evaluate("hold()")
    show(browser, OTHER_ENVELOPE)
    assert scan(browser)["text"] == ENVELOPE  # the capture held open still plays the old file
    browser.page.evaluate("release()")
    assert scan(browser)["text"] == OTHER_ENVELOPE


def test_a_reload_releases_the_camera(browser: CameraBrowser, site: str) -> None:
    # A page that streams all the time never stops its tracks; loading it anew does.
    browser.open(site)
    browser.page.evaluate("hold()")
    show(browser, OTHER_ENVELOPE)
    browser.page.reload()
    assert scan(browser)["text"] == OTHER_ENVELOPE


def test_requests_off_the_machine_are_caught(browser: CameraBrowser, site: str) -> None:
    browser.open(site)
    browser.assert_stays_on_machine()
    browser.page.goto(f"{site}/leaky")
    browser.page.wait_for_load_state("load")
    off = {(r.url, r.resource_type) for r in browser.off_machine()}
    assert off == {
        ("http://example.invalid/x.js", "script"),
        ("http://192.0.2.1/pixel.png", "image"),
    }
    with pytest.raises(AssertionError, match=r"example\.invalid/x\.js"):
        browser.assert_stays_on_machine()
    assert f"{site}/leaky" in [r.url for r in browser.requests]  # loopback is recorded too


def test_screenshots_go_to_the_test_output_folder(
    browser: CameraBrowser,
    site: str,
    browser_output: Path,  # noqa: F811
) -> None:
    browser.open(site)
    scan(browser)
    path = browser.screenshot("after-scan")
    assert path == browser_output / "after-scan.png"
    assert browser_output.parts[-2:] == (
        "test_browser_harness",
        "test_screenshots_go_to_the_test_output_folder",
    )
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        assert image.format == "PNG"
        assert image.width > 0 and image.height > 0
    with pytest.raises(ValueError, match="screenshot name"):
        browser.screenshot("../escape")


def test_the_pages_console_is_kept(tmp_path: Path, site: str) -> None:
    video = write_y4m(tmp_path / "camera.y4m", [phone_frame(render_png(ENVELOPE))])
    output = tmp_path / "output"
    with camera_browser(video, profile_dir=tmp_path / "profile", output_dir=output) as browser:
        browser.open(site)
        browser.page.evaluate("console.warn('from the page')")
    assert "warning: from the page" in (output / "console.log").read_text("utf-8").splitlines()


def test_without_chromium_skip_here_but_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no system Chromium"):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        require_chromium()


@pytest.mark.parametrize(
    ("url", "on_machine"),
    [
        ("http://127.0.0.1:8000/", True),
        ("https://127.0.0.2/x", True),
        ("http://localhost:5173/app.js", True),
        ("ws://[::1]:9000/socket", True),
        ("data:image/png;base64,iVBORw0KGgo=", True),
        ("blob:http://127.0.0.1:8000/0b5c6e7a", True),
        ("about:blank", True),
        ("http://example.invalid/x.js", False),
        ("http://192.0.2.1/pixel.png", False),
        ("https://[2001:db8::1]/", False),
        ("http://localhost.example.com/", False),
        ("http://127.0.0.1.example.com/", False),
        ("ftp://127.0.0.1/file", False),
        ("chrome-extension://abc/script.js", False),
        ("http:///no-host", False),
    ],
)
def test_what_counts_as_on_the_machine(url: str, on_machine: bool) -> None:
    assert is_on_machine(url) is on_machine
