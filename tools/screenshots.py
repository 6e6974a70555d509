"""Take the README's screenshots: the answered page at 1280 px and 375 px, light and dark.

Starts the reference back end on a free port, asks one question in Debian's Chromium and
writes docs/screenshots/{light,dark}-{1280,375}.png. Then, with the scripted model server
(tests/model_double.py) behind a second back end, a model's answers: reasoning folded away,
token usage, and an answer cut off with Continue: docs/screenshots/model-{light,dark}-
{1280,375}.png. And a citation marker's source card, shown by hovering a marker (1280 px)
or tapping one (375 px, a touch screen): docs/screenshots/citation-{light,dark}-{1280,375}.png.
Run with `make screenshots`; `python tools/screenshots.py citations` (or `page`, `model`)
takes only those.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from chromium import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
QUESTION = "How does the page resume a dropped stream?"


MODEL_QUESTIONS = (
    "What is six times seven? scenario=reasoning-content",
    "How many tokens was that? scenario=usage",
    "Tell me the whole story. scenario=length",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(*flags: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*command, *flags], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(200):
        try:
            httpx.get(url + "healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return server, url


def model_screenshots() -> None:
    """The page in front of the scripted model: reasoning, usage, a cut-off answer."""
    port = _free_port()
    double = subprocess.Popen(
        [sys.executable, "-m", "tests.model_double", "--port", str(port)], cwd=ROOT
    )
    server, url = _serve("--upstream", f"http://127.0.0.1:{port}/v1", "--model", "scripted")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            for scheme in ("light", "dark"):
                for width, height in ((1280, 900), (375, 812)):
                    page = browser.new_page(
                        viewport={"width": width, "height": height}, color_scheme=scheme
                    )
                    page.goto(url)
                    page.wait_for_selector("html[data-app-state=ready]", timeout=60_000)
                    for number, question in enumerate(MODEL_QUESTIONS, 1):
                        page.fill("textarea[name=question]", question)
                        page.keyboard.press("Enter")
                        page.wait_for_selector(
                            f"[data-role=answer][data-state=done] >> nth={number - 1}",
                            timeout=60_000,
                        )
                    page.screenshot(path=OUT / f"model-{scheme}-{width}.png")
                    page.close()
            browser.close()
    finally:
        server.terminate()
        double.terminate()
        server.wait(10)
        double.wait(10)


def citation_screenshots() -> None:
    """An answer's second source in its card: hovered at 1280 px, tapped at 375 px."""
    server, url = _serve()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            for scheme in ("light", "dark"):
                for width, height in ((1280, 900), (375, 812)):
                    touch = width < 500
                    page = browser.new_page(
                        viewport={"width": width, "height": height},
                        color_scheme=scheme,
                        has_touch=touch,
                        is_mobile=touch,
                    )
                    page.goto(url)
                    page.wait_for_selector("html[data-app-state=ready]", timeout=60_000)
                    page.fill("textarea[name=question]", QUESTION)
                    page.keyboard.press("Enter")
                    page.wait_for_selector("[data-role=answer][data-state=done]", timeout=60_000)
                    marker = page.locator("sup.citation-ref a[data-ref='2']").first
                    if touch:
                        marker.tap()
                    else:
                        marker.hover()
                    page.wait_for_selector("[data-role=citation-card]:not([hidden])")
                    page.screenshot(path=OUT / f"citation-{scheme}-{width}.png")
                    page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


def page_screenshots() -> None:
    server, url = _serve()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            for scheme in ("light", "dark"):
                for width, height in ((1280, 900), (375, 812)):
                    page = browser.new_page(
                        viewport={"width": width, "height": height}, color_scheme=scheme
                    )
                    page.goto(url)
                    page.wait_for_selector("html[data-app-state=ready]", timeout=60_000)
                    page.fill("textarea[name=question]", QUESTION)
                    page.keyboard.press("Enter")
                    page.wait_for_selector("[data-role=answer][data-state=done]", timeout=60_000)
                    page.screenshot(path=OUT / f"{scheme}-{width}.png")
                    page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


SETS = {"page": page_screenshots, "model": model_screenshots, "citations": citation_screenshots}


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in SETS]
    if unknown:
        print(f"unknown screenshots {unknown}; choose from {sorted(SETS)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or list(SETS):
        SETS[name]()
    print(f"wrote {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
