"""Start-up: navigation → `html[data-app-state=ready]`, cold and warm cache, bytes, timeline.

Each visit launches Chromium with a persistent profile: a fresh, empty one for every cold
visit; one shared profile for the warm visits, primed by a visit that is not counted, so
each warm visit is a returning user reopening the browser (HTTP disk cache and V8/wasm code
cache warm, no page in memory). No request interception: Playwright's routing would turn the
HTTP cache off. Times come from the page's own clock (`performance.now()`, whose origin is
the navigation's start): a script installed before any of the page's notes when
`data-app-state` becomes `ready`, when PyScript reports each step (`py:progress` events:
"Loading interpreter" is the call of `loadPyodide()`, "Loaded interpreter" its end, then
"Loading files"/"Loaded files" for pyscript.toml's [files], then `py:ready` before
app/main.py runs), when `WebAssembly.instantiateStreaming` (Pyodide's compile and
instantiate) resolves, and every long task. Bytes and requests come from the DevTools
protocol: `Network.loadingFinished`'s `encodedDataLength` (bytes on the wire, headers
included; 0 for a response served from cache), counted up to the moment the page is ready.

The anchor: in the same run, alternating with the page's visits, a bare `loadPyodide()` from
the same server (a page of the same origin that imports `pyodide.mjs` and awaits it), cold
and warm alike, so that a busy machine shows in both and ratios stay comparable.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, CDPSession, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bench.common import (
    READY,
    READY_TIMEOUT_MS,
    RENDERER_WARM,
    browser,
    log,
    median,
)

# Runs before the page's own scripts, when <html> may not exist yet (hence `document`,
# subtree): notes, on the page's clock, when the app state changes (set by app/main.py or
# static/boot.js), each PyScript step, Pyodide's WebAssembly compilation and the long tasks.
WATCH_APP_STATE = """
(() => {
  const now = () => performance.now();
  window.__benchAppState = {};
  window.__benchSteps = {};
  window.__benchLongTasks = [];
  const note = (name) => { if (!(name in window.__benchSteps)) window.__benchSteps[name] = now(); };
  new MutationObserver(() => {
    const state = document.documentElement.dataset.appState;
    if (state && !(state in window.__benchAppState)) {
      window.__benchAppState[state] = now();
    }
  }).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-app-state"]});
  addEventListener("py:progress", (event) => note(String(event.detail)));
  document.addEventListener("py:ready", () => note("py:ready"), {capture: true});
  const streaming = WebAssembly.instantiateStreaming;
  WebAssembly.instantiateStreaming = function (...args) {
    note("wasm instantiate called");
    const result = streaming.apply(this, args);
    result.then(() => note("wasm instantiated"), () => {});
    return result;
  };
  try {
    new PerformanceObserver((list) => {
      for (const task of list.getEntries()) {
        window.__benchLongTasks.push([task.startTime, task.duration]);
      }
    }).observe({type: "longtask", buffered: true});
  } catch (error) { /* no long task timing */ }
})();
"""

PAGE_TIMINGS = r"""
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
  const steps = window.__benchSteps;
  const paintedAt = paint["first-contentful-paint"] ?? 0;
  // The renderer is warmed when the page is first idle after ready (app/main.py).
  const warm = performance.getEntriesByName("streamchat:renderer-warm")[0];
  const warmAt = warm ? warm.startTime : null;
  const until = Math.max(ready ?? Infinity, warmAt ?? 0);
  const longTasks = window.__benchLongTasks
    .filter(([start]) => start >= paintedAt && start < until);
  return {
    ready_ms: ready,
    renderer_warm_ms: warmAt,
    steps,
    interpreter_called_ms: steps["Loading interpreter"] ?? null,
    wasm_instantiated_ms: steps["wasm instantiated"] ?? null,
    interpreter_loaded_ms: steps["Loaded interpreter"] ?? null,
    files_loaded_ms: steps["Loaded files"] ?? null,
    py_ready_ms: steps["py:ready"] ?? null,
    // Long tasks between the shell's first contentful paint and ready (or, when later, the
    // renderer warm).
    long_tasks: longTasks.length,
    long_tasks_over_200ms: longTasks.filter(([, duration]) => duration > 200).length,
    longest_task_ms: longTasks.length ? Math.max(...longTasks.map(([, d]) => d)) : 0,
    long_task_ms: longTasks,
    first_paint_ms: paint["first-paint"] ?? null,
    first_contentful_paint_ms: paint["first-contentful-paint"] ?? null,
    dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : null,
    load_ms: nav ? nav.loadEventEnd : null,
    // When the downloads ended: what is left until ready is work on the main thread.
    core_downloaded_ms: lastEnd((path) => /\/pyscript\/core-[^/]*\.js$/.test(path)),
    runtime_downloaded_ms: lastEnd((path) => path.endsWith("/pyodide.asm.wasm")),
    stdlib_downloaded_ms: lastEnd((path) => path.endsWith("/python_stdlib.zip")),
    wheels_downloaded_ms: lastEnd((path) => path.endsWith("/wheels.zip") || path.endsWith(".whl")),
    app_downloaded_ms: lastEnd((path) => /^\/(app|streamchat)\/|\/static\/app\.zip$/.test(path)),
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

    def listen(self, context: BrowserContext, page: Page) -> CDPSession:
        """Starts noting `page`'s requests; returns the DevTools session, to detach after."""
        cdp = context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self.on_request)
        cdp.on("Network.responseReceived", self.on_response)
        cdp.on("Network.requestServedFromCache", self.on_served_from_cache)
        cdp.on("Network.loadingFinished", self.on_finished)
        cdp.send("Network.enable")
        return cdp

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
    with browser(playwright, profile) as context:
        return visit_in(context, url)


