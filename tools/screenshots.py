"""Take the README's screenshots: the answered page at 1280 px and 375 px, light and dark.

Starts the reference back end on a free port, asks one question in Debian's Chromium and
writes docs/screenshots/{light,dark}-{1280,375}.png. Run with `make screenshots`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
QUESTION = "How does the page resume a dropped stream?"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def main() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port)], cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
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
    print(f"wrote {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
