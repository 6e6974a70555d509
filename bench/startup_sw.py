"""The service worker's effect on a repeat visit: the built site (`make dist`) with and
without it, in turns, on one machine (`python -m bench.startup_sw`).

Each site gets one browser profile, primed by a first visit (with the worker: until it has
kept the runtime and the page's Python). Then, in turns, each is visited again twice:
**warm** (HTTP cache and the worker's cache as the first visit left them) and **evicted**
(the HTTP cache emptied first, as browsers do to large files under storage pressure; the
worker's cache stays). Each visit is `bench.startup`'s: ready time, requests, bytes. Then two
traced warm visits per site say whether Chromium's WebAssembly code cache was hit
(`bench.startup.wasm_code_cache`). Figures in docs/startup.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from playwright.sync_api import Playwright, sync_playwright

from bench import startup
from bench.common import READY, READY_TIMEOUT_MS, browser, log

BASE = "/docs/chat/"
#: True once the worker of site version {version} has kept the runtime and the page's Python.
KEPT = """() => caches.open("streamchat-{version}").then((cache) => cache.keys())
  .then((keys) => ["pyodide.asm.wasm", "python_stdlib.zip", "app.zip", "wheels.zip"]
    .every((name) => keys.some((request) => request.url.endsWith("/" + name))))"""


def prime(playwright: Playwright, profile: Path, url: str, version: str | None) -> None:
    """A first visit, not counted; with a worker, until it has kept what the start needs."""
    with browser(playwright, profile) as context:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(READY, timeout=READY_TIMEOUT_MS)
        if version is not None:
            page.wait_for_function(KEPT.format(version=version), timeout=60_000, polling=200)


def evicted_visit(playwright: Playwright, profile: Path, url: str) -> dict[str, Any]:
    """A visit after the HTTP cache is emptied (the worker's cache, if any, stays)."""
    with browser(playwright, profile) as context:
        page = context.pages[0] if context.pages else context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.clearBrowserCache")
        cdp.detach()
        return startup.visit_in(context, url)


def run(runs: int) -> dict[str, Any]:
    # tools/ holds scripts, not a package: bench.common has put it on the path.
    from dist import build_site, content_security_policy, preview

    results: dict[str, Any] = {"runs": runs, "sites": {}}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sw-")))
        playwright = stack.enter_context(sync_playwright())
        sites = {}
        for name, worker in (("with worker", True), ("without", False)):
            build = build_site(tmp / name.replace(" ", "-"), gzip_level=1, service_worker=worker)
            url = stack.enter_context(preview(build.out, BASE, content_security_policy()))
            sites[name] = (url, build.version if worker else None, tmp / f"profile-{worker}")
            prime(playwright, sites[name][2], url, sites[name][1])
        visits: dict[str, dict[str, list[dict[str, Any]]]] = {
            name: {"warm": [], "evicted": []} for name in sites
        }
        for n in range(runs):
            for name, (url, _, profile) in sites.items():
                visits[name]["warm"].append(startup.visit(playwright, profile, url))
                visits[name]["evicted"].append(evicted_visit(playwright, profile, url))
                log(
                    f"{name} {n + 1}/{runs}: warm {visits[name]['warm'][-1]['ready_ms']:.0f} ms, "
                    f"evicted {visits[name]['evicted'][-1]['ready_ms']:.0f} ms"
                )
        for name, (url, _, profile) in sites.items():
            keys = ("ready_ms", "requests", "requests_from_cache", "bytes")
            results["sites"][name] = {
                kind: {"median": startup.medians(runs_, keys), "visits": runs_}
                for kind, runs_ in visits[name].items()
            }
            results["sites"][name]["wasm_code_cache"] = startup.wasm_code_cache(
                playwright, profile, url, visits=2
            )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup_sw", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    results = run(args.runs)
    for name, site in results["sites"].items():
        for kind in ("warm", "evicted"):
            log(f"{name}, {kind}: {site[kind]['median']}")
        log(f"{name}, code cache: {site['wasm_code_cache']}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