def visit_in(context: BrowserContext, url: str) -> dict[str, Any]:
    """One visit in the browser `context`: its timings and network summary."""
    page = context.pages[0] if context.pages else context.new_page()
    page.add_init_script(WATCH_APP_STATE)
    network = NetworkLog()
    cdp = network.listen(context, page)
    page.goto(url, wait_until="commit")
    page.wait_for_selector(READY, timeout=READY_TIMEOUT_MS)
    # A tree from before the mark: renderer_warm_ms is None.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(RENDERER_WARM, timeout=RENDERER_WARM_TIMEOUT_MS)
    timings: dict[str, Any] = page.evaluate(PAGE_TIMINGS)
    cdp.detach()
    return {**timings, **network.summary()}


#: True once app/main.py has warmed the renderer, after ready.
RENDERER_WARM_TIMEOUT_MS = 10_000


# A same-origin page without the app: the back end's health check (JSON, no policy), from
# which the bare runtime is imported and started.
ANCHOR_PATH = "healthz"
BARE_LOAD_PYODIDE = """
async () => {
  const started = performance.now();
  const { loadPyodide } = await import("/static/vendor/pyodide/pyodide.mjs");
  const pyodide = await loadPyodide();
  pyodide.runPython("1 + 1");
  return { ready_ms: performance.now(), load_pyodide_ms: performance.now() - started };
}
"""


def visit_anchor(playwright: Playwright, profile: Path, url: str) -> dict[str, Any]:
    """A bare `loadPyodide()` in a browser launched on `profile`: its times and network."""
    with browser(playwright, profile) as context:
        page = context.pages[0] if context.pages else context.new_page()
        network = NetworkLog()
        cdp = network.listen(context, page)
        page.goto(url + ANCHOR_PATH)
        timings: dict[str, Any] = page.evaluate(BARE_LOAD_PYODIDE)
        cdp.detach()
        return {**timings, **network.summary()}


#: Blink's trace events for Pyodide's module: stored into, or taken from, the code cache.
CODE_CACHE_EVENTS = ("v8.wasm.cachedModule", "v8.wasm.moduleCacheHit", "v8.wasm.moduleCacheInvalid")


