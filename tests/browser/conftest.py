"""Browser tests: Debian's Chromium through Playwright, against the real back end on 127.0.0.1.

Every test fails on a page error, a console error, or a request to any host but the
page's own: those are routed to `abort()` and counted, which proves the page needs no CDN.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, Route

ROOT = Path(__file__).resolve().parents[2]
# tools/ holds scripts, not a package: tools/chromium.py is `chromium` here, as for mypy.
sys.path.insert(0, str(ROOT / "tools"))
from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

READY = "html[data-app-state=ready]"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """The reference back end, with its test-only fault injection switched on."""
    if not (ROOT / "static" / "vendor" / "pyodide" / "pyodide.mjs").exists():
        pytest.fail("static/vendor/ is missing: run `make setup` (or `make test`) first")
    with running_backend("--faults") as url:
        yield url


@contextmanager
def running_backend(*flags: str, port: int | None = None) -> Iterator[str]:
    """`python -m server` on 127.0.0.1 with `flags` (pace 0.004 s); yields its base URL."""
    port = port or _free_port()
    command = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--pace", "0.004", *flags]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            _wait_until_healthy(url, process, log)
            yield url
        finally:
            process.terminate()
            process.wait(10)


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail("the back end did not start:\n" + log.read().decode(errors="replace"))
        time.sleep(0.05)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": list(CHROMIUM_ARGS)}


class PageProblems:
    """What went wrong on the page while a test ran; the test fails if any of it is non-empty.

    A test that provokes an error on purpose names the words it expects in `expected_errors`.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.foreign_requests: list[str] = []
        self.expected_errors: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._add(f"console error: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self._add(f"page error: {error}")

    def _add(self, text: str) -> None:
        if not any(expected in text for expected in self.expected_errors):
            self.errors.append(text)


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def context(context: BrowserContext, problems: PageProblems) -> BrowserContext:
    def route(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            problems.foreign_requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    return context


@pytest.fixture
def page(page: Page, problems: PageProblems) -> Iterator[Page]:
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.set_default_timeout(30_000)
    yield page
    assert problems.foreign_requests == [], "the page asked hosts other than its own"
    assert problems.errors == [], "the page reported errors"


#: app/main.py has loaded and warmed the renderer, which it does when first idle after ready.
RENDERER_WARM = "() => performance.getEntriesByName('streamchat:renderer-warm').length > 0"


def open_page(page: Page, server_url: str, query: str = "") -> Page:
    """The page, ready and idle once, as a reader finds it who starts to type: its renderer
    loaded. (Asked at once, a first answer waits for the renderer's import, and its first
    frame renders Markdown for the first time, so a short canned answer can arrive whole
    before its second frame; tests/browser/test_chat_experience.py asks before ready.)"""
    page.goto(server_url + ("?" + query if query else ""))
    page.wait_for_selector(READY, timeout=60_000)
    page.wait_for_function(RENDERER_WARM, timeout=60_000)
    return page


def ask(page: Page, question: str) -> Locator:
    """Type a question and press Enter; returns the locator of the answer it starts."""
    answers = page.locator("[data-role=answer]")
    index = answers.count()
    page.fill("textarea[name=question]", question)
    page.keyboard.press("Enter")
    return answers.nth(index)
