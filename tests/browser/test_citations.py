"""Citations people can use (issue 18): a marker shows its source in a card on hover, keyboard
focus or tap, is named after it, takes one tab stop per source, never changes the URL's `#`,
and links use the theme's colours. The offline answerer cites its sources: its answer to
QUESTION cites two, each more than once."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import READY, ask, open_page

QUESTION = "How does the page resume a dropped stream?"
FIRST = ("Exponential back-off with jitter", "aws.amazon.com")
SECOND = ("Server-sent events", "html.spec.whatwg.org")
CARD = "[data-role=citation-card]"
MARKERS = "[data-role=answer-body] sup.citation-ref a"
#: Chromium's own link colours, unvisited and visited.
DEFAULT_LINK_COLOURS = {"rgb(0, 0, 238)", "rgb(85, 26, 139)"}
#: Whether the points 11.5 px above, below, left and right of a marker's centre hit it.
HIT_AROUND = """(marker) => {
  const box = marker.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  return [[0, -11.5], [0, 11.5], [-11.5, 0], [11.5, 0]].map(([dx, dy]) => {
    const hit = document.elementFromPoint(x + dx, y + dy);
    return hit !== null && hit.closest("sup.citation-ref a") === marker;
  });
}"""
#: What the page's `--accent` is, as a computed colour.
ACCENT = """() => {
  const probe = document.createElement("span");
  probe.style.color = "var(--accent)";
  document.body.append(probe);
  const colour = getComputedStyle(probe).color;
  probe.remove();
  return colour;
}"""


def answer_with_citations(page: Page, server_url: str) -> Locator:
    open_page(page, server_url)
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator("[data-role=citations] a[data-citation]")).to_have_count(2)
    return answer


def expect_card_for(page: Page, marker: Locator, title: str, site: str) -> Locator:
    """The card is shown for `marker`, which it describes, with its source's title and site."""
    card = page.locator(CARD)
    expect(card).to_be_visible()
    expect(card).to_have_attribute("role", "tooltip")
    expect(card.locator(".citation-card-title")).to_have_text(title)
    expect(card.locator(".citation-card-site")).to_have_text(site)
    link = card.get_by_role("link")
    expect(link).to_have_attribute("href", re.compile(rf"^https://{re.escape(site)}/"))
    expect(link).to_have_attribute("target", "_blank")
    expect(marker).to_have_attribute("aria-describedby", "citation-card")
    return card


def test_hovering_a_marker_shows_its_source_until_the_pointer_leaves(
    page: Page, server_url: str
) -> None:
    answer = answer_with_citations(page, server_url)
    first = answer.locator(MARKERS).first
    first.hover()
    card = expect_card_for(page, first, *FIRST)
    # The pointer can move onto the card, to its link, without the card going away.
    card.hover()
    page.wait_for_timeout(600)
    expect(card).to_be_visible()
    # Leaving both hides it.
    page.locator("textarea[name=question]").hover()
    expect(card).to_be_hidden()
    assert first.get_attribute("aria-describedby") is None

    # Another source's marker fills it with that source; Escape hides it, and only that:
    # the answer and the page are as they were.
    second = answer.locator(f"{MARKERS}[data-ref='2']").first
    second.hover()
    expect_card_for(page, second, *SECOND)
    page.keyboard.press("Escape")
    expect(card).to_be_hidden()
    expect(answer).to_have_attribute("data-state", "done")

    # After a reload, the answer restored from storage works the same.
    page.reload()
    page.wait_for_selector(READY, timeout=60_000)
    restored = page.locator(MARKERS).first
    expect(restored).to_have_attribute("aria-label", f"Source 1: {FIRST[0]}")
    restored.hover()
    expect_card_for(page, restored, *FIRST)


