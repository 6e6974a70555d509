"""Incremental rendering: patches that, applied in order, give the whole answer's HTML."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchat.long_tail import CHUNK_CHARS
from streamchat.md_extensions import Definition
from streamchat.render import RenderBlock, RenderedBlock, render_markdown, render_parts
from streamchat.stream_render import (
    AppendBlock,
    AppendTail,
    Patch,
    ReplaceBlock,
    SetTail,
    StreamRenderer,
)

CORPUS = Path(__file__).parent / "corpus"
ANSWERS = {path.name: path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.md"))}
CITATIONS = {"1": "#a1-source-1", "2": "#a1-source-2", "3": "#a1-source-3"}
HTML_PARTS = re.compile(r"<[^>]*>|[^<]+")
VOID_TAG = re.compile(r"<(?:br|hr|img|input)\b|<[^>]*/>")


class Page:
    """A list model of the answer body: the finished blocks, then the live tail."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.tail = ""

    def apply(self, patches: list[Patch]) -> None:
        for patch in patches:
            if isinstance(patch, AppendBlock):
                self.blocks.append(patch.html)
            elif isinstance(patch, SetTail):
                self.tail = patch.html
            elif isinstance(patch, AppendTail):
                # As the page does it (independently of streamchat.tail_append's rules).
                point = dom_append_point(self.tail)
                text = html.escape(patch.text, quote=False)
                self.tail = self.tail[:point] + text + self.tail[point:]
            else:
                self.blocks[patch.index] = patch.html

    @property
    def html(self) -> str:
        return "".join(self.blocks) + self.tail


def dom_append_point(tail: str) -> int:
    """Where the page's `_append_text` (app/browser/dom.py) puts appended text in `tail`'s
    HTML: into the last element, again and again, passing over texts of spaces only (the
    line breaks between closing tags); after the text found there, else at the end of the
    element it stopped in."""
    end = len(tail)  # the end of the element walked into
    for part in reversed(list(HTML_PARTS.finditer(tail))):
        if part.group().startswith("</"):
            end = part.start()  # walk into that element
        elif part.group().startswith("<"):
            assert not VOID_TAG.match(part.group()), f"appended into {part.group()}"
            return end  # the element walked into begins: it holds no text
        elif part.group().strip():
            return part.end()
    return end


def stream(
    text: str,
    cuts: list[int],
    citations: Mapping[str, str] | None,
    *,
    check_steps: bool,
    colour_later: bool = False,
    chunk_chars: int = CHUNK_CHARS,
) -> Page:
    """With `colour_later`, the blocks are coloured (`colour_next`) before each check, and
    the last piece of text is given to `finish` rather than fed, as the page does.
    `chunk_chars`: how much of a long list or table is frozen at once (`streamchat.long_tail`)."""
    renderer = StreamRenderer(colour_later=colour_later, chunk_chars=chunk_chars)
    page = Page()
    positions = sorted({cut for cut in cuts if 0 < cut < len(text)})
    pieces = [
        text[start:end] for start, end in zip([0, *positions], [*positions, len(text)], strict=True)
    ]
    last = pieces.pop() if colour_later else ""
    for end, piece in zip(itertools.accumulate(map(len, pieces)), pieces, strict=True):
        page.apply(renderer.feed(piece))
        if colour_later:
            colour_all(renderer, page)
        assert page.blocks == renderer.blocks_html
        assert page.tail == renderer.tail_html
        if check_steps:
            assert page.html == render_markdown(text[:end], streaming=True)
    page.apply(renderer.finish(citations, last))
    colour_all(renderer, page)
    assert renderer.text == text
    return page


def colour_all(renderer: StreamRenderer, page: Page) -> None:
    """Colours in the smallest slices the renderer allows (`enough` is always true), as
    a page whose idle callbacks are all short would."""
    while renderer.uncoloured:
        page.apply(renderer.colour_next(lambda: True))
    assert renderer.colour_next() == []