def wasm_code_cache(
    playwright: Playwright, profile: Path, url: str, visits: int = 3
) -> list[dict[str, int]]:
    """Chromium's WebAssembly code cache on `visits` visits with one profile: for each, how
    often the trace shows a compiled module stored, a cached one taken, one refused, and how
    many functions were compiled lazily (a hit leaves far fewer)."""
    counts = []
    for _ in range(visits):
        names = _traced_visit(playwright, profile, url)
        visit_counts = {name: names.count(name) for name in CODE_CACHE_EVENTS}
        visit_counts["wasm.CompileLazy"] = names.count("wasm.CompileLazy")
        counts.append(visit_counts)
    return counts


def _traced_visit(playwright: Playwright, profile: Path, url: str) -> list[str]:
    """The names of the trace events of one visit, WebAssembly's included."""
    events: list[dict[str, Any]] = []
    complete: list[bool] = []
    with browser(playwright, profile) as context:
        page = context.pages[0] if context.pages else context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.on("Tracing.dataCollected", lambda event: events.extend(event["value"]))
        cdp.on("Tracing.tracingComplete", lambda _: complete.append(True))
        categories = ["v8.wasm", "devtools.timeline", "disabled-by-default-devtools.timeline"]
        config = {"traceConfig": {"includedCategories": categories}, "transferMode": "ReportEvents"}
        cdp.send("Tracing.start", config)
        page.goto(url)
        page.wait_for_selector(READY, timeout=READY_TIMEOUT_MS)
        cdp.send("Tracing.end")
        while not complete:
            page.wait_for_timeout(50)
    return [str(event.get("name")) for event in events]


def run(url: str, *, cold_runs: int, warm_runs: int, anchor: bool = True) -> dict[str, Any]:
    """Median start-up figures of `cold_runs` fresh-profile visits and `warm_runs` returns,
    each followed by the same visit of the bare runtime (the anchor)."""
    runs: dict[str, list[dict[str, Any]]] = {
        "cold": [],
        "warm": [],
        "anchor_cold": [],
        "anchor_warm": [],
    }
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        warm_profile = Path(tmp) / "warm"
        anchor_profile = Path(tmp) / "anchor-warm"
        visit(playwright, warm_profile, url)  # primes the warm profile's caches; not counted
        if anchor:
            visit_anchor(playwright, anchor_profile, url)
        # Cold and warm visits alternate, so that a neighbour's load hits both alike.
        for n in range(max(cold_runs, warm_runs)):
            if n < cold_runs:
                runs["cold"].append(visit(playwright, Path(tmp) / f"cold-{n}", url))
                if anchor:
                    runs["anchor_cold"].append(
                        visit_anchor(playwright, Path(tmp) / f"anchor-cold-{n}", url)
                    )
                log(f"start-up cold {n + 1}/{cold_runs}: {_line(runs, 'cold')}")
            if n < warm_runs:
                runs["warm"].append(visit(playwright, warm_profile, url))
                if anchor:
                    runs["anchor_warm"].append(visit_anchor(playwright, anchor_profile, url))
                log(f"start-up warm {n + 1}/{warm_runs}: {_line(runs, 'warm')}")
        # Chromium keeps compiled WebAssembly here: a warm visit can skip compiling.
        cache_dir = warm_profile / "Default" / "Code Cache" / "wasm"
        wasm_code_cache_bytes = sum(
            path.stat().st_size for path in cache_dir.rglob("*") if path.is_file()
        )
        # Traced apart: tracing slows the visits down.
        code_cache = wasm_code_cache(playwright, Path(tmp) / "code-cache", url)
        log(f"wasm code cache, visit by visit: {code_cache}")
    result: dict[str, Any] = {
        "method": __doc__,
        "wasm_code_cache_bytes": wasm_code_cache_bytes,
        "wasm_code_cache": code_cache,
    }
    for cache in ("cold", "warm"):
        result[cache] = {"runs": runs[cache], "median": medians(runs[cache], PAGE_KEYS)}
        anchor_runs = runs[f"anchor_{cache}"]
        if anchor_runs:
            result[f"anchor_{cache}"] = {
                "runs": anchor_runs,
                "median": medians(anchor_runs, ANCHOR_KEYS),
            }
            page_ready = result[cache]["median"]["ready_ms"]
            bare_ready = result[f"anchor_{cache}"]["median"]["ready_ms"]
            if page_ready and bare_ready:
                result[cache]["median"]["ready_vs_bare_load_pyodide"] = page_ready / bare_ready
    return result


