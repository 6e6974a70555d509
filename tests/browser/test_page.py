"""The page end to end: it loads from its own origin, streams an answer, renders it, cites it."""

from __future__ import annotations

import itertools

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import PageProblems, ask, open_page

CODE_QUESTION = "How is the retry delay computed with exponential back-off?"
TRANSPORTS = ["eventsource", "fetch"]

# Counts every change to the answer body, so the test can see that it streamed.
COUNT_UPDATES = """() => {
  window.__updates = 0;
  new MutationObserver(() => { window.__updates += 1; })
    .observe(document.querySelector('[data-role=answers]'),
             {childList: true, subtree: true, characterData: true});
}"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_question_is_answered_with_streamed_markdown_and_citations(
    page: Page, server_url: str, transport: str
) -> None:
    open_page(page, server_url, f"transport={transport}")
    page.evaluate(COUNT_UPDATES)
    answer = ask(page, CODE_QUESTION)
    expect(answer).to_have_attribute("data-state", "streaming")
    expect(answer).to_have_attribute("data-state", "done")

    body = answer.locator("[data-role=answer-body]")
    # A short cited explanation: paragraphs with markers, and the passage's code.
    expect(body.locator("h2")).to_have_count(0)
    assert body.locator("p").count() >= 2
    code = body.locator(".code-block")
    expect(code).to_have_count(1)
    expect(code).to_have_attribute("data-lang", "python")
    # Pygments highlighted it (when the thread was idle): keywords and names are spans
    # with token classes.
    expect(code.locator("pre span.k, pre span.kd")).not_to_have_count(0)
    expect(code.locator("pre span.nf")).not_to_have_count(0)

    sources = answer.locator("[data-role=citations] a[data-citation]")
    assert sources.count() >= 1
    for index in range(sources.count()):
        assert (sources.nth(index).get_attribute("href") or "").startswith("https://")
    marker = body.locator("sup.citation-ref a").first
    target = marker.get_attribute("href") or ""
    assert target.startswith("#")
    expect(page.locator(target)).to_have_count(1)

    assert page.evaluate("window.__updates") >= 3, "the answer appeared at once, not streamed"
    status = page.locator("[role=status]")
    expect(status).to_have_text(
        f"Answer complete, {sources.count()} source" + ("s." if sources.count() != 1 else ".")
    )
    expect(page.locator("textarea[name=question]")).to_be_focused()


def test_the_runtime_comes_from_the_pages_own_origin(page: Page, server_url: str) -> None:
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    open_page(page, server_url)
    assert any(url.endswith("/static/vendor/pyodide/pyodide.asm.wasm") for url in loaded)
    assert any(url.endswith("/static/vendor/pyscript/core.js") for url in loaded)
    assert any(url.endswith("/static/vendor/wheels.zip") for url in loaded)
    assert all(url.startswith(server_url) for url in loaded)
    # The `page` fixture also fails the test if any other host was even asked.


# For each module the page imported from its own packages and the wheels: whether it came
# with bytecode compiled ahead (tools/vendor.py) that matches its source, so Python used it.
BYTECODE_CHECK = """
import importlib.util, sys

def precompiled(module):
    source, cached = module.__spec__.origin, module.__spec__.cached
    try:
        with open(cached, "rb") as pyc, open(source, "rb") as py:
            header, data = pyc.read(16), py.read()
    except OSError:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if header[:4] != importlib.util.MAGIC_NUMBER or not flags & 1:
        return False
    return not flags & 2 or header[8:16] == importlib.util.source_hash(data)

