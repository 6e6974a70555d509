"""examples/minimal/: a page that is not ours streams an answer with the installed wheel alone.

The back end serves the runtime (static/vendor/) and the answers; the example's own files
and the freshly built wheel are served to the browser by this test (`page.route`) at
`examples/minimal/`, as a static host would serve them next to each other.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.browser.conftest import PageProblems

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "minimal"
sys.path.insert(0, str(ROOT / "tools"))
from build_wheel import build  # noqa: E402

TYPES = {".html": "text/html", ".py": "text/x-python", ".toml": "application/toml"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("dist"))


@pytest.fixture
def example(page: Page, server_url: str, wheel: Path) -> str:
    """The example's URL, its files (and the wheel next to them) served by the test."""
    base = f"{server_url}examples/minimal/"

    def serve(route: Route) -> None:
        name = urlsplit(route.request.url).path.rsplit("/", 1)[-1] or "index.html"
        path = wheel if name == wheel.name else EXAMPLE / name
        if not path.is_file():
            route.fulfill(status=404, body="not found")
            return
        content_type = TYPES.get(path.suffix, "application/octet-stream")
        route.fulfill(status=200, body=path.read_bytes(), content_type=content_type)

    page.route(f"{base}**", serve)
    return base


def open_example(page: Page, url: str, transport: str, fault: str = "") -> None:
    endpoint = "../../api/chat" + (f"?fault={fault}" if fault else "")
    page.goto(f"{url}?transport={transport}&endpoint={quote(endpoint, safe='')}")
    page.wait_for_selector("html[data-ready]", timeout=60_000)


def ask(page: Page) -> None:
    page.click("button[data-action=send]")


@pytest.mark.parametrize("transport", ["fetch", "eventsource"])
def test_the_example_streams_renders_and_survives_a_dropped_connection(
    page: Page, example: str, server_url: str, transport: str
) -> None:
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/api/chat" in r.url else None)
    open_example(page, example, transport)
    ask(page)
    answer = page.locator("#answer")
    expect(answer).to_have_attribute("data-state", "done")
    body = answer.locator("[data-role=answer-body]")
    expected = body.inner_text()
    assert expected.startswith("When the stream carries")
    expect(body.locator("code").first).to_be_visible()  # rendered markdown, not the source
    expect(answer.locator("[data-role=citations] a[data-citation]").first).to_be_visible()
    expect(body.locator("a[href^='#sc-']").first).to_be_visible()  # markers link to sources

    requests.clear()
    open_example(page, example, transport, "drop:6")
    ask(page)
    expect(answer).to_have_attribute("data-state", "done")
    assert body.inner_text() == expected
    assert len(requests) == 2
    first = requests[0]
    if first.method == "POST":
        rid = json.loads(first.post_data or "{}")["rid"]
    else:
        rid = parse_qs(urlsplit(first.url).query)["rid"][0]
    attempts = httpx.get(f"{server_url}api/_faults/attempts", params={"rid": rid}).json()
    assert attempts == {"attempts": 2, "last_event_ids": [None, 6]}


def test_the_example_stops_an_answer_and_keeps_its_text(page: Page, example: str) -> None:
    open_example(page, example, "fetch", "pace:0.2")
    ask(page)
    answer = page.locator("#answer")
    body = answer.locator("[data-role=answer-body]")
    expect(body).not_to_have_text("")
    page.click("#stop")
    expect(answer).to_have_attribute("data-state", "stopped")
    assert body.inner_text()
    expect(answer).not_to_have_attribute("aria-busy", "true")


def test_a_refused_question_shows_why(page: Page, example: str, problems: PageProblems) -> None:
    problems.expected_errors.append("404")
    open_example(page, example, "fetch", "status:404")
    ask(page)
    answer = page.locator("#answer")
    expect(answer).to_have_attribute("data-state", "failed")
    expect(answer.locator("[role=alert]")).to_contain_text("404")
