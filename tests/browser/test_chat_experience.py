"""The chat as people use it: turns, regenerate, edit, copy, reload, scrolling, a11y, themes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.browser.conftest import READY, ask, open_page

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
QUESTION = "How does the page resume a dropped stream?"


def faulty(fault: str, transport: str = "fetch") -> str:
    return f"transport={transport}&endpoint={quote(f'api/chat?fault={fault}', safe='')}"


def chat_posts(page: Page) -> list[Request]:
    posts: list[Request] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    return posts


def test_later_questions_send_the_earlier_turns_as_history(page: Page, server_url: str) -> None:
    posts = chat_posts(page)
    open_page(page, server_url, "transport=fetch")
    first = ask(page, "What is PyScript?")
    expect(first).to_have_attribute("data-state", "done")
    second = ask(page, QUESTION)
    expect(second).to_have_attribute("data-state", "done")
    history = json.loads(posts[1].post_data or "{}")["history"]
    assert [item["role"] for item in history] == ["user", "assistant"]
    assert history[0]["content"] == "What is PyScript?"
    assert history[1]["content"].startswith("PyScript runs Python programs in the web browser [1].")


def test_regenerate_edit_copy_and_clear(page: Page, server_url: str) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    posts = chat_posts(page)
    open_page(page, server_url, "transport=fetch")
    expect(ask(page, "What is PyScript?")).to_have_attribute("data-state", "done")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done")
    answers = page.locator("[data-role=answer]")
    # Only the last answer can be regenerated.
    expect(page.locator("[data-action=regenerate]")).to_have_count(1)

    copy = answer.locator("[data-action=copy-answer]")
    copy.click()
    expect(copy).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("When the stream carries event ids, a reconnect resumes")
    assert "[1]" in copied  # the markdown, not the rendered text

    answer.locator("[data-action=regenerate]").click()
    expect(answers).to_have_count(2)
    expect(answers.nth(1)).to_have_attribute("data-state", "done")
    assert json.loads(posts[-1].post_data or "{}")["question"] == QUESTION

    page.locator("li.turn").first.hover()
    page.locator("[data-action=edit-question]").first.click()
    expect(page.locator("textarea[name=question]")).to_have_value("What is PyScript?")
    page.fill("textarea[name=question]", "What is Pyodide?")
    page.keyboard.press("Enter")
    expect(answers).to_have_count(1)
    expect(page.locator("[data-role=question]")).to_have_text(["What is Pyodide?"])
    expect(answers.first).to_have_attribute("data-state", "done")
    assert json.loads(posts[-1].post_data or "{}")["history"] == []

    page.click("[data-action=clear]")
    expect(answers).to_have_count(0)
    page.reload()
    page.wait_for_selector(READY)
    expect(answers).to_have_count(0)


@pytest.mark.parametrize("transport", ["eventsource", "fetch"])
def test_an_answer_cut_off_by_a_reload_resumes_exactly(
    page: Page, server_url: str, transport: str
) -> None:
    # echo: the answer is the question itself, so the whole text is known; 3 characters a
    # token, 0.05 s apart: the reload lands mid-answer.
    question = " ".join(f"word{n}" for n in range(60))
    open_page(page, server_url, faulty("echo:3,pace:0.05", transport))
    answer = ask(page, question)
    body = answer.locator("[data-role=answer-body]")
    expect(body).to_contain_text("word5")
    page.reload()
    page.wait_for_selector(READY)
    restored = page.locator("[data-role=answer]")
    expect(restored).to_have_count(1)
    expect(restored.first).to_have_attribute("data-state", "done", timeout=30_000)
    # Nothing repeated, nothing lost: exactly the answer.
    assert restored.first.locator("[data-role=answer-body]").inner_text().strip() == question
    expect(page.locator("[data-role=question]")).to_have_text([question])


def test_an_answer_the_server_no_longer_has_is_interrupted_with_continue(
    page: Page, server_url: str
) -> None:
    open_page(page, server_url, faulty("pace:0.2", "eventsource"))
    answer = ask(page, QUESTION)
    expect(answer.locator("[data-role=answer-body]")).to_contain_text("When the stream carries")
    # As if the back end had forgotten it (expired, restarted) while the page was away.
    page.evaluate(
        """() => {
          window.dispatchEvent(new Event("pagehide"));  // the page saves the conversation
          const turns = JSON.parse(sessionStorage.getItem("streamchat:conversation"));
          turns[turns.length - 1].rid = "forgotten";
          turns[turns.length - 1].last_event_id = "3";
          sessionStorage.setItem("streamchat:conversation", JSON.stringify(turns));
          sessionStorage.setItem = () => {};  // and the page's save on the way out is lost
        }"""
    )
    page.reload()
    page.wait_for_selector(READY)
    restored = page.locator("[data-role=answer]").first
    expect(restored).to_have_attribute("data-state", "stopped")
    expect(restored).to_have_attribute("data-finish", "interrupted")
    expect(restored.locator("[data-role=answer-cutoff]")).to_contain_text("interrupted")
    expect(restored.locator("button[data-action=continue]")).to_be_visible()
    expect(restored.locator("[data-role=answer-body]")).to_contain_text("When the stream carries")


def test_a_question_sent_while_the_runtime_loads_is_sent_when_ready(
    page: Page, server_url: str
) -> None:
    held: list[Route] = []
    page.route("**/pyodide.asm.wasm", lambda route: held.append(route))
    with page.expect_request("**/pyodide.asm.wasm"):
        page.goto(server_url, wait_until="domcontentloaded")
    expect(page.locator("html")).to_have_attribute("data-app-state", "loading")
    textarea = page.locator("textarea[name=question]")
    expect(textarea).to_be_enabled()
    page.wait_for_function(
        "document.querySelector('[data-role=load-banner]').textContent.includes('MB')"
    )
    total = json.loads((ROOT / "static/vendor/manifest.json").read_text())["total"]
    expect(page.locator("[data-role=load-banner]")).to_contain_text(f"of {total / 1e6:.1f} MB")
    textarea.fill("What is PyScript?")
    textarea.press("Enter")
    expect(page.locator("[data-role=pending]")).to_contain_text("will be sent as soon as")
    assert len(held) == 1
    held[0].fallback()
    page.wait_for_selector(READY, timeout=60_000)
    answer = page.locator("[data-role=answer]").first
    expect(answer).to_have_attribute("data-state", "done")
    expect(page.locator("[data-role=question]")).to_have_text(["What is PyScript?"])
    expect(page.locator("[data-role=pending]")).to_be_hidden()


def test_the_view_follows_the_answer_until_the_reader_scrolls_up(
    page: Page, server_url: str
) -> None:
    page.set_viewport_size({"width": 800, "height": 420})
    open_page(page, server_url, faulty("pace:0.05"))
    answer = ask(page, QUESTION)
    scroller = page.locator("#conversation")
    at_bottom = "el => el.scrollTop + el.clientHeight >= el.scrollHeight - 48"
    # Followed: scrolled well down (more than the 48 px that count as "at the bottom").
    page.wait_for_function(
        f"(() => {{ const el = document.querySelector('#conversation');"
        f" return el.scrollTop > 150 && ({at_bottom})(el); }})()"
    )
    scroller.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
    jump = page.locator("[data-action=jump-to-latest]")
    expect(jump).to_be_visible()
    assert scroller.evaluate("el => el.scrollTop") == 0
    jump.click()
    expect(jump).to_be_hidden()
    assert scroller.evaluate(at_bottom)
    expect(answer).to_have_attribute("data-state", "done", timeout=30_000)
    assert scroller.evaluate(at_bottom)


def test_the_view_still_follows_when_text_comes_in_before_its_own_scroll_is_reported(
    page: Page, server_url: str
) -> None:
    # The browser reports a scroll in the next frame. If more text came in meanwhile (the
    # end of an answer, its sources), the view is short of the bottom when the report
    # comes, though the reader never moved: that must not stop the following.
    page.set_viewport_size({"width": 800, "height": 420})
    open_page(page, server_url)
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done")
    scroller = page.locator("#conversation")
    scroller.evaluate(
        """el => {
            const answers = el.querySelector('[data-role=answers]');
            const grow = px => {
                const block = document.createElement('div');
                block.style.height = px + 'px';
                answers.append(block);
            };
            grow(100);
            el.scrollTop = el.scrollHeight;  // as the view follows; reported next frame
            grow(600);  // more text, before that report
        }"""
    )
    page.wait_for_function(
        "() => { const el = document.querySelector('#conversation');"
        " return el.scrollTop + el.clientHeight >= el.scrollHeight - 1; }",
        timeout=5_000,
    )
    expect(page.locator("[data-action=jump-to-latest]")).to_be_hidden()


def test_progress_is_announced_politely_and_the_answer_is_busy_while_it_streams(
    page: Page, server_url: str
) -> None:
    open_page(page, server_url, faulty("drop:5"))
    page.evaluate(
        """() => { window.__said = [];
          const status = document.querySelector('[role=status]');
          new MutationObserver(() => window.__said.push(status.textContent))
            .observe(status, {childList: true, characterData: true, subtree: true}); }"""
    )
    expect(page.locator("[role=status]")).to_have_attribute("aria-live", "polite")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer).not_to_have_attribute("aria-busy", "true")
    said: list[str] = page.evaluate("window.__said")
    assert said[0] == "Answering…"
    assert "Connection lost, retrying 1/3…" in said
    assert re.fullmatch(r"Answer complete, \d sources?\.", said[-1])
    assert len(said) <= 4, "the status region must not announce every token"
    expect(answer.locator("[data-role=answer-meta]")).to_contain_text("words/s")


def test_a_slow_server_is_reported_as_still_waiting(page: Page, server_url: str) -> None:
    open_page(page, server_url, faulty("stall:0"))
    answer = ask(page, QUESTION)
    meta = answer.locator("[data-role=answer-meta]")
    expect(meta).to_have_text("Waiting for the first words…")
    expect(meta).to_contain_text("Still waiting for the server", timeout=15_000)
    expect(page.locator("[role=status]")).to_have_text("Still waiting for the server…")
    page.click("[data-action=stop]")
    expect(answer).to_have_attribute("data-state", "stopped")


def run_axe(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=AXE)
    result = page.evaluate(
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


# axe-core is injected as an inline script, which the page's CSP rightly refuses.
@pytest.mark.browser_context_args(bypass_csp=True)
def test_axe_finds_no_accessibility_violations_in_either_theme(page: Page, server_url: str) -> None:
    open_page(page, server_url)
    answer = ask(page, "How is the retry delay computed with exponential back-off?")
    expect(answer).to_have_attribute("data-state", "done")
    assert run_axe(page) == []
    page.click("[data-action=toggle-theme]")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert run_axe(page) == []


def test_the_theme_follows_the_system_and_the_toggle_is_remembered(
    page: Page, server_url: str
) -> None:
    page.emulate_media(color_scheme="dark")
    open_page(page, server_url)
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "dark")
    toggle = page.locator("[data-action=toggle-theme]")
    expect(toggle).to_have_attribute("aria-label", "Switch to light theme")
    toggle.click()
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    page.wait_for_selector(READY)
    expect(html).to_have_attribute("data-theme", "light")


def test_a_narrow_screen_has_no_sideways_scrolling(page: Page, server_url: str) -> None:
    page.set_viewport_size({"width": 320, "height": 640})
    open_page(page, server_url)
    answer = ask(page, QUESTION)  # its answer has a table
    expect(answer).to_have_attribute("data-state", "done")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 320
    table = answer.locator("table")
    expect(table).to_have_css("overflow-x", "auto")
    box = table.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 320


SET_VISIBILITY = """state => {
  Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
  Object.defineProperty(document, 'hidden', {value: state === 'hidden', configurable: true});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_a_hidden_page_does_no_rendering_work_and_catches_up_when_shown(
    page: Page, server_url: str
) -> None:
    # Headless Chromium never hides a page (a minimized window still runs a few frames a
    # second), so the Page Visibility API is driven by hand, as a browser would drive it.
    open_page(page, server_url, faulty("pace:0.05"))
    page.evaluate(SET_VISIBILITY, "hidden")
    answer = ask(page, QUESTION)
    # Tokens are arriving (the status line counts them) but nothing has been rendered.
    expect(answer.locator("[data-role=answer-meta]")).to_contain_text("words/s")
    body = answer.locator("[data-role=answer-body]")
    assert body.inner_text() == ""
    page.evaluate(SET_VISIBILITY, "visible")
    # Caught up at once, by the visibilitychange handler itself, not at the next token.
    assert body.inner_text().startswith("When the stream carries")
    expect(answer).to_have_attribute("data-state", "streaming")
