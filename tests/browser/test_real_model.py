"""The page against a real model: llama.cpp's llama-server with SmolLM2-135M, via the back end.

    page → back end (--upstream) → recording proxy (tests/upstream_proxy.py) → llama-server

The proxy shows what the back end asked the model and when it hung up; llama-server's own
`GET /slots` shows whether the model is still generating. `make llm` builds the model server
once into ~/.cache/streamchat/; without it these tests fail and say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ROOT, ask, open_page, running_backend
from tests.browser.real_model import (
    MODEL_NAME,
    busy_slots,
    eventually,
    llama_server,
    recorded,
    recording_proxy,
    streamed_content,
)

TRANSPORTS = ["eventsource", "fetch"]
FIRST = "My name is Ada. Say hello."
SECOND = "What is my name?"
LONG = "Write a very long story about a dragon, at least 500 words."
#: A short answer from this model takes 1-3 s on two busy cores; loading the page up to 10 s.
ANSWER_TIMEOUT_MS = 60_000
#: How soon llama-server must stop generating once the user presses Stop: measured 0.1-0.3 s
#: on a quiet machine, seconds when the machine is loaded (CI shares 2 cores with Chromium).
#: Below the back end's 15 s reader grace, so only the Stop itself can pass this test.
STOP_SECONDS = 10.0


@pytest.fixture(scope="session")
def model_url() -> Iterator[str]:
    with llama_server() as url:
        yield url


@pytest.fixture(scope="session")
def proxy_url(model_url: str) -> Iterator[str]:
    with recording_proxy(model_url) as url:
        yield url


@pytest.fixture(scope="session")
def real_backend_url(proxy_url: str) -> Iterator[str]:
    """The back end answering from the real model; greedy sampling, so runs are repeatable."""
    if not (ROOT / "static" / "vendor" / "pyodide" / "pyodide.mjs").exists():
        pytest.fail("static/vendor/ is missing: run `make setup` (or `make test`) first")
    flags = ("--upstream", proxy_url + "v1", "--model", MODEL_NAME, "--temperature", "0")
    with running_backend(*flags, "--ping-interval", "1") as url:
        yield url


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_follow_up_question_reaches_the_model_with_the_first_turn(
    page: Page, real_backend_url: str, proxy_url: str, transport: str
) -> None:
    seen = len(recorded(proxy_url))
    open_page(page, real_backend_url, f"transport={transport}")

    first = ask(page, FIRST)
    expect(first).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(first.locator("[data-role=answer-body]")).not_to_be_empty()
    second = ask(page, SECOND)
    expect(second).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(second.locator("[data-role=answer-body]")).not_to_be_empty()

    asked = _completions(recorded(proxy_url)[seen:])
    assert len(asked) == 2, [r["body"]["messages"] for r in asked]
    first_answer = streamed_content(asked[0]["response"])
    assert first_answer.strip()
    conversation = [m for m in asked[1]["body"]["messages"] if m["role"] != "system"]
    assert [m["role"] for m in conversation] == ["user", "assistant", "user"], conversation
    assert "My name is Ada" in conversation[0]["content"]
    assert conversation[1]["content"].strip() == first_answer.strip()
    assert conversation[2]["content"] == SECOND


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stop_ends_the_models_generation(
    page: Page,
    real_backend_url: str,
    proxy_url: str,
    model_url: str,
    transport: str,
) -> None:
    seen = len(recorded(proxy_url))
    open_page(page, real_backend_url, f"transport={transport}")
    answer = ask(page, LONG)
    # Some words on the screen: the model is well into the story, with hundreds to go.
    expect(answer.locator("[data-role=answer-body]")).to_have_text(
        re.compile(r"(\w+\W+){5}"), timeout=ANSWER_TIMEOUT_MS
    )
    assert busy_slots(model_url), "the model should be generating the story now"

    page.click("button[data-action=stop]")
    expect(answer).to_have_attribute("data-state", "stopped")
    assert eventually(lambda: not busy_slots(model_url), STOP_SECONDS), (
        f"llama-server still generates {STOP_SECONDS} s after Stop: slots"
        f" {busy_slots(model_url)}; the back end asked, and the proxy saw each end: "
        + repr([(r["path"], r["ended"]) for r in recorded(proxy_url)[seen:]])
    )
    (story,) = _completions(recorded(proxy_url)[seen:])
    assert story["ended"] == "disconnected"
    assert "[DONE]" not in story["response"]


def _completions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["path"] == "/v1/chat/completions"]
