"""The rough edges a new user hits: every element can be clicked, focused and hovered without
an error; the question box grows; the suggestion asks; Copy says so, then resets."""

from __future__ import annotations

from typing import Literal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ask, open_page

#: Everything a reader can point at in an answered page: text, markers, code, tables, links,
#: buttons. Sources' links are only hovered and focused (a click would leave the page).
TARGETS = (
    "[data-role=answer-body] p",
    "[data-role=answer-body] sup a",
    "[data-role=answer-body] code",
    "[data-role=answer-body] table td",
    "[data-role=answer-body] .code-block pre",
    "[data-role=question]",
    "[data-role=answer-meta]",
    "[data-role=citations] h3",
)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_clicking_focusing_and_hovering_everything_raises_nothing(
    page: Page, server_url: str, scheme: Literal["light", "dark"]
) -> None:
    page.emulate_media(color_scheme=scheme)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, server_url)
    expect(ask(page, "How does the page resume a dropped stream?")).to_have_attribute(
        "data-state", "done"
    )
    expect(ask(page, "What is Pyodide?")).to_have_attribute("data-state", "done")
    for selector in TARGETS:
        for element in page.locator(selector).all():
            element.hover()
            element.click()
    for link in page.locator("[data-role=citations] a").all():
        link.hover()
        link.focus()
    # Every button of the answers except those that change the conversation.
    for button in page.locator("[data-role=answers] button").all():
        action = button.get_attribute("data-action") or ""
        button.hover()
        button.focus()
        if action in ("copy-answer", "copy-code"):
            button.click()
    page.keyboard.press("Tab")
    expect(page.locator(".py-error")).to_have_count(0)
    expect(page.locator("[data-role=answer][data-state=done]")).to_have_count(2)


#: A browser without CSS `field-sizing` (Firefox, older Safari), as far as the page can tell:
#: the property is dropped from the stylesheet's rule and `CSS.supports` denies it.
WITHOUT_FIELD_SIZING = """
const supports = CSS.supports.bind(CSS);
CSS.supports = (...args) => !String(args[0]).includes("field-sizing") && supports(...args);
const sheet = new CSSStyleSheet();  // a constructed sheet: the page's CSP allows no <style>
sheet.replaceSync(".ask textarea { field-sizing: fixed !important; }");
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
"""


@pytest.mark.parametrize("field_sizing", [True, False], ids=["css", "without-field-sizing"])
def test_the_question_box_grows_with_its_text(
    page: Page, server_url: str, field_sizing: bool
) -> None:
    if not field_sizing:
        page.add_init_script(script=WITHOUT_FIELD_SIZING)
    open_page(page, server_url)
    box = page.locator("textarea[name=question]")
    one_line = box.bounding_box()
    box.fill("one\ntwo\nthree\nfour\nfive")
    five_lines = box.bounding_box()
    assert one_line is not None
    assert five_lines is not None
    assert five_lines["height"] > one_line["height"] * 2.5
    # Every line shows: nothing is scrolled out of view.
    assert box.evaluate("e => e.scrollHeight <= e.clientHeight + 2")
    # With field-sizing the stylesheet sizes it: a key press forces no layout from script
    # (while an answer streams, that layout would be all the answer's changes since the frame).
    assert bool(box.evaluate("e => e.style.height")) is not field_sizing


def test_the_suggestion_asks_it(page: Page, server_url: str) -> None:
    open_page(page, server_url)
    suggestion = page.locator("[data-action=suggest]")
    question = suggestion.inner_text().strip()
    suggestion.click()
    expect(page.locator("[data-role=question]")).to_have_text([question])
    expect(page.locator("[data-role=answer]").first).to_have_attribute("data-state", "done")


def test_copy_says_copied_then_goes_back(page: Page, server_url: str) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, server_url)
    answer = ask(page, "What is PyScript?")
    expect(answer).to_have_attribute("data-state", "done")
    copy = answer.locator("[data-action=copy-answer]")
    copy.click()
    expect(copy).to_have_text("Copied")
    expect(copy).to_have_text("Copy", timeout=5_000)
