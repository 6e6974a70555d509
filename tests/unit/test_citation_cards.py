"""Citation markers people can use: names, tab stops, the card's text and where it goes."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from app.answer_event import answer_detail
from app.chat import Turn
from app.citation_cards import (
    Rect,
    Source,
    accessible_name,
    link_text,
    place_card,
    site_of,
    source_for,
    tab_stops,
)
from streamchat.protocol import Citation, Usage

SSE = Citation(
    "1", "HTML Standard", "https://html.spec.whatwg.org/multipage/server-sent-events.html"
)


def test_a_marker_is_named_after_its_sources_title() -> None:
    assert accessible_name(source_for(SSE)) == "Source 1: HTML Standard"


@pytest.mark.parametrize(
    ("citation", "name"),
    [
        (Citation("2", "", "https://www.example.org/a/b?c"), "Source 2: www.example.org"),
        (Citation("3", "  ", "mailto:someone@example.org"), "Source 3: mailto:someone@example.org"),
        (Citation("4", "", ""), "Source 4"),
        (Citation("5", "", "https://[::1"), "Source 5: https://[::1"),
    ],
)
def test_without_a_title_the_name_falls_back_to_the_host_then_the_url(
    citation: Citation, name: str
) -> None:
    assert accessible_name(source_for(citation)) == name


def test_the_card_shows_the_site_and_links_only_to_the_web() -> None:
    source = source_for(SSE)
    assert source == Source("1", "HTML Standard", "html.spec.whatwg.org", SSE.url, SSE.url)
    assert link_text(source) == "Open html.spec.whatwg.org"
    # A source the list shows without a link has none in the card either.
    odd = source_for(Citation("2", "Notes", "javascript:alert(1)"))
    assert (odd.href, odd.site, odd.label) == ("", "", "Notes")
    assert link_text(odd) == "Open the source"


def test_a_snippet_is_shown_when_the_citation_carries_one() -> None:
    @dataclass(frozen=True)
    class WithSnippet(Citation):
        snippet: str = ""

    source = source_for(WithSnippet("1", "T", "https://a.example/", snippet=" A passage. "))
    assert source.snippet == "A passage."
    assert source_for(SSE).snippet == ""


def test_site_of() -> None:
    assert site_of(" https://Docs.Example.org:8443/x ") == "docs.example.org"
    assert site_of("not a url") == ""
    assert site_of("http://[oops/") == ""


def test_only_the_first_marker_of_each_source_is_a_tab_stop() -> None:
    assert tab_stops(["1", "1", "2", "1", "3", "2"]) == [True, False, True, False, True, False]
    assert tab_stops([]) == []


VIEWPORT = (1280.0, 800.0)


def test_the_card_goes_above_its_marker_when_there_is_room() -> None:
    placed = place_card(Rect(500, 400, 12, 14), 300, 120, *VIEWPORT)
    assert placed.side == "above"
    assert placed.top == 400 - 6 - 120
    assert placed.left == 500


def test_near_the_top_it_goes_below() -> None:
    placed = place_card(Rect(500, 40, 12, 14), 300, 120, *VIEWPORT)
    assert (placed.side, placed.top) == ("below", 40 + 14 + 6)


def test_with_room_on_neither_side_it_takes_the_larger_and_stays_on_screen() -> None:
    placed = place_card(Rect(10, 100, 12, 14), 300, 700, 375, 600)
    assert placed.side == "below"
    assert placed.top == 8  # moved up until its bottom fits, the top kept on screen
    tall = place_card(Rect(10, 100, 12, 14), 300, 900, 375, 600)
    assert tall.top == 8


@pytest.mark.parametrize("marker_left", [0.0, 20.0, 200.0, 360.0, 370.0])
def test_at_375_px_the_card_stays_inside_the_viewport(marker_left: float) -> None:
    width = 352.0  # min(22rem, 100vw - 16px)
    placed = place_card(Rect(marker_left, 300, 12, 14), width, 110, 375, 812)
    assert placed.left >= 8
    assert placed.left + width <= 375 - 8
    assert placed.top >= 8
    assert placed.top + 110 <= 812 - 8


def test_the_answer_event_carries_the_markdown_not_the_rendered_text() -> None:
    turn = Turn("What is Pyodide?")
    turn.answer = "Pyodide is CPython for WebAssembly [1].\n\nIt runs in the browser [1].\n"
    turn.state = "done"
    turn.citations = (SSE, Citation("2", "", "javascript:x"))
    turn.usage = Usage(prompt_tokens=12, completion_tokens=80)
    detail = answer_detail(turn)
    assert detail == {
        "state": "done",
        "markdown": turn.answer,
        "citations": [
            {"id": "1", "title": "HTML Standard", "url": SSE.url},
            {"id": "2", "title": "javascript:x", "url": ""},
        ],
        "usage": {"prompt": 12, "completion": 80, "reasoning": None},
        "finish": None,
        "error": None,
    }
    assert json.loads(json.dumps(detail)) == detail


def test_the_answer_event_of_a_failed_or_cut_off_answer() -> None:
    failed = Turn("Q", answer="Part", state="error", error="The server gave up.")
    assert answer_detail(failed)["error"] == "The server gave up."
    assert answer_detail(failed)["usage"] is None
    cut = Turn("Q", answer="Part", state="done", finish="length", error="stale")
    assert (answer_detail(cut)["finish"], answer_detail(cut)["error"]) == ("length", None)
