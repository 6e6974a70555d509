"""The built site (`make dist`): served from a subpath by a plain static server under the strict
Content-Security-Policy of docs/hosting.md, it loads and answers with no console error.

The back end runs on another origin, so the page reaches it through CORS and `connect-src`.
A CSP violation is a console error, and an init script turns every `securitypolicyviolation`
event into one too, so a policy that is too strict fails the test.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Response, Route, expect

from tests.browser.conftest import READY, ROOT, PageProblems, _free_port, running_backend

# tools/ holds scripts, not a package: mypy and this test both know tools/dist.py as `dist`.
sys.path.insert(0, str(ROOT / "tools"))
from dist import Build, build_site, content_security_policy, preview

BASE = "/docs/chat/"
LOOPBACK = {"127.0.0.1", "localhost"}
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}` +
                ` (${event.sourceFile}:${event.lineNumber})`);
});
"""


def backend(
    cors_origin: str, port: int | None = None, *, faults: bool = False
) -> AbstractContextManager[str]:
    """The reference back end on 127.0.0.1, allowing `cors_origin`; yields its base URL."""
    return running_backend("--cors-origin", cors_origin, *["--faults"] * faults, port=port)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def loopback_context(browser: Browser, problems: PageProblems) -> Iterator[Page]:
    """A page that may reach 127.0.0.1 and localhost (two origins) and no other host.

    Like conftest's `page`, it fails the test on a console error, a page error or a request
    to any other host; in every frame, a CSP violation is a console error.
    """
    context = browser.new_context()

    def route(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            problems.foreign_requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert problems.foreign_requests == [], "the page asked hosts other than loopback"
    assert problems.errors == [], "the page reported errors"


@pytest.fixture
def loopback_page(browser: Browser, problems: PageProblems) -> Iterator[Page]:
    with loopback_context(browser, problems) as page:
        yield page


@pytest.fixture(scope="module")
def backend_port() -> int:
    return _free_port()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, backend_port: int) -> Build:
    # Level 1: the test needs .gz twins that work, not the smallest ones (the runtime's .br
    # twins are copied from static/vendor, made by `make setup`). The back end on
    # another origin is listed, so that `?endpoint=` may select it (app/config.py).
    endpoint = f"http://127.0.0.1:{backend_port}/api/chat"
    return build_site(tmp_path_factory.mktemp("dist") / "dist", gzip_level=1, endpoints=[endpoint])


def test_the_built_site_answers_from_a_subpath_under_a_strict_csp(
    loopback_page: Page, site: Build, backend_port: int
) -> None:
    page = loopback_page
    backend_origin = f"http://127.0.0.1:{backend_port}"
    csp = content_security_policy([backend_origin])
    with (
        preview(site.out, BASE, csp) as site_url,
        backend(origin(site_url), backend_port) as backend_url,
    ):
        responses: list[Response] = []
        page.on("response", lambda response: responses.append(response))
        page.goto(site_url + "?endpoint=" + quote(backend_url + "api/chat", safe=""))
        page.wait_for_selector(READY, timeout=60_000)
        page.fill("textarea[name=question]", "How does the page resume a dropped stream?")
        page.keyboard.press("Enter")
        answer = page.locator("[data-role=answer]").first
        expect(answer).to_have_attribute("data-state", "done")
        expect(answer.locator("[data-role=answer-body]")).to_contain_text("Last-Event-ID")

        document = next(r for r in responses if r.url.startswith(site_url))
        assert document.headers["content-security-policy"] == csp
        from_site = [r for r in responses if r.url.startswith(origin(site_url))]
        # Everything but the page itself comes from the versioned, immutable directory.
        versioned = site_url + f"v/{site.version}/"
        others = [r.url for r in from_site if not r.url.startswith((versioned, site_url + "?"))]
        assert others == []
        # static/boot.js fetches the runtime's sizes beside itself, not beside the page.
        manifest = next(r for r in from_site if r.url.endswith("/vendor/manifest.json"))
        assert manifest.url == versioned + "static/vendor/manifest.json"
        assert manifest.ok
        wasm = next(r for r in from_site if r.url.endswith("/pyodide.asm.wasm"))
        assert wasm.headers["content-encoding"] == "br"
        assert wasm.headers["content-type"] == "application/wasm"
        assert wasm.headers["vary"] == "Accept-Encoding"
        stdlib = next(r for r in from_site if r.url.endswith("/python_stdlib.zip"))
        assert stdlib.headers["content-encoding"] == "br"
        assert wasm.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert document.headers["cache-control"] == "no-cache"


# Each source of the policy, taken away, is refused at once: the policy is the minimum, and the
# test above would fail on a policy too strict. (The back end's origin in connect-src is shown
# by that test itself: its EventSource needs it.)
WITHOUT_ONE_SOURCE = {
    "script-src 'self'": ("script-src 'self' 'unsafe-eval'", "script-src 'unsafe-eval'"),
    "'unsafe-eval'": ("script-src 'self' 'unsafe-eval'", "script-src 'self' 'wasm-unsafe-eval'"),
    "style-src 'self'": ("style-src 'self'", "style-src 'none'"),
    "img-src 'self'": ("img-src 'self'", "img-src 'none'"),
    "connect-src 'self'": ("connect-src 'self'", "connect-src 'none'"),
}