@pytest.mark.parametrize(
    "name", ["02_python_setup.md", "06_quote_and_breaks.md", "13_api_reference.md"]
)
def test_one_character_at_a_time_shows_each_prefix_as_rendered_whole(name: str) -> None:
    text = ANSWERS[name]
    page = stream(text, list(range(len(text))), CITATIONS, check_steps=True)
    assert page.html == render_markdown(text, CITATIONS)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(ANSWERS)),
    fractions=st.lists(st.floats(min_value=0, max_value=1), max_size=30),
    cite=st.booleans(),
)
def test_any_chunking_ends_in_the_whole_answer_html(
    name: str, fractions: list[float], cite: bool
) -> None:
    text = ANSWERS[name]
    citations = CITATIONS if cite else None
    page = stream(text, [int(f * len(text)) for f in fractions], citations, check_steps=False)
    assert page.html == render_markdown(text, citations)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(ANSWERS)),
    fractions=st.lists(st.floats(min_value=0, max_value=1), max_size=30),
    cite=st.booleans(),
)
def test_colouring_later_and_finishing_with_the_rest_end_in_the_whole_answer_html(
    name: str, fractions: list[float], cite: bool
) -> None:
    text = ANSWERS[name]
    citations = CITATIONS if cite else None
    cuts = [int(f * len(text)) for f in fractions]
    page = stream(text, cuts, citations, check_steps=False, colour_later=True)
    assert page.html == render_markdown(text, citations)


def test_finished_blocks_are_appended_once_and_never_touched_while_streaming() -> None:
    renderer = StreamRenderer()
    assert renderer.feed("# Title\n\nFirst para") == [SetTail("<h1>Title</h1>\n<p>First para</p>")]
    assert renderer.feed("graph.\n\nSecond") == [
        AppendBlock("<h1>Title</h1>"),
        SetTail("<p>First paragraph.</p>\n<p>Second</p>"),
    ]
    assert renderer.feed("\n") == [
        AppendBlock("<p>First paragraph.</p>"),
        SetTail("<p>Second</p>"),
    ]
    assert renderer.feed("") == []
    assert renderer.feed(" ") == []  # same HTML: no patch
    assert renderer.finish() == [AppendBlock("<p>Second</p>"), SetTail("")]
    assert renderer.blocks_html == ["<h1>Title</h1>", "<p>First paragraph.</p>", "<p>Second</p>"]
    assert renderer.tail_html == ""


def test_the_tail_is_healed_while_streaming() -> None:
    renderer = StreamRenderer()
    assert renderer.feed("Some **bold") == [SetTail("<p>Some <strong>bold</strong></p>")]
    assert renderer.feed(" text** and `co") == [
        SetTail("<p>Some <strong>bold text</strong> and <code>co</code></p>")
    ]


def test_citations_rerender_only_the_blocks_that_cite() -> None:
    renderer = StreamRenderer()
    renderer.feed("Intro.\n\nSSE reconnects [1].\n\nNo markers here.\n\nEnd [2]\n")
    assert len(renderer.blocks_html) == 3
    patches = renderer.finish({"1": "#s1", "2": "#s2"})
    assert [type(patch) for patch in patches] == [ReplaceBlock, AppendBlock, SetTail]
    replaced = patches[0]
    assert isinstance(replaced, ReplaceBlock)
    assert replaced.index == 1
    assert 'href="#s1"' in replaced.html
    assert 'href="#s2"' in renderer.blocks_html[-1]


def test_unknown_citation_markers_leave_blocks_alone() -> None:
    renderer = StreamRenderer()
    renderer.feed("See [3].\n\nEnd.\n")
    assert renderer.finish({"1": "#s1"}) == [AppendBlock("<p>End.</p>"), SetTail("")]


def test_feeding_after_finish_is_an_error() -> None:
    renderer = StreamRenderer()
    renderer.feed("Done.")
    renderer.finish()
    assert renderer.finish() == []
    with pytest.raises(RuntimeError):
        renderer.feed("more")


def recording(rendered: list[str]) -> RenderBlock:
    """`render_parts`, noting in `rendered` each block it is given."""

    def render(
        block: str,
        citations: Mapping[str, str] | None,
        references: Mapping[str, Definition] | None,
        *,
        highlight: bool = True,
    ) -> RenderedBlock:
        rendered.append(block)
        return render_parts(block, citations, references, highlight=highlight)

    return render


def test_cost_of_a_feed_does_not_grow_with_the_answer() -> None:
    rendered: list[str] = []
    text = ANSWERS["12_long_guide.md"]
    renderer = StreamRenderer(recording(rendered))
    for start in range(0, len(text), 20):
        renderer.feed(text[start : start + 20])
    renderer.finish()
    longest_block = max(len(block) for block in renderer_blocks(text))
    # Each render sees at most the open block plus one chunk, never the finished text.
    assert max(len(block) for block in rendered) <= longest_block + 20
    assert longest_block < len(text) / 10


def renderer_blocks(text: str) -> list[str]:
    from streamchat.blocks import split_blocks

    blocks, tail = split_blocks(text)
    return [*blocks, tail]


