"""Start-up: navigation → `html[data-app-state=ready]`, cold and warm cache, bytes, first paint.

Each visit launches Chromium with a persistent profile: a fresh, empty one for every cold
visit; one shared profile for the warm visits, primed by a visit that is not counted, so
each warm visit is a returning user reopening the browser (HTTP disk cache and V8/wasm code
cache warm, no page in memory). No request interception: Playwright's routing would turn the
HTTP cache off. Times come from the page's own clock (`performance.now()`, whose origin is
the navigation's start): a MutationObserver installed before any script runs notes when
`data-app-state` becomes `ready`. Bytes and requests come from the DevTools protocol:
`Network.loadingFinished`'s `encodedDataLength` (bytes on the wire, headers included; 0 for
a response served from cache), counted up to the moment the page is ready.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Playwright, sync_playwright

from bench.common import CHROMIUM, CHROMIUM_ARGS, READY, READY_TIMEOUT_MS, log, median

# Runs before the page's own scripts, when <html> may not exist yet (hence `document`,
# subtree): notes the time the app state changes, on the page's clock. The attribute is set
# by app/main.py (ready) or static/boot.js (failed).
WATCH_APP_STATE = """
(() => {
  window.__benchAppState = {};
  new MutationObserver(() => {
    const state = document.documentElement.dataset.appState;
    if (state && !(state in window.__benchAppState)) {
      window.__benchAppState[state] = performance.now();
    }
  }).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-app-state"]});
})();
"""

PAGE_TIMINGS = """
() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = Object.fromEntries(
    performance.getEntriesByType("paint").map((entry) => [entry.name, entry.startTime]));
  const ready = window.__benchAppState.ready ?? null;
  const loaded = performance.getEntriesByType("resource")
    .filter((entry) => ready === null || entry.responseEnd <= ready);
  const lastEnd = (test) => {
    const ends = loaded.filter((entry) => test(new URL(entry.name).pathname))
      .map((entry) => entry.responseEnd);
    return ends.length ? Math.max(...ends) : null;
  };
  return {
    ready_ms: ready,
    first_paint_ms: paint["first-paint"] ?? null,
    first_contentful_paint_ms: paint["first-contentful-paint"] ?? null,
    dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : null,
    load_ms: nav ? nav.loadEventEnd : null,
    // When the downloads ended: what is left until ready is work on the main thread.
    runtime_downloaded_ms: lastEnd((path) => path.endsWith("/pyodide.asm.wasm")),
    wheels_downloaded_ms: lastEnd((path) => path.endsWith(".whl")),
    app_downloaded_ms: lastEnd((path) => path.startsWith("/app/")),
    downloads_done_ms: lastEnd(() => true),
  };
}
"""


@dataclass
class NetworkLog:
    """Requests and bytes of one visit, from the DevTools protocol's Network domain."""

    requests: dict[str, str] = field(default_factory=dict)
    from_cache: set[str] = field(default_factory=set)
    bytes_by_request: dict[str, int] = field(default_factory=dict)
    foreign: list[str] = field(default_factory=list)

    def on_request(self, event: dict[str, Any]) -> None:
        url = str(event["request"]["url"])
        self.requests[str(event["requestId"])] = url
        if urlsplit(url).hostname not in ("127.0.0.1", None):
            self.foreign.append(url)

    def on_response(self, event: dict[str, Any]) -> None:
        response = event["response"]
        if response.get("fromDiskCache") or response.get("fromPrefetchCache"):
            self.from_cache.add(str(event["requestId"]))

    def on_served_from_cache(self, event: dict[str, Any]) -> None:
        self.from_cache.add(str(event["requestId"]))

    def on_finished(self, event: dict[str, Any]) -> None:
        self.bytes_by_request[str(event["requestId"])] = int(event["encodedDataLength"])

    def summary(self) -> dict[str, Any]:
        sizes = sorted(
            ((self.bytes_by_request.get(rid, 0), url) for rid, url in self.requests.items()),
            reverse=True,
        )
        return {
            "requests": len(self.requests),
            "requests_from_cache": len(self.from_cache),
            "bytes": sum(self.bytes_by_request.values()),
            "foreign_requests": list(self.foreign),
            "largest": [{"path": urlsplit(url).path, "bytes": size} for size, url in sizes[:6]],
        }


def visit(playwright: Playwright, profile: Path, url: str) -> dict[str, Any]:
    """One visit in a browser launched on `profile`: its timings and network summary."""
    context = playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        return _visit(context, url)
    finally:
        context.close()


def _visit(context: BrowserContext, url: str) -> dict[str, Any]:
    page = context.pages[0] if context.pages else context.new_page()
    page.add_init_script(WATCH_APP_STATE)
    network = NetworkLog()
    cdp = context.new_cdp_session(page)
    cdp.on("Network.requestWillBeSent", network.on_request)
    cdp.on("Network.responseReceived", network.on_response)
    cdp.on("Network.requestServedFromCache", network.on_served_from_cache)
    cdp.on("Network.loadingFinished", network.on_finished)
    cdp.send("Network.enable")
    page.goto(url, wait_until="commit")
    page.wait_for_selector(READY, timeout=READY_TIMEOUT_MS)
    timings: dict[str, Any] = page.evaluate(PAGE_TIMINGS)
    cdp.detach()
    return {**timings, **network.summary()}


def run(url: str, *, cold_runs: int, warm_runs: int) -> dict[str, Any]:
    """Median start-up figures of `cold_runs` fresh-profile visits and `warm_runs` returns."""
    cold: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        warm_profile = Path(tmp) / "warm"
        visit(playwright, warm_profile, url)  # primes the warm profile's caches; not counted
        # Cold and warm visits alternate, so that a neighbour's load hits both alike.
        for n in range(max(cold_runs, warm_runs)):
            if n < cold_runs:
                cold.append(visit(playwright, Path(tmp) / f"cold-{n}", url))
                log(f"start-up cold {n + 1}/{cold_runs}: ready at {cold[-1]['ready_ms']:.0f} ms")
            if n < warm_runs:
                warm.append(visit(playwright, warm_profile, url))
                log(f"start-up warm {n + 1}/{warm_runs}: ready at {warm[-1]['ready_ms']:.0f} ms")
    return {
        "method": __doc__,
        "cold": {"runs": cold, "median": _medians(cold)},
        "warm": {"runs": warm, "median": _medians(warm)},
    }


def _medians(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    keys = [
        "ready_ms",
        "first_paint_ms",
        "first_contentful_paint_ms",
        "dom_content_loaded_ms",
        "load_ms",
        "runtime_downloaded_ms",
        "wheels_downloaded_ms",
        "app_downloaded_ms",
        "downloads_done_ms",
        "requests",
        "requests_from_cache",
        "bytes",
    ]
    return {
        key: median([float(run[key]) for run in runs if run.get(key) is not None]) for key in keys
    }