packages = ("app", "streamchat", "markdown", "pygments", "pymdownx", "latex2mathml")
found = {
    name: precompiled(module)
    for name, module in list(sys.modules.items())
    if name.split(".")[0] in packages and getattr(module, "__spec__", None)
    and (module.__spec__.origin or "").endswith(".py")
}
[sorted(found), sorted(name for name, ok in found.items() if not ok)]
"""


def test_the_pages_python_is_compiled_ahead(page: Page, server_url: str) -> None:
    open_page(page, server_url)
    imported, not_compiled = page.evaluate(
        """async (code) => {
          const core = await import(new URL("static/vendor/pyscript/core.js", location.href).href);
          const python = (await core.whenDefined("py")).interpreter;
          return python.runPython(code).toJs();
        }""",
        BYTECODE_CHECK,
    )
    assert "streamchat.render" in imported
    assert "markdown.core" in imported
    assert "pygments.formatters.html" in imported
    assert not_compiled == [], "no bytecode, or stale: `make setup` compiles the page's modules"


def test_the_event_source_is_closed_after_done(page: Page, server_url: str) -> None:
    open_page(page, server_url, "transport=eventsource")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    answer = ask(page, "What is PyScript?")
    expect(answer).to_have_attribute("data-state", "done")
    # A native EventSource left open would reconnect after the server's retry: 1000 ms.
    with pytest.raises(PlaywrightTimeout):
        page.wait_for_event(
            "request", predicate=lambda request: "/api/chat" in request.url, timeout=2500
        )
    assert len([url for url in requests if "/api/chat" in url]) == 1


def test_an_unusable_configuration_fails_visibly(page: Page, server_url: str) -> None:
    page.goto(server_url + "?transport=carrier-pigeon")
    page.wait_for_selector("html[data-app-state=failed]", timeout=60_000)
    banner = page.locator("[data-role=load-banner]")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("unknown transport 'carrier-pigeon'")
    expect(banner).to_have_attribute("role", "alert")


def test_a_missing_runtime_file_fails_visibly(
    page: Page, server_url: str, problems: PageProblems
) -> None:
    problems.expected_errors.append("404")
    page.route("**/wheels.zip", lambda route: route.fulfill(status=404, body="gone"))
    page.goto(server_url)
    page.wait_for_selector("html[data-app-state=failed]", timeout=60_000)
    expect(page.locator("[data-role=load-banner]")).to_contain_text("could not start")


# Records the page's answer events as they come, from before the page is ready.
RECORD_EVENTS = """
window.__events = [];
for (const name of ["ready", "answer-started", "answer-changed", "answer"]) {
  document.addEventListener("streamchat:" + name, (event) => {
    // Copied as dispatched: the lazy fields (question, markdown) read now, not at the end.
    window.__events.push({name, detail: {...event.detail}});
  });
}
"""


def test_the_page_tells_its_scripts_about_each_answer_from_its_state(
    page: Page, server_url: str
) -> None:
    page.add_init_script(RECORD_EVENTS)
    open_page(page, server_url, "transport=fetch")
    answer = ask(page, "What is Pyodide?")
    expect(answer).to_have_attribute("data-state", "done")
    page.wait_for_function("window.__events.some((e) => e.name === 'answer')")
    events = page.evaluate("window.__events")
    names = [event["name"] for event in events]
    assert names[:2] == ["ready", "answer-started"]
    assert names[-1] == "answer"
    assert names.count("answer-changed") >= 2, "the answer changed as it streamed"
    assert events[1]["detail"] == {
        "state": "streaming",
        "question": "What is Pyodide?",
        "markdown": "",
    }
    changed = [e["detail"] for e in events if e["name"] == "answer-changed"]
    assert {detail["question"] for detail in changed} == {"What is Pyodide?"}
    changes = [detail["markdown"] for detail in changed]
    assert len(set(changes)) >= 2, "each change carries the markdown as it was then"
    done = events[-1]["detail"]
    # Markdown that only grows, from the answer's state: the end is the answer's own text.
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(changes))
    assert changes[-1] == done["markdown"]
    assert "\n\n" in done["markdown"]
    assert done["state"] == "done"


def test_an_error_in_the_pages_python_fails_visibly(
    page: Page, server_url: str, problems: PageProblems
) -> None:
    problems.expected_errors.append("boom in the page's Python")
    page.route(
        "**/app/main.py",
        lambda route: route.fulfill(
            body='raise RuntimeError("boom in the page\'s Python")\n',
            content_type="text/x-python",
        ),
    )
    page.goto(server_url)
    page.wait_for_selector("html[data-app-state=failed]", timeout=60_000)
    expect(page.locator("[data-role=load-banner]")).to_contain_text(
        "the Python runtime reported an error (RuntimeError: boom in the page's Python)"
    )
