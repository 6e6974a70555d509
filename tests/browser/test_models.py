"""A model behind the page, on cue: the scripted OpenAI-compatible server (tests/model_double.py)
behind the real back end (`--upstream`), on both transports.

Each test checks what the user sees and how many calls reached the model: a retry that
cannot help must not call it again, and a silent model must never be called twice.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ROOT, PageProblems, ask, open_page, running_backend

TRANSPORTS = ["eventsource", "fetch"]
#: The back end's question limit here, far below the page's own (4,000), so that a question
#: the page lets through is refused by the back end.
SERVER_LIMIT = 300


@pytest.fixture(scope="module")
def model() -> Iterator[str]:
    """The scripted model server; yields its base URL."""
    command = [sys.executable, "-m", "tests.model_double", "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://\S+/", line)
        assert match, f"the model double did not start: {line!r}"
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def backend(model: str) -> Iterator[str]:
    flags = ["--upstream", model + "v1", "--model", "scripted", "--ping-interval", "1"]
    with running_backend(*flags, "--max-question-chars", str(SERVER_LIMIT)) as url:
        yield url


@pytest.fixture
def calls(model: str) -> Any:
    """The model's record of requests, emptied before the test."""
    httpx.post(model + "reset", timeout=5).raise_for_status()

    def read() -> dict[str, Any]:
        record: dict[str, Any] = httpx.get(model + "calls", timeout=5).json()
        return record

    return read


def start(page: Page, backend: str, transport: str, extra: str = "") -> Page:
    return open_page(page, backend, f"transport={transport}{extra}")


def alert_of(answer: Locator) -> Locator:
    return answer.locator("[role=alert]")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("shape", ["reasoning-content", "reasoning-field", "think-tags"])
