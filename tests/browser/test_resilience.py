"""Resilience in the browser, for both transports: resume, retries, refusals, errors, stop.

Faults come from the reference back end's test-only switch (`--faults`): the page is
pointed at `api/chat?fault=…` through its own `?endpoint=` parameter.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import PageProblems, ask, open_page

QUESTION = "How does the page resume a dropped stream?"
TRANSPORTS = ["eventsource", "fetch"]


def open_with_fault(page: Page, server_url: str, transport: str, fault: str) -> list[Request]:
    """Open the page against a faulty endpoint; returns the list the chat requests land in."""
    requests: list[Request] = []
    page.on(
        "request",
        lambda r: requests.append(r) if "/api/chat" in r.url and r.method != "DELETE" else None,
    )
    endpoint = quote(f"api/chat?fault={fault}", safe="")
    open_page(page, server_url, f"transport={transport}&endpoint={endpoint}")
    return requests


def _rid(request: Request) -> str:
    if request.method == "POST":
        return str(json.loads(request.post_data or "{}")["rid"])
    return parse_qs(urlsplit(request.url).query)["rid"][0]


def answer_text(page: Page, server_url: str, transport: str) -> str:
    """The answer to QUESTION as a page shows it with no fault at all."""
    open_page(page, server_url, f"transport={transport}")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done")
    return answer.locator("[data-role=answer-body]").inner_text()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_dropped_connection_resumes_without_duplicated_or_lost_text(
    page: Page, server_url: str, transport: str
) -> None:
    expected = answer_text(page, server_url, transport)
    requests = open_with_fault(page, server_url, transport, "drop:6")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done")
    assert answer.locator("[data-role=answer-body]").inner_text() == expected
    assert len(requests) == 2
    # The back end's record of each attempt's Last-Event-ID (header or query parameter).
    rid = _rid(requests[0])
    attempts = httpx.get(f"{server_url}api/_faults/attempts", params={"rid": rid}).json()
    assert attempts == {"attempts": 2, "last_event_ids": [None, 6]}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_error_every_time_is_tried_four_times_then_shown(
    page: Page, server_url: str, transport: str, problems: PageProblems
) -> None:
    problems.expected_errors.append("500")
    requests = open_with_fault(page, server_url, transport, "status:500")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "error", timeout=30_000)
    assert len(requests) == 4
    alert = answer.locator("[role=alert]")
    expect(alert).to_be_visible()
    expect(alert.locator("button[data-action=retry]")).to_be_visible()
    expect(page.locator("[role=status]")).to_have_text(alert.locator("span").inner_text())


@pytest.mark.parametrize(("status", "words"), [(204, "no answer"), (404, "HTTP 404")])
def test_fetch_never_retries_a_204_or_a_4xx(
    page: Page, server_url: str, status: int, words: str, problems: PageProblems
) -> None:
    problems.expected_errors.append(str(status))
    requests = open_with_fault(page, server_url, "fetch", f"status:{status}")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "error")
    expect(answer.locator("[role=alert]")).to_contain_text(words)
    # Asking again the same way cannot help, so there is no Retry to press.
    expect(answer.locator("[role=alert] button[data-action=retry]")).to_have_count(0)
    assert len(requests) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_servers_retry_hint_is_honoured(page: Page, server_url: str, transport: str) -> None:
    requests = open_with_fault(page, server_url, transport, "retry:2500,drop:4")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done", timeout=30_000)
    assert len(requests) == 2
    first, second = requests
    dropped_at = first.timing["startTime"] + first.timing["responseEnd"]
    # Without the hint the first retry waits at most 1.25 s (1 s ± 25 %). The network's
    # responseEnd may be noted tens of milliseconds after the page saw the drop on a busy
    # machine, hence the margin (one run measured 2,442 ms against a 2,450 ms bound).
    assert second.timing["startTime"] - dropped_at >= 2500 - 250


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_error_event_keeps_the_partial_answer(
    page: Page, server_url: str, transport: str
) -> None:
    open_with_fault(page, server_url, transport, "error:8")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "error")
    expect(answer.locator("[role=alert]")).to_contain_text("overloaded")
    body = answer.locator("[data-role=answer-body]")
    assert body.inner_text().startswith("When the stream carries")


@pytest.mark.parametrize(("transport", "how"), [("eventsource", "button"), ("fetch", "escape")])
def test_stop_ends_a_slow_answer_and_keeps_its_text(
    page: Page, server_url: str, transport: str, how: str
) -> None:
    requests = open_with_fault(page, server_url, transport, "pace:0.2")
    answer = ask(page, QUESTION)
    body = answer.locator("[data-role=answer-body]")
    expect(body).not_to_have_text("")
    if how == "button":
        page.click("button[data-action=stop]")
    else:
        page.keyboard.press("Escape")
    expect(answer).to_have_attribute("data-state", "stopped")
    kept = body.inner_text()
    assert kept
    expect(page.locator("button[data-action=stop]")).to_be_hidden()
    # A later answer streams normally, so nothing was left running.
    requests.clear()
    next_answer = ask(page, "What is PyScript?")
    expect(next_answer.locator("[data-role=answer-body]")).not_to_have_text("")
    assert body.inner_text() == kept
    assert len(requests) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stop_pressed_right_after_sending_still_ends_the_answer(
    page: Page, server_url: str, transport: str
) -> None:
    open_with_fault(page, server_url, transport, "pace:0.2")
    page.fill("textarea[name=question]", QUESTION)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    answer = page.locator("[data-role=answer]").first
    expect(answer).to_have_attribute("data-state", "stopped")
    expect(page.locator("button[data-action=send]")).to_be_visible()