def timeline(median: dict[str, Any]) -> list[tuple[str, float, float]]:
    """The start-up's steps as (name, start ms, end ms), from a visit's median figures."""
    marks = [
        ("HTML and shell painted", 0.0, median.get("first_contentful_paint_ms")),
        (
            "PyScript loaded",
            median.get("first_contentful_paint_ms"),
            median.get("interpreter_called_ms"),
        ),
        (
            "Pyodide: download + compile",
            median.get("interpreter_called_ms"),
            median.get("wasm_instantiated_ms"),
        ),
        (
            "Pyodide: init (CPython, stdlib)",
            median.get("wasm_instantiated_ms"),
            median.get("interpreter_loaded_ms"),
        ),
        (
            "[files]: wheels, app modules",
            median.get("interpreter_loaded_ms"),
            median.get("py_ready_ms"),
        ),
        ("imports and app start", median.get("py_ready_ms"), median.get("ready_ms")),
        ("renderer warmed (after ready)", median.get("ready_ms"), median.get("renderer_warm_ms")),
    ]
    return [
        (name, float(start), float(end))
        for name, start, end in marks
        if start is not None and end is not None
    ]


def _line(runs: dict[str, list[dict[str, Any]]], cache: str) -> str:
    page = runs[cache][-1]
    text = f"ready at {page['ready_ms']:.0f} ms, {page['bytes'] / 1e6:.2f} MB"
    if runs[f"anchor_{cache}"]:
        text += f"; bare loadPyodide ready at {runs[f'anchor_{cache}'][-1]['ready_ms']:.0f} ms"
    return text


PAGE_KEYS = (
    "ready_ms",
    "renderer_warm_ms",
    "first_paint_ms",
    "first_contentful_paint_ms",
    "dom_content_loaded_ms",
    "load_ms",
    "core_downloaded_ms",
    "interpreter_called_ms",
    "runtime_downloaded_ms",
    "stdlib_downloaded_ms",
    "wasm_instantiated_ms",
    "interpreter_loaded_ms",
    "wheels_downloaded_ms",
    "app_downloaded_ms",
    "files_loaded_ms",
    "py_ready_ms",
    "downloads_done_ms",
    "long_tasks",
    "long_tasks_over_200ms",
    "longest_task_ms",
    "requests",
    "requests_from_cache",
    "bytes",
)
ANCHOR_KEYS = ("ready_ms", "load_pyodide_ms", "requests", "requests_from_cache", "bytes")


def medians(runs: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float | None]:
    """For each of `keys`, the median of the runs that have it."""
    return {
        key: median([float(run[key]) for run in runs if run.get(key) is not None]) for key in keys
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.startup`: the start-up part alone, for development."""
    import argparse
    import json

    from bench.common import server

    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--url", help="a running back end (default: start one)")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)

    def measure(url: str) -> dict[str, Any]:
        return run(
            url, cold_runs=args.cold_runs, warm_runs=args.warm_runs, anchor=not args.no_anchor
        )

    if args.url:
        result = measure(args.url)
    else:
        with server("--pace", "0") as page_server:
            result = measure(page_server.url)
    for cache in ("cold", "warm"):
        medians = result[cache]["median"]
        log(f"{cache}: " + ", ".join(f"{k} {v:.0f}" for k, v in medians.items() if v is not None))
        if f"anchor_{cache}" in result:
            log(f"anchor {cache}: {result[f'anchor_{cache}']['median']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