def test_a_reference_link_becomes_a_link_when_its_definition_arrives() -> None:
    renderer = StreamRenderer()
    page = Page()
    page.apply(renderer.feed("Read [the docs][1].\n\nMore.\n\n[1]: https://docs.exa"))
    page.apply(renderer.feed("mple\n"))
    # Not while the definition streams: it might not be finished.
    assert page.blocks == ["<p>Read [the docs][1].</p>", "<p>More.</p>"]
    patches = renderer.finish()
    page.apply(patches)
    assert isinstance(patches[0], ReplaceBlock)
    assert patches[0].index == 0
    assert 'href="https://docs.example"' in page.blocks[0]
    assert page.html == render_markdown(renderer.text)


def test_a_definition_in_a_finished_block_links_earlier_blocks_while_streaming() -> None:
    text = "See [x].\n\n[x]: https://x.example\n\nAnd [x] again, [^n].\n\n[^n]: A note.\n\nEnd"
    renderer = StreamRenderer()
    page = Page()
    for end in range(1, len(text) + 1):
        page.apply(renderer.feed(text[end - 1]))
        assert page.html == render_markdown(text[:end], streaming=True)
    page.apply(renderer.finish())
    assert page.html == render_markdown(text)
    assert page.html.count('href="https://x.example"') == 2
    assert 'href="#fn-n-' in page.html


def test_an_unfinished_formula_shows_as_source_while_streaming() -> None:
    renderer = StreamRenderer()
    renderer.feed("The area is $$\\pi r_1^2 + a_")
    assert "<math" not in renderer.tail_html
    assert "<em>" not in renderer.tail_html
    renderer.feed("2$$ exactly.")
    assert '<math display="block">' in renderer.tail_html


@pytest.mark.parametrize(
    ("opening", "shown"), [("\\[ x = \\frac{a}{b}", "\\[ x = \\frac{a}{b}"), ("\\(a^2", "\\(a^2")]
)
def test_an_unfinished_bracket_formula_keeps_its_backslash_while_streaming(
    opening: str, shown: str
) -> None:
    renderer = StreamRenderer()
    renderer.feed("Then " + opening)
    assert renderer.tail_html == f"<p>Then {shown}</p>"
    renderer.feed(" \\]" if opening.startswith("\\[") else "\\)")
    assert "<math" in renderer.tail_html
    assert "\\" not in renderer.tail_html


def test_a_finished_answer_ends_unhealed() -> None:
    renderer = StreamRenderer()
    assert renderer.feed("It is 4*5.") == [SetTail("<p>It is 4<em>5.</em></p>")]
    assert renderer.finish() == [AppendBlock("<p>It is 4*5.</p>"), SetTail("")]


def words(text: str) -> list[int]:
    """Cuts before each space that precedes a word, as models stream (" word" tokens)."""
    return [match.start() for match in re.finditer(r"\s+\S", text)] + [len(text)]


@pytest.mark.parametrize("name", sorted(name for name, text in ANSWERS.items() if len(text) < 6000))
def test_words_streamed_mostly_extend_the_tail_and_match_a_full_render(name: str) -> None:
    text = ANSWERS[name]
    renderer = StreamRenderer()
    page = Page()
    appended = 0
    cuts = words(text)
    for start, end in zip([0, *cuts], cuts, strict=False):
        patches = renderer.feed(text[start:end])
        page.apply(patches)
        appended += any(isinstance(patch, AppendTail) for patch in patches)
        assert page.html == render_markdown(text[:end], streaming=True)
    page.apply(renderer.finish())
    assert page.html == render_markdown(text)
    assert appended > 0


def test_most_words_of_prose_need_no_render() -> None:
    text = ANSWERS["12_long_guide.md"]
    renderer = StreamRenderer()
    kinds: list[str] = []
    cuts = words(text)
    for start, end in zip([0, *cuts], cuts, strict=False):
        patches = renderer.feed(text[start:end])
        kinds.append("append" if any(isinstance(p, AppendTail) for p in patches) else "render")
    assert kinds.count("append") / len(kinds) > 0.5


CODEISH = st.lists(st.sampled_from([*"ab <&>`~\n\t ", "\n\n", "```"]), max_size=30).map("".join)


@settings(max_examples=200, deadline=None)
@given(
    fence=st.sampled_from(["```", "~~~", "````python", "```js", "  ```", "- ```"]),
    body=CODEISH,
    cuts=st.lists(st.integers(min_value=1, max_value=50), max_size=20),
)
def test_code_in_any_chunks_shows_each_prefix_as_rendered_whole(
    fence: str, body: str, cuts: list[int]
) -> None:
    stream(f"Some code:\n\n{fence}\n{body}", cuts, None, check_steps=True)


