"""Long open lists and tables: leading items rendered once, and the same HTML as a whole render.

Loose lists too: Python-Markdown makes an item a paragraph when a blank line separates it
from the item before or after it, so the generated lists mix blank lines, paragraphs
indented under an item, and tight runs, and every prefix is compared."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchat.long_tail import CHUNK_CHARS
from streamchat.render import render_markdown
from streamchat.stream_render import StreamRenderer
from tests.unit.test_stream_render import CITATIONS, Page, recording, stream

WORDS = ["a", "b c", "*em*", "**st", "`co`", "[1]", "[x](https://e.org)", "$x$", "\\", "&", "|"]
NESTED = ["  - nested *a*", "   1. nested", "    more `c`", "  continued", "      deeper"]
#: Lines that make a list loose: blank lines (with spaces too), and after one, an item's
#: own paragraph, nested list or indented code.
LOOSE = ["", "", "", "  ", "  second paragraph", "   - nested after a blank", "        code"]
#: Lines that end a list, or that tie its items together: none may be cut at.
TRICKY = [
    "",
    "  ```",
    "  | a | b |\n  | - | - |",
    "# Heading",
    "---",
    "lazy",
    "[a]: https://e.org",
    "- [^1]",
    "  $$",
    "-",
    "  ",
    "* other",
    "2) other",
    "\t- tab",
    " * other",  # an item of a new list, one space in
    " # heading",
    "  ```",
    "  > quoted",
]


def list_line(marker: str, choice: int, other: int, words: list[str]) -> str:
    """Mostly items of one list (`marker`), some nested lines, blank lines and what they
    make loose, now and then a tricky one."""
    if choice < 12:
        number = str(other + 1) if marker[0].isdigit() else ""
        task = ["", "[ ] ", "[x] "][other % 3] if choice == 11 else ""
        return f"{number}{marker.lstrip('1')} {task}{' '.join(words)}"
    if choice < 18:
        return NESTED[other % len(NESTED)] + " " + " ".join(words)
    if choice < 24:
        loose = LOOSE[other % len(LOOSE)]
        return loose + " " + " ".join(words) if loose.strip() else loose
    return TRICKY[other % len(TRICKY)]


def listish(*, tricky: bool) -> st.SearchStrategy[str]:
    """Lines of one list (`list_line`), first an item; without the `tricky` lines most of
    them are cut, which the tricky ones mostly prevent."""
    return st.sampled_from(["-", "*", "1.", "1)"]).flatmap(
        lambda marker: st.lists(
            st.builds(
                list_line,
                st.just(marker),
                st.integers(min_value=0, max_value=24 if tricky else 23),
                st.integers(min_value=0, max_value=30),
                st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
            ),
            min_size=3,
            max_size=30,
        ).map(lambda lines: "\n".join([list_line(marker, 0, 0, ["first"]), *lines]))
    )


LISTISH = listish(tricky=True)
LOOSISH = listish(tricky=False)
ROW_CELLS = ["a", "*b*", "`c|d`", "\\|", "", "**e", "[f](https://e.org)", "$y$"]
ROW = st.lists(st.sampled_from(ROW_CELLS), min_size=1, max_size=4).map(
    lambda cells: "| " + " | ".join(cells) + " |"
)
TABLE_LINES = st.one_of(ROW, ROW, ROW, st.sampled_from(["| a", "|", "text", "", "| - | - |"]))
TABLEISH = st.tuples(
    st.sampled_from(["| h | i |\n|:--|--:|\n", "| h | i | j |\n| --- | :-: | - |\n", "|h|\n|-|\n"]),
    st.lists(TABLE_LINES, min_size=2, max_size=30).map("\n".join),
).map("".join)
CUTS = st.lists(st.integers(min_value=1, max_value=200), max_size=30)


@settings(max_examples=300, deadline=None)
@given(text=LISTISH, cuts=CUTS, chunk=st.integers(min_value=1, max_value=60))
def test_a_long_list_in_any_chunks_shows_each_prefix_as_rendered_whole(
    text: str, cuts: list[int], chunk: int
) -> None:
    page = stream(text, cuts, None, check_steps=True, chunk_chars=chunk)
    assert page.html == render_markdown(text)


@settings(max_examples=300, deadline=None)
@given(text=LOOSISH, cuts=CUTS, chunk=st.integers(min_value=1, max_value=60))
def test_a_long_loose_list_in_any_chunks_shows_each_prefix_as_rendered_whole(
    text: str, cuts: list[int], chunk: int
) -> None:
    page = stream(text, cuts, None, check_steps=True, chunk_chars=chunk)
    assert page.html == render_markdown(text)


@settings(max_examples=300, deadline=None)
@given(text=TABLEISH, cuts=CUTS, chunk=st.integers(min_value=1, max_value=60))
def test_a_long_table_in_any_chunks_shows_each_prefix_as_rendered_whole(
    text: str, cuts: list[int], chunk: int
) -> None:
    page = stream(text, cuts, None, check_steps=True, chunk_chars=chunk)
    assert page.html == render_markdown(text)


@settings(max_examples=100, deadline=None)
@given(
    text=st.one_of(LISTISH, LOOSISH, TABLEISH),
    cuts=CUTS,
    chunk=st.integers(min_value=1, max_value=60),
    cite=st.booleans(),
)
def test_a_long_list_or_table_finished_with_citations_ends_in_the_whole_answer_html(
    text: str, cuts: list[int], chunk: int, cite: bool
) -> None:
    citations = CITATIONS if cite else None
    page = stream(text, cuts, citations, check_steps=False, colour_later=True, chunk_chars=chunk)
    assert page.html == render_markdown(text, citations)


def long_list(items: int) -> str:
    return "".join(
        f"{n + 1}. item {n} has *some* `words` [1]\n   - and a detail\n" for n in range(items)
    )


def long_loose_list(items: int) -> str:
    """Items apart, every third with a second paragraph, every seventh tight to the next."""
    return "".join(
        f"- item {n} has *some* `words` [1]\n"
        + ("\n  and a second paragraph\n" if n % 3 == 0 else "")
        + ("" if n % 7 == 6 else "\n")
        for n in range(items)
    )


def long_table(rows: int) -> str:
    rows_text = "".join(f"| row {n} | {n * 7} | *note* |\n" for n in range(rows))
    return "| name | value | note |\n|:--|--:|:-:|\n" + rows_text


@pytest.mark.parametrize(
    "text",
    [long_list(600), long_loose_list(450), long_table(1300)],
    ids=["list", "loose", "table"],
)
def test_a_frame_renders_only_the_last_items_of_a_long_list_or_table(text: str) -> None:
    rendered: list[str] = []
    renderer = StreamRenderer(recording(rendered))
    page = Page()
    assert len(text) > 15 * CHUNK_CHARS
    for start in range(0, len(text), 40):
        page.apply(renderer.feed(text[start : start + 40]))
    page.apply(renderer.finish(CITATIONS))
    assert page.html == render_markdown(text, CITATIONS)
    # No render sees more than a piece and the last items; all of them together see the
    # text a bounded number of times (linear), not once per frame (quadratic).
    assert max(map(len, rendered)) < CHUNK_CHARS + 300
    assert sum(map(len, rendered)) < 40 * len(text)


@pytest.mark.parametrize(
    "text",
    [
        "Intro\n" + long_list(200),  # a list after a paragraph
        "1. all in one\n" + long_list(200).replace("\n", "\n   "),  # one top-level item
        long_list(200).replace("[1]", "[^1]"),  # footnotes
        # a fence in a loose item (the renderer places fences by the whole list's looseness)
        long_loose_list(150).replace("\n\n", "\n\n  ```\n  code\n  ```\n\n", 1),
    ],
    ids=["after-paragraph", "one-item", "footnotes", "fence-in-loose"],
)
def test_shapes_that_cannot_be_cut_are_rendered_whole(text: str) -> None:
    rendered: list[str] = []
    renderer = StreamRenderer(recording(rendered), chunk_chars=200)
    page = Page()
    cuts = range(0, len(text), 500)
    for start, end in itertools.pairwise([*cuts, len(text)]):
        page.apply(renderer.feed(text[start:end]))
        assert page.html == render_markdown(text[:end], streaming=True)
    page.apply(renderer.finish())
    assert page.html == render_markdown(text)
    assert max(map(len, rendered)) >= len(text) - 500


FORMULA = "$" + "x+" * 900 + "x$"


@pytest.mark.parametrize(
    "text",
    [
        "- a\n- t:\n  | a | b |\n  | - | - |\n- last\n- more\n- more2\n",  # a table in an item
        "- a\n- b\n- c\n\n- d\n- e\n",  # loose at one item
        "- a\n\n- b\n\n- c\n\n- d\n- e\n- f\n",  # loose, then tight
        "1. a\n2. b\n3. c\n4. d\n\n\n5. e\n6. f\n",  # tight, then loose
        "- a\n- b\n  \n- c\n- d\n",  # a blank line of spaces
        "- a\n- b\n\n  second\n- c\n- d\n- e\n",  # a paragraph: a blank line after it
        "- a\n- b\n\n  - nested\n- c\n- d\n",  # a nested list after a blank line
        "- a\n\n- b\n\n      code\n- c\n- d\n",  # indented code in an item
        "- # h\n  text\n\n- b\n- c\n- d\n",  # text after a heading, then a blank line
        "- a\n- b\n\n-\n  c\n- d\n- e\n",  # an item that begins empty
        "- a\n- b\n * other\n- c\n- d\n- e\n",  # one space in: another list
        "1. a\n2. b\n 3) other\n4. c\n5. d\n",
        "- a\n\n- b\n\n- c\n\nafter\n\n- d\n",  # the list ends
        # a nested list of the other bullet or delimiter, then a blank line: still one list
        # (`streamchat.md_extensions._ListKind` puts the outer list's kind back)
        "- a\n  * n\n- b\n\n- c\n- d\n",
        "1) a\n1) b\n   1. n\n1) c\n\n1) d\n1) e\n",
        "* a\n\n* b\n* c\n  - n\n* d\n* e\n\n* f\n",
        "- a\n- b\n  ```\n  code\n  ```\n- c\n- d\n",  # a fence in an item
        "3. a\n4. b\n5. c\n6. d\n",  # its start number
        "- [a]\n- b\n- c\n- [a]: https://e.org\n- e\n",  # a definition in an item
        "- a[^1]\n- b\n- c\n- d\n\n[^1]: note\n",  # a footnote
        "- a\n- b\n- [x] c\n- d\n",  # a task item
        "- a\n- b\n- c\n* d\n- e\n",  # another bullet
        # an item that is a table's delimiter row makes the item before it a header
        "- first\n- a\n\n- | a\n- |\n- a\n- a",
        "- a\n- b\n  - | x\n  - |\n- c\n- d\n",
        "- a\n- b\n- c\nlazy\n- e\n",  # a lazy line
        "| a | b |\n|:-|-:|\n| 1 | 2 |\n| 3 | 4 |\n| 5 |\n| 6 | 7 | 8 |\nafter\n",
        "| a |\n| - |\n| 1 |\n| 2 |\n\n| 3 |\n| 4 |\n",
    ],
)
def test_items_tied_together_stream_as_rendered_whole(text: str) -> None:
    page = stream(text, list(range(len(text))), None, check_steps=True, chunk_chars=1)
    assert page.html == render_markdown(text)


def test_math_past_the_budget_of_one_render_streams_as_rendered_whole() -> None:
    text = "".join(f"- {FORMULA}\n" for _ in range(5))
    page = stream(text, list(range(0, len(text), 97)), None, check_steps=True, chunk_chars=1)
    assert page.html == render_markdown(text)
    assert FORMULA in page.html  # the last formulas stay source, as in one render


@pytest.mark.parametrize(
    "make", [long_list, long_loose_list, long_table], ids=["list", "loose", "table"]
)
def test_streaming_a_long_list_or_table_renders_in_linear_total(make: Callable[[int], str]) -> None:
    def work(items: int) -> int:
        rendered: list[str] = []
        text = make(items)
        renderer = StreamRenderer(recording(rendered))
        for start in range(0, len(text), 40):
            renderer.feed(text[start : start + 40])
        renderer.finish()
        return sum(map(len, rendered))

    # Twice the text, about twice the work (rendering it whole each frame: four times).
    assert work(400) < 2.3 * work(200)
