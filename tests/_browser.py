"""Real Chromium for the browser tests: headless, with a fake camera playing a ``.y4m`` file.

``camera_browser(video, profile_dir=..., output_dir=...)`` starts the system Chromium (Debian's
``chromium`` package, ``/usr/bin/chromium``) through Playwright: Playwright's own browser
download is never used. Chromium reads the camera from ``video`` (``tests._y4m.write_y4m``);
``CameraBrowser.open(url)`` grants the camera to the page's origin and loads it. Every request
the browser's pages make is recorded; one that leaves the machine is aborted before it is sent,
and ``assert_stays_on_machine`` fails the test naming it. ``screenshot(name)`` writes
``name.png`` into the output folder, and the pages' console is kept in ``console.log`` there.

Switching videos on one page (checked by tests/test_browser_harness.py): Chromium opens the
file when a capture starts, and a capture lasts while any track of it is live. So a test can
``write_y4m`` a new video over ``video``, and the page's next ``getUserMedia`` plays it, once
the page has stopped every track of its previous streams; a ``getUserMedia`` while an earlier
track is still live shares that capture and shows the old video. A page that streams all the
time releases the camera when it is loaded anew (``page.reload()``).

Without Chromium a browser test is skipped with a one-line reason, except under CI (the
environment variable ``CI`` set), where it fails: CI must run them. A browser starts in
0.7-1 s on the 2-core machine under load (Playwright's driver, then Chromium), so each test
has its own, with a fresh profile: no capture or permission is left over from another test.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Route,
    sync_playwright,
)

__all__ = [
    "OUTPUT_ROOT",
    "CameraBrowser",
    "RecordedRequest",
    "browser_output",
    "camera_browser",
    "is_on_machine",
    "output_dir_for",
    "require_chromium",
]

OUTPUT_ROOT = Path(__file__).resolve().parents[1] / "test-output"  # git-ignored
_SCHEMES_WITHOUT_NETWORK = frozenset({"data", "blob", "about"})
_NETWORK_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_SCREENSHOT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Besides Playwright's own defaults (--headless, --no-sandbox, which root needs, and
# --disable-background-networking, --disable-component-update, --no-first-run, ...): no GPU in
# a container, no QUIC probes, and every host but loopback (IP literals too) resolves to
# nothing, so that Chromium's own traffic, which Playwright does not see, stays home as well.
_CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-quic",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE ::1",
    "--use-fake-device-for-media-stream",
)


def require_chromium() -> Path:
    """The system Chromium; without one, skip the test (fail it under CI)."""
    found = shutil.which("chromium")
    if found is None:
        reason = "no system Chromium (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the browser tests")
        pytest.skip(reason)
    return Path(found)


def is_on_machine(url: str) -> bool:
    """Whether fetching ``url`` stays on this machine: a loopback host over HTTP(S) or
    WebSocket, or a scheme that is no network at all (``data:``, ``blob:``, ``about:``)."""
    parts = urlsplit(url)
    if parts.scheme in _SCHEMES_WITHOUT_NETWORK:
        return True
    if parts.scheme not in _NETWORK_SCHEMES or parts.hostname is None:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:  # a host name other than localhost
        return False


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    url: str
    resource_type: str  # Playwright's: "document", "script", "fetch", "image", "websocket", ...


@dataclass
class CameraBrowser:
    """One Chromium with a fake camera, one page; see the module's docstring."""

    context: BrowserContext
    page: Page
    video: Path
    output_dir: Path
    requests: list[RecordedRequest] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def open(self, url: str) -> Page:
        """Grant the camera to ``url``'s origin, then load ``url`` in the page."""
        parts = urlsplit(url)
        self.context.grant_permissions(["camera"], origin=f"{parts.scheme}://{parts.netloc}")
        self.page.goto(url)
        return self.page

    def screenshot(self, name: str) -> Path:
        """The page as it is now, in ``<output_dir>/<name>.png`` (name: a-z, 0-9, -)."""
        if _SCREENSHOT_NAME.fullmatch(name) is None:
            raise ValueError(f"screenshot name {name!r}: use a-z, 0-9 and -, at most 64")
        path = self.output_dir / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def off_machine(self) -> list[RecordedRequest]:
        """The recorded requests that would have left the machine (all were aborted)."""
        return [request for request in self.requests if not is_on_machine(request.url)]

    def assert_stays_on_machine(self) -> None:
        """Fail naming every request the pages tried to make off the machine."""
        off = self.off_machine()
        assert not off, "requests off the machine:\n" + "\n".join(
            f"  {r.method} {r.url} ({r.resource_type})" for r in off
        )

    def _record(self, request: Request) -> None:
        self.requests.append(RecordedRequest(request.method, request.url, request.resource_type))

    def _record_websocket(self, url: str) -> None:
        self.requests.append(RecordedRequest("GET", url, "websocket"))

    def _record_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}")

    def _watch(self, page: Page) -> None:
        page.on("console", self._record_console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        page.on("websocket", lambda socket: self._record_websocket(socket.url))


@contextlib.contextmanager
def camera_browser(video: Path, *, profile_dir: Path, output_dir: Path) -> Iterator[CameraBrowser]:
    """Headless system Chromium whose camera plays ``video`` (it must exist: Chromium opens
    it at each capture's start), with a fresh profile in ``profile_dir`` (must not exist);
    screenshots and ``console.log`` go to ``output_dir``."""
    chromium = require_chromium()
    if not video.is_file():
        raise FileNotFoundError(f"no fake-camera video at {video}")
    if profile_dir.exists():
        raise FileExistsError(f"{profile_dir} exists: each browser starts with a fresh profile")
    output_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile_dir,
            executable_path=chromium,
            headless=True,
            args=[*_CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={video}"],
        )
        console: list[str] = []
        try:
            page = context.pages[0] if context.pages else context.new_page()
            browser = CameraBrowser(context, page, video, output_dir, console=console)
            context.on("request", browser._record)
            context.on("page", browser._watch)
            browser._watch(page)
            context.route(lambda url: not is_on_machine(url), _abort)
            yield browser
        finally:
            context.close()
            log = "".join(f"{line}\n" for line in console)
            (output_dir / "console.log").write_text(log, encoding="utf-8")


def _abort(route: Route) -> None:
    route.abort("blockedbyclient")


def output_dir_for(request: pytest.FixtureRequest) -> Path:
    """``test-output/<test module>/<test name>/``, emptied: what one test leaves to be seen."""
    module = Path(str(request.node.path)).stem
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    directory = OUTPUT_ROOT / module / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


@pytest.fixture
def browser_output(request: pytest.FixtureRequest) -> Path:
    """This test's output folder (``output_dir_for``)."""
    return output_dir_for(request)