def test_the_keyboard_stops_once_per_source_and_hears_its_name(page: Page, server_url: str) -> None:
    answer = answer_with_citations(page, server_url)
    markers = answer.locator(MARKERS)
    refs = markers.evaluate_all("(all) => all.map((m) => m.dataset.ref)")
    assert refs.count("1") > 1
    assert refs.count("2") > 1, "the answer cites each source more than once"
    tabbable = "(all) => all.filter((m) => m.tabIndex >= 0).map((m) => m.dataset.ref)"
    assert markers.evaluate_all(tabbable) == ["1", "2"]
    for marker in markers.all():
        ref = marker.get_attribute("data-ref")
        name = FIRST[0] if ref == "1" else SECOND[0]
        expect(marker).to_have_accessible_name(f"Source {ref}: {name}")

    # From the question's Edit button, Tab through the answer to its Copy button.
    answer.locator("xpath=..").locator("[data-action=edit-question]").focus()
    focused = page.locator(":focus")
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        if focused.get_attribute("data-action") == "copy-answer":
            break
        ref = focused.get_attribute("data-ref")
        if ref is not None:
            reached.append(ref)
            title, site = FIRST if ref == "1" else SECOND
            expect(focused).to_have_accessible_name(f"Source {ref}: {title}")
            expect_card_for(page, focused, title, site)
    assert reached == ["1", "2"], "one tab stop per source"

    # Back on the second source's marker: Escape hides the card, the focus stays.
    for _ in range(30):
        page.keyboard.press("Shift+Tab")
        if focused.get_attribute("data-ref") == "2":
            break
    card = expect_card_for(page, focused, *SECOND)
    page.keyboard.press("Escape")
    expect(card).to_be_hidden()
    expect(focused).to_have_attribute("data-ref", "2")
    # Enter goes where the link points, the source in the list, without changing the URL.
    url = page.url
    page.keyboard.press("Enter")
    expect(focused).to_have_attribute("data-citation", "2")
    assert page.url == url


def test_a_click_on_a_marker_shows_the_card_and_leaves_the_url_alone(
    page: Page, server_url: str
) -> None:
    answer = answer_with_citations(page, server_url)
    url = page.url
    markers = answer.locator(MARKERS)
    # Every marker is a comfortable target: 24 × 24 px around its centre are the marker's.
    for marker in markers.all():
        marker.scroll_into_view_if_needed()
        assert marker.evaluate(HIT_AROUND) == [True] * 4
    for marker in (markers.first, markers.last):
        marker.click()
        ref = marker.get_attribute("data-ref")
        expect_card_for(page, marker, *(FIRST if ref == "1" else SECOND))
        assert page.evaluate("location.hash") == ""
        assert page.url == url


@pytest.mark.browser_context_args(
    has_touch=True, is_mobile=True, viewport={"width": 375, "height": 812}
)
def test_a_tap_shows_the_card_inside_a_narrow_screen(page: Page, server_url: str) -> None:
    answer = answer_with_citations(page, server_url)
    url = page.url
    markers = answer.locator(MARKERS)
    card = page.locator(CARD)
    for marker in (markers.first, answer.locator(f"{MARKERS}[data-ref='2']").first, markers.last):
        marker.tap()
        ref = marker.get_attribute("data-ref")
        expect_card_for(page, marker, *(FIRST if ref == "1" else SECOND))
        box = card.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 375
        assert box["y"] >= 0
        assert box["y"] + box["height"] <= 812
        assert page.url == url, "a tap on a marker does not jump"
    # It stays for the reader to use, until a tap elsewhere.
    page.wait_for_timeout(600)
    expect(card).to_be_visible()
    page.locator("[data-role=answer-meta]").tap()
    expect(card).to_be_hidden()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_links_to_sources_use_the_themes_colours(
    page: Page, server_url: str, scheme: Literal["light", "dark"]
) -> None:
    page.emulate_media(color_scheme=scheme)
    answer = answer_with_citations(page, server_url)
    expect(page.locator("html")).to_have_attribute("data-theme", scheme)
    accent = page.evaluate(ACCENT)
    assert accent not in DEFAULT_LINK_COLOURS
    marker = answer.locator(MARKERS).first
    marker.hover()
    links = [
        *answer.locator("[data-role=citations] a").all(),
        marker,
        page.locator(CARD).get_by_role("link"),
    ]
    colours = [link.evaluate("(link) => getComputedStyle(link).color") for link in links]
    assert colours == [accent] * len(links)