def test_a_streaming_code_block_is_appended_to() -> None:
    renderer = StreamRenderer()
    renderer.feed("```python\n")
    assert renderer.feed("x = 1") == [AppendTail("x = 1")]
    assert renderer.feed("\n") == []  # held back: the block shows no last line break
    assert renderer.feed("y <") == [AppendTail("\ny <")]
    assert renderer.tail_html.endswith("x = 1\ny &lt;</pre></div></div>")


MARKDOWNISH = st.lists(
    st.sampled_from([*"ab c1.-*_`[]()<>&#|:@\\$~!'\"\n\t w", "www.", "  ", "\n\n"]), max_size=50
).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=MARKDOWNISH, cuts=st.lists(st.integers(min_value=1, max_value=59), max_size=20))
def test_any_text_in_any_chunks_shows_each_prefix_as_rendered_whole(
    text: str, cuts: list[int]
) -> None:
    stream(text, cuts, None, check_steps=True)


@pytest.mark.parametrize(
    "chunks",
    [
        ["Here:\n\n```python\ndef f(): pass\n```", "\n\nRun it."],
        ["```python\ndef f(): pass\n```", "\n", "\nRun it."],
        ["Text\n\n```js\nlet a = 1\n", "```", "\n\nMore"],
    ],
)
def test_a_code_block_closed_in_the_tail_is_coloured_when_it_finishes(chunks: list[str]) -> None:
    renderer = StreamRenderer()
    page = Page()
    for chunk in chunks:
        page.apply(renderer.feed(chunk))
    text = "".join(chunks)
    assert page.html == render_markdown(text, streaming=True)
    page.apply(renderer.finish())
    assert page.html == render_markdown(text)
    assert '<pre tabindex="0"><span' in page.html


@pytest.mark.parametrize(
    "chunks",
    [
        ["Here:\n\n```python\ndef f(): pass\n```", "\n\nRun it."],
        ["```python\ndef f(): pass\n```\n", "\nRun it."],
        ["Text\n\n```js\nlet a = 1\n", "```", "\n\nMore"],
    ],
)
def test_code_finished_while_colouring_later_is_appended_plain_then_coloured(
    chunks: list[str],
) -> None:
    renderer = StreamRenderer(colour_later=True)
    page = Page()
    for chunk in chunks:
        page.apply(renderer.feed(chunk))
    page.apply(renderer.finish())
    assert renderer.uncoloured == 1
    assert '<div class="code-block"' in page.html
    assert '<pre tabindex="0"><span' not in page.html, "appended coloured"
    patches = renderer.colour_next()
    assert [type(patch) for patch in patches] == [ReplaceBlock]
    page.apply(patches)
    assert '<pre tabindex="0"><span' in page.html
    assert (renderer.uncoloured, page.html) == (0, render_markdown("".join(chunks)))


def test_finishing_with_the_rest_renders_the_last_block_once() -> None:
    rendered: list[str] = []
    renderer = StreamRenderer(recording(rendered), colour_later=True)
    page = Page()
    page.apply(renderer.feed("First paragraph.\n\n| a | b |\n|---|---|\n| 1 |"))
    rendered.clear()
    page.apply(renderer.finish(None, " 2 |\n"))
    assert rendered == ["| a | b |\n|---|---|\n| 1 | 2 |\n"], "the tail was rendered first"
    assert page.html == render_markdown("First paragraph.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")


@pytest.mark.parametrize(
    ("tail", "more", "appends"),
    [
        ("1. **Transport errors**: the connectio", "n dropped", True),
        ("`EventSource` reconnects by itsel", "f and", True),
        ("_Note_ that it", " waits", True),
        ("*", " item", False),  # a list item, not text
        ("**", "bold", False),
        ("[x", "y", False),  # a bracket can become a link definition
    ],
)
def test_a_line_that_begins_with_emphasis_or_code_is_appended_to(
    tail: str, more: str, appends: bool
) -> None:
    renderer = StreamRenderer()
    page = Page()
    page.apply(renderer.feed("Intro.\n\n" + tail))
    patches = renderer.feed(more)
    page.apply(patches)
    assert any(isinstance(patch, AppendTail) for patch in patches) == appends
    assert page.html == render_markdown("Intro.\n\n" + tail + more, streaming=True)