@pytest.mark.parametrize("source", WITHOUT_ONE_SOURCE)
def test_each_source_of_the_policy_is_needed(
    loopback_page: Page, problems: PageProblems, site: Build, source: str
) -> None:
    needed, replacement = WITHOUT_ONE_SOURCE[source]
    csp = content_security_policy()
    assert needed in csp
    problems.expected_errors += ["CSP violation", "Content Security Policy", "Refused to"]
    with preview(site.out, BASE, csp.replace(needed, replacement)) as site_url:
        with loopback_page.expect_console_message(
            predicate=lambda message: message.text.startswith("CSP violation")
        ):
            loopback_page.goto(site_url)
        # Before the server goes: requests it would cut off are console errors too.
        loopback_page.goto("about:blank")


def test_the_site_needs_nothing_outside_its_directory(site: Build) -> None:
    index = (site.out / "index.html").read_text(encoding="utf-8")
    assert f'src="v/{site.version}/static/vendor/pyscript/core.js"' in index
    assert f'config="v/{site.version}/pyscript.toml"' in index
    assert Path(site.out / "embed.js").is_file()


# The service worker (static/sw.js): the first visit keeps what the page loaded, a repeat visit
# asks the server for the page alone, and with the server gone the page still starts.
CACHED_FILES = """(version) => caches.open("streamchat-" + version)
  .then((cache) => cache.keys()).then((keys) => keys.map((request) => request.url))"""
#: For each URL fetched, where the worker's static routes sent it (Resource Timing): "network"
#: when a route sent it past the worker, "" when the worker's fetch handler had it.
ROUTED = """async (urls) => {
  const seen = {};
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) seen[entry.name] = entry.workerMatchedSourceType;
  });
  observer.observe({type: "resource"});
  for (const url of urls) await (await fetch(url)).arrayBuffer();
  while (!urls.every((url) => url in seen)) await new Promise((done) => setTimeout(done, 50));
  observer.disconnect();
  return urls.map((url) => seen[url]);
}"""


def test_a_repeat_visit_starts_from_the_cache_and_offline(
    browser: Browser, problems: PageProblems, site: Build
) -> None:
    # No request routing here: Playwright's routing leaves out what a service worker serves.
    # Requests the page makes are still checked for their host.
    context = browser.new_context()
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    page.on("request", lambda request: _note_foreign(problems, request.url))
    page.set_default_timeout(30_000)
    served: list[str] = []
    versioned = f"{BASE}v/{site.version}/"
    versioned_url = f"v/{site.version}/static/style.css?again"
    try:
        with preview(site.out, BASE, content_security_policy(), log=served) as site_url:
            page.goto(site_url)
            page.wait_for_selector(READY, timeout=60_000)
            loaded = [path for path in served if path.startswith(versioned)]
            assert any(path.endswith("/pyodide.asm.wasm") for path in loaded)
            assert any(path.endswith("/app.zip") for path in loaded)
            # Once ready and idle, the page registers the worker, which keeps what it loaded.
            wanted = sorted({site_url + path.removeprefix(BASE) for path in loaded} | {site_url})
            page.wait_for_function(
                f"""(wanted) => ({CACHED_FILES})("{site.version}")
                  .then((urls) => wanted.every((url) => urls.includes(url)))""",
                arg=wanted,
                polling=200,
                timeout=30_000,
            )
            assert page.evaluate("navigator.serviceWorker.controller !== null")
            # Kept from the browser's HTTP cache: no file of the first visit came twice.
            again = [path for path in served if path.startswith(versioned)]
            assert sorted(again) == sorted(set(again)), "a file was downloaded twice"

            # The browser's HTTP cache, which alone would serve a repeat visit's runtime, is
            # emptied (browsers evict large files from it first): what follows is the worker's.
            cdp = context.new_cdp_session(page)
            cdp.send("Network.clearBrowserCache")
            served.clear()
            page.reload()
            page.wait_for_selector(READY, timeout=60_000)
            # The page itself is asked for (a new version shows at once); nothing else is.
            assert served == [BASE], served
            # What the worker does not serve goes to the network without it (static routing).
            routed = page.evaluate(ROUTED, [site_url + "embed.js", f"{site_url}{versioned_url}"])
            assert routed == ["network", ""], routed
        # The server is gone: the page starts from what the worker kept, and a question
        # asked then is answered with what happened.
        cdp.send("Network.clearBrowserCache")
        page.reload()
        page.wait_for_selector(READY, timeout=60_000)
        problems.expected_errors.append("ERR_CONNECTION_REFUSED")
        page.fill("textarea[name=question]", "Anyone there?")
        page.keyboard.press("Enter")
        answer = page.locator("[data-role=answer]").first
        expect(answer).to_have_attribute("data-state", "error", timeout=30_000)
        expect(answer.locator("[role=alert]")).to_contain_text("Could not reach the server")
    finally:
        context.close()
    assert problems.foreign_requests == [], "the page asked hosts other than loopback"
    assert problems.errors == [], "the page reported errors"


def _note_foreign(problems: PageProblems, url: str) -> None:
    if urlsplit(url).hostname not in LOOPBACK and not url.startswith(("data:", "blob:")):
        problems.foreign_requests.append(url)