def test_reasoning_streams_apart_folds_away_and_stays_out_of_the_history(
    page: Page, backend: str, calls: Any, transport: str, shape: str
) -> None:
    start(page, backend, transport)
    answer = ask(page, f"What is six times seven? scenario={shape}")
    expect(answer).to_have_attribute("data-state", "done")
    reasoning = answer.locator("[data-role=reasoning]")
    expect(reasoning).to_contain_text("Let me think about this step by step.")
    expect(reasoning.locator("summary")).to_contain_text("Thought for")
    assert reasoning.evaluate("details => details.open") is False  # folded once text came
    body = answer.locator("[data-role=answer-body]")
    expect(body).to_have_text("The answer is 42.")
    assert "think" not in body.inner_html().lower()
    reasoning.locator("summary").click()  # can be reopened
    expect(reasoning.locator(".reasoning-body")).to_be_visible()

    follow_up = ask(page, "And the history?")
    expect(follow_up).to_have_attribute("data-state", "done")
    messages = calls()["requests"][-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "The answer is **42**."  # the answer, not its thinking


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_long_silence_is_the_model_thinking_not_a_lost_connection(
    page: Page, backend: str, calls: Any, transport: str
) -> None:
    # Heartbeats every second against a 3 s stall watch, for 8 s of silence: without them
    # the page would call the connection lost, and the back end would ask the model again.
    start(page, backend, transport, "&stallTimeout=3")
    answer = ask(page, "Take your time. scenario=silence seconds=8")
    meta = answer.locator("[data-role=answer-meta]")
    expect(meta).to_contain_text("The model is thinking…", timeout=15_000)
    expect(answer).to_have_attribute("data-state", "done", timeout=20_000)
    expect(answer.locator("[data-role=answer-body]")).to_have_text(
        "Sorry for the wait: here it is."
    )
    assert calls()["count"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_busy_model_is_waited_for_as_it_asks_and_answers_in_the_end(
    page: Page, backend: str, calls: Any, transport: str
) -> None:
    start(page, backend, transport)
    answer = ask(page, "Hello? scenario=rate-limit retry_after=2 fail_times=2")
    meta = answer.locator("[data-role=answer-meta]")
    expect(meta).to_contain_text("The model is busy: Rate limit reached")
    expect(meta).to_contain_text(re.compile(r"Retrying in \d s"))
    expect(answer).to_have_attribute("data-state", "done", timeout=30_000)
    expect(answer.locator("[data-role=answer-body]")).to_have_text("Thanks for waiting.")
    assert calls()["count"] == 3  # one model call per attempt


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_model_that_stays_busy_fails_in_its_own_words_after_three_retries(
    page: Page, backend: str, calls: Any, transport: str
) -> None:
    start(page, backend, transport)
    answer = ask(page, "Hello? scenario=rate-limit retry_after=1")
    expect(answer).to_have_attribute("data-state", "error", timeout=40_000)
    expect(alert_of(answer)).to_contain_text("The model is busy: Rate limit reached")
    expect(alert_of(answer).locator("button[data-action=retry]")).to_be_visible()
    assert calls()["count"] == 4


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("context-length", "exceeds the available context size"),
        ("bad-request", "Invalid value for 'temperature'"),
        ("unauthorized", "Incorrect API key provided"),
    ],
)
def test_a_refusal_shows_the_models_words_and_no_retry(
    page: Page, backend: str, calls: Any, transport: str, scenario: str, words: str
) -> None:
    start(page, backend, transport)
    answer = ask(page, f"Hi. scenario={scenario}")
    expect(answer).to_have_attribute("data-state", "error")
    alert = alert_of(answer)
    expect(alert).to_contain_text(words)
    if scenario == "context-length":
        expect(alert).to_contain_text("start a new chat")
    expect(alert.locator("button[data-action=retry]")).to_have_count(0)
    expect(answer.locator("[data-action=regenerate]")).to_have_count(0)
    assert calls()["count"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_cut_off_answer_says_so_and_continue_appends_to_it(
    page: Page, backend: str, calls: Any, transport: str
) -> None:
    start(page, backend, transport)
    answer = ask(page, "Tell me everything. scenario=length")
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer).to_have_attribute("data-finish", "length")
    expect(answer.locator("[data-role=answer-cutoff]")).to_contain_text("cut off")
    answer.locator("button[data-action=continue]").click()
    expect(answer).not_to_have_attribute("data-finish", "length")
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator("[data-role=answer-body]")).to_have_text(
        "The first part of a long answer, which goes on to the end."
    )
    expect(answer.locator("button[data-action=continue]")).to_have_count(0)
    record = calls()
    assert record["count"] == 2
    last = record["requests"][1]["messages"][-1]
    assert last == {"role": "assistant", "content": "The first part of a long answer, which"}

    # The next question is given the whole answer, continuation included, once.
    expect(ask(page, "Thanks.")).to_have_attribute("data-state", "done")
    messages = calls()["requests"][-1]["messages"]
    assert [m["content"] for m in messages[:2]] == [
        "Tell me everything. scenario=length",
        "The first part of a long answer, which goes on to the end.",
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_content_filter_stop_is_shown(page: Page, backend: str, transport: str) -> None:
    start(page, backend, transport)
    answer = ask(page, "Something. scenario=content-filter")
    expect(answer).to_have_attribute("data-finish", "content-filter")
    expect(answer.locator("[data-role=answer-cutoff]")).to_contain_text("content filter")
    expect(answer.locator("[data-role=answer-body]")).to_have_text("Part of an answer")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_usage_is_shown_quietly_in_the_footer(page: Page, backend: str, transport: str) -> None:
    start(page, backend, transport)
    answer = ask(page, "Count. scenario=usage")
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator("[data-role=usage]")).to_have_text("Tokens: 12 in, 5 out (3 reasoning)")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("scenario", "kept", "words"),
    [
        ("cut", "This answer breaks", "broke off"),
        ("error-mid-stream", "Starting", "The model crashed while generating."),
    ],
)
def test_a_broken_answer_keeps_its_text_and_says_why(
    page: Page, backend: str, calls: Any, transport: str, scenario: str, kept: str, words: str
) -> None:
    start(page, backend, transport)
    answer = ask(page, f"Go. scenario={scenario}")
    expect(answer).to_have_attribute("data-state", "error", timeout=20_000)
    expect(answer.locator("[data-role=answer-body]")).to_have_text(kept)
    expect(alert_of(answer)).to_contain_text(words)
    assert calls()["count"] == 1  # text was shown: asking again would repeat it


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_too_long_question_is_caught_before_sending_and_refused_if_sent(
    page: Page, backend: str, calls: Any, transport: str, problems: PageProblems
) -> None:
    problems.expected_errors.append("status of 400")  # the browser logs the fetch's 400
    start(page, backend, transport)
    textarea = page.locator("textarea[name=question]")
    counter = page.locator("[data-role=counter]")
    textarea.fill("x" * 3500)
    expect(counter).to_have_text("3,500 / 4,000 characters")
    textarea.fill("x" * 4001)
    expect(counter).to_contain_text("1 too many")
    page.keyboard.press("Enter")
    expect(page.locator("[role=status]")).to_contain_text("limit is 4,000")
    expect(page.locator("[data-role=answer]")).to_have_count(0)
    assert textarea.input_value() == "x" * 4001  # kept, to be shortened

    # Under the page's limit but over the back end's: refused in words, on either transport.
    answer = ask(page, "y" * (SERVER_LIMIT + 1))
    expect(answer).to_have_attribute("data-state", "error")
    expect(alert_of(answer)).to_contain_text(f"longer than {SERVER_LIMIT} characters")
    expect(alert_of(answer).locator("button[data-action=retry]")).to_have_count(0)
    assert calls()["count"] == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_back_end_that_is_down_is_not_called_a_drop_mid_answer(
    page: Page, backend: str, transport: str, problems: PageProblems
) -> None:
    problems.expected_errors.append("ERR_CONNECTION_REFUSED")
    start(page, backend, transport)
    # From here on the back end refuses every connection, as one that is down does.
    page.route("**/api/chat**", lambda route: route.abort("connectionrefused"))
    answer = ask(page, "Anyone there?")
    expect(answer).to_have_attribute("data-state", "error", timeout=30_000)
    expect(alert_of(answer)).to_contain_text("Could not reach the server")
    expect(alert_of(answer)).not_to_contain_text("middle of the answer")
