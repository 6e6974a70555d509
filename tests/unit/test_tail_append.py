"""Appending to the open tail: each rule appends exactly what a render adds, and refuses
whatever a render might show otherwise."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchat.blocks import split_blocks
from streamchat.heal import heal
from streamchat.render import render_markdown, render_parts
from streamchat.stream_render import AppendTail, Patch, StreamRenderer
from streamchat.tail_append import appended, tail_kind
from tests.unit.test_stream_render import Page, dom_append_point, recording, stream


def shown(tail: str) -> str:
    """The tail as the renderer shows it (`StreamRenderer`)."""
    return render_parts(heal(tail), None, {}, highlight=False).html


def feed_then(tail: str, delta: str) -> tuple[list[Patch], list[str]]:
    """Feeds `tail` then `delta`, checking what the page shows; the patches of `delta`, and
    the blocks rendered for it."""
    rendered: list[str] = []
    renderer = StreamRenderer(recording(rendered))
    page = Page()
    page.apply(renderer.feed(tail))
    rendered.clear()
    patches = renderer.feed(delta)
    page.apply(patches)
    assert page.html == render_markdown(tail + delta, streaming=True)
    return patches, rendered


@pytest.mark.parametrize(
    ("tail", "delta", "text", "kind"),
    [
        # Spaces at the end are shown in a paragraph or list item.
        ("Intro.\n\nThe answer", " is ", " is ", "prose"),
        ("- The answer ", "is", "is", "prose"),
        # A colon is plain: an address needs `//` or `@`.
        ("The fields", ": data, id", ": data, id", "prose"),
        # A line break at the end is held back, then shown with the line it begins.
        ("The answer is", " here\n", " here", "prose"),
        ("The answer is here\n", "and there", "\nand there", "prose"),
        ("- an item\n", "continued", "\ncontinued", "prose"),
        ("> quoted\n", "lazily", "\nlazily", "prose"),
        ("The answer", " is\nhere", " is\nhere", "prose"),
        # Inside an emphasis that healing closes; its spaces at the end held back.
        ("It is **very", " important", " important", "emphasis"),
        ("1. **Transport", " errors", " errors", "emphasis"),
        ("It is *quite", " so.", " so.", "emphasis"),
        ("It is ~~gone", " now", " now", "emphasis"),
        ("It is **very ", "much", " much", "emphasis"),
        ("It is **very", " much ", " much", "emphasis"),
        ("**Bold\nand", " more", " more", "emphasis"),
        # Inside a code span that healing closes: anything but a backtick is literal.
        ("Call `fetch", "(url, {a: 1})", "(url, {a: 1})", "code span"),
        ("Use `a", " <b> & *c* [d] ", " <b> & *c* [d] ", "code span"),
        ("**Call `fetch", "()", "()", "code span"),
        # An open code block: a line of spaces, and the last line break, are held back.
        ("```python\nx = 1\n", "    ", "\n", "code"),
        ("```python\nx = 1\n    ", "return", "    return", "code"),
        ("```python\nx = 1 ", " ", " ", "code"),
        ("```\n", "\n", "", "code"),
        # A table's last row, or its header, that stays incomplete stays hidden.
        ("| a | b |\n|---|---|\n| 1", " and one", "", "table row"),
        ("| a | b | c |\n|---|---|---|\n| 1", " | 2", "", "table row"),
        ("| a | b |\n|---|---|\n|", " ", "", "table row"),
        ("| a", " | b |", "", "table row"),
    ],
)
def test_text_that_only_extends_the_last_text_is_appended(
    tail: str, delta: str, text: str, kind: str
) -> None:
    assert tail_kind(tail, heal(tail)) == kind
    patches, rendered = feed_then(tail, delta)
    assert patches == ([AppendTail(text)] if text else [])
    assert rendered == []


@pytest.mark.parametrize(
    ("tail", "delta"),
    [
        # A line that may begin another block, or end this one.
        ("A paragraph", "\n- item"),
        ("A paragraph", "\n* item"),
        ("A paragraph", "\n1. item"),
        ("A paragraph", "\n# Heading"),
        ("A paragraph", "\n---"),
        ("A paragraph", "\n==="),
        ("A paragraph", "\n| a | b |"),
        ("A paragraph", "\n    code"),
        ("A paragraph", "\n> quote"),
        ("A paragraph", "\n<div>"),
        ("A paragraph", "\n```"),
        ("A paragraph", "\n\nNext"),
        ("A paragraph\n", "\nNext"),
        ("A paragraph\n", "- item"),
        ("A paragraph\n", "1. item"),
        ("A paragraph\n", " indented"),
        ("- item\n", "- next"),
        # A hard break: spaces or a backslash before the line break.
        ("A paragraph", " \nmore"),
        ("A paragraph", "  \nmore"),
        ("A paragraph  ", "\nmore"),
        ("A paragraph  \n", "more"),
        ("A paragraph\\", "\nmore"),
        # The first line after a blank one, once complete, may finish the block.
        ("- a\n\n- b", "\n"),
        ("Intro:\n\n1. Create it", ":\n"),
        # A quote's lines lose their spaces at the end.
        ("> A quote", " "),
        ("> A quote ", "more"),
        # Markup in the new text.
        ("A paragraph", " with `code"),
        ("A paragraph", " **bold"),
        ("A paragraph", " [link"),
        ("A paragraph", " www.example"),
        ("A paragraph", " http://x"),
        ("It is **very", " *much"),
        ("It is **very", "\nmuch"),
        ("Call `fetch", "()`"),
        ("Call `fetch", "\nmore"),
        ("Call `fetch", "\\n"),
        # Tails that are no such paragraph.
        ("# A heading", " more"),
        ("It is **", "bold"),
        ("Call `", "fetch"),
        ("Call ` fetch", " "),  # a space at both ends is dropped
        ("Call ``a`", "b"),
        ("Text with `a` ", "b"),
        ("Call `fetch", " a | b"),  # a `|` may make the line a table's row
        ("| a | b |\n|---|---|\n| x |\n b`a", " ||"),
        # A table row that becomes complete: a cell for every column, or a `|` at its end.
        ("| a | b |\n|---|---|\n| 1", " | 2"),
        ("| a | b |\n|---|---|\n| 1", " |"),
        ("| a |\n|---|\n|", " 1"),
        ("| a | b |\n|---|---|\n| 1", "\n"),
        # A code block that a fence closed, indented further than CommonMark allows.
        ("~~~\n     ~~~\n~~~ab\n", "x"),
    ],
)
def test_text_that_may_do_more_is_rendered(tail: str, delta: str) -> None:
    patches, rendered = feed_then(tail, delta)
    assert not any(isinstance(patch, AppendTail) for patch in patches)
    assert rendered, "not rendered"


def test_a_held_line_break_is_shown_once_the_next_line_continues_the_paragraph() -> None:
    renderer = StreamRenderer()
    page = Page()
    steps = [("The answer", None), (" is\n", " is"), ("here", "\nhere"), ("\n", ""), ("- x", None)]
    text = ""
    for delta, expected in steps:
        text += delta
        patches = renderer.feed(delta)
        page.apply(patches)
        assert page.html == render_markdown(text, streaming=True)
        if expected is not None:
            assert patches == ([AppendTail(expected)] if expected else [])
        else:
            assert not any(isinstance(patch, AppendTail) for patch in patches)


def test_a_paragraph_whose_line_break_was_held_is_not_rendered_again_when_it_finishes() -> None:
    rendered: list[str] = []
    renderer = StreamRenderer(recording(rendered))
    renderer.feed("The answer")
    assert renderer.feed(" is here\n") == [AppendTail(" is here")]
    rendered.clear()
    renderer.feed("\nNext paragraph.\n")
    assert rendered == ["Next paragraph.\n"], "the finished paragraph was rendered again"


#: Pieces of prose with the markup that the rules must tell apart.
PROSE_PIECES = [
    *["word", " word", "Word", " is", ".", ",", ":", "-", "'", "1", " 2"],
    *[" ", "  ", "\n", "\n\n", "\\", "\t"],
    *["- ", "* ", "+ ", "1. ", "2) ", "> ", "# ", "## ", "    ", "   ", "  - "],
    *["**", "*", "_", "__", "~~", "~", "`", "``", "```", "~~~"],
    *["---", "===", "|", " | ", "[", "]", "(", ")", "<div>", "&amp", "&", ";", "$", "www."],
]
PROSE = st.lists(st.sampled_from(PROSE_PIECES), max_size=24).map("".join)
PLAIN = st.lists(
    st.sampled_from(["word", " word", " ", "  ", "\n", ".", ":", "-", "x"]), max_size=6
).map("".join)


@settings(max_examples=600, deadline=None)
@given(tail=PROSE, delta=st.one_of(PLAIN, PROSE))
def test_what_is_appended_is_what_a_render_adds_where_the_page_adds_it(
    tail: str, delta: str
) -> None:
    open_tail = split_blocks(tail)[1]
    healed = heal(open_tail)
    kind = tail_kind(open_tail, healed)
    tail_html = render_parts(healed, None, {}, highlight=False).html
    found = appended(kind, open_tail, tail_html, delta) if kind else None
    if found is None:
        return
    point, text = found
    assert not text or point == dom_append_point(tail_html)
    grown = tail_html[:point] + html.escape(text, quote=False) + tail_html[point:]
    assert split_blocks(open_tail + delta)[0] == [], "a block finished"
    assert grown == shown(open_tail + delta)


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(st.sampled_from(PROSE_PIECES + ["word"] * 8), max_size=60).map("".join),
    cuts=st.lists(st.integers(min_value=1, max_value=80), max_size=30),
)
def test_prose_in_any_chunks_shows_each_prefix_as_rendered_whole(
    text: str, cuts: list[int]
) -> None:
    stream(text, cuts, None, check_steps=True)


TABLE_PIECES = ["| ", " | ", "|", "a", " b", "word", " ", "\n", "`", "\\", ":", "**", "-", "||"]


@settings(max_examples=200, deadline=None)
@given(
    head=st.sampled_from(
        ["| a | b |\n|---|---|\n", "| a | b | c |\n|:--|--:|---|\n", "| a |\n|---|\n", ""]
    ),
    body=st.lists(st.sampled_from(TABLE_PIECES), max_size=40).map("".join),
    cuts=st.lists(st.integers(min_value=1, max_value=60), max_size=30),
    chunk_chars=st.sampled_from([20, 1000]),
)
def test_tables_in_any_chunks_show_each_prefix_as_rendered_whole(
    head: str, body: str, cuts: list[int], chunk_chars: int
) -> None:
    stream(head + body, cuts, None, check_steps=True, chunk_chars=chunk_chars)
