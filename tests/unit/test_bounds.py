"""Bounded rendering, whatever the model sends (issue 17): a test per hostile shape.

Work is counted rather than timed where Python does it: `work` counts the events
(`sys.settrace`: calls and lines) that a call runs, which is the same on every run. A
step that is linear in its input runs about twice the events on twice the input; the
link scanning this replaced ran four times (`[x` × 1,000 → × 2,000: 5.7 → 22.6 million).
Where the work is in C (regular expressions, copying strings) it is timed, but only as a
generous ratio: CPU time on four times the input must stay under ten times as much
(quadratic work takes sixteen).

Beside that: past a limit the page says so; no input raises; no input leaves the renderer
broken for the next answer; what is streamed ends as what is rendered whole.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown.treeprocessors import InlineProcessor as StockInline

import streamchat.render as render_module
import streamchat.stream_render as stream_module
from streamchat.heal import heal
from streamchat.md_inline import _NEEDS, BoundedInline
from streamchat.md_syntax import (
    MATH,
    MAX_ELEMENT_DEPTH,
    MAX_NESTING,
    MAX_WORD_CHARS,
    PLAIN_PIECE_CHARS,
)
from streamchat.protocol import (
    MAX_CITATION_TITLE_CHARS,
    MAX_CITATION_URL_CHARS,
    MAX_CITATIONS,
    MAX_JSON_DEPTH,
    Citations,
    ProtocolError,
    Token,
    load_json,
    parse_message,
)
from streamchat.render import configure, find_limit, render_markdown, render_parts
from streamchat.stream_render import AppendBlock, ReplaceBlock, SetTail, StreamRenderer
from tests.unit.test_conformance import commonmark_examples, gfm_extension_examples
from tests.unit.test_render import Element, parse

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).with_name("corpus")
NORMAL = (
    "# Setup\n\nInstall it with `pip`, then *run* it [1]:\n\n- one\n  - two\n\n"
    "> a quote\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\n```python\nx = 1\n```\n\n"
    "See [the docs](https://docs.example) and $x^2$.\n"
)


def work(call: Callable[[], object]) -> int:
    """The Python events (calls, lines, returns) that `call()` runs: deterministic."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(previous)
    return count


def cpu_time(call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return best


def repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def assert_linear_work(make: Callable[[int], str], call: Callable[[str], object], n: int) -> None:
    call(make(n // 4))  # caches and imports out of the way
    small, large = work(lambda: call(make(n))), work(lambda: call(make(2 * n)))
    assert large <= 2.5 * small, f"{small} events on {n}, {large} on {2 * n}"


def assert_linear_time(make: Callable[[int], str], call: Callable[[str], object], n: int) -> None:
    call(make(n // 4))
    small, large = cpu_time(lambda: call(make(n))), cpu_time(lambda: call(make(4 * n)))
    assert large <= 10 * small + 0.05, f"{small:.3f}s on {n}, {large:.3f}s on {4 * n}"


@pytest.fixture(autouse=True)
def no_image_origins() -> Iterator[None]:
    configure()
    yield
    configure()


# --- Quadratic scanning: each shape, twice the input, about twice the work. ---

RENDERED_SHAPES = {
    # The shapes: unclosed link and image brackets (no space: under the word limit).
    "brackets": ("[x", 1_000),
    "images": ("![x", 1_000),
    "brackets with spaces": ("[x ", 1_000),
    "images with spaces": ("![x ", 1_000),
    "link destinations": ("[a]( ", 1_000),
    "parentheses in destinations": ("[a](b(", 1_000),
    "nested links": ("[a [b](u) ", 1_000),
    "headings": ("# h\n", 600),
    "setext headings": ("a\n-\n", 600),
    "footnotes": ("[^a]: b\n", 600),
    "reference definitions": ("[a]: https://a.example\n", 600),
    "emphasis": ("*a* ", 1_000),
    "code spans": ("`a` ", 1_000),
    "open code spans": ("`` `a ", 1_000),
    "display math openers": ("\\[a ", 1_000),
    "dollar openers": ("$$a ", 1_000),
    "quote lines": ("> a\n", 600),
    "list items": ("- a\n", 600),
    "table rows": ("| c | d |\n", 600),
    "refused autolinks": ("<ftp://a> ", 1_000),
    "underscored words": ("a_b _c ", 1_000),
}


@pytest.mark.parametrize("name", sorted(RENDERED_SHAPES))
def test_rendering_work_is_linear_in_the_input(name: str) -> None:
    unit, n = RENDERED_SHAPES[name]
    assert_linear_work(lambda size: repeat(unit, size), render_markdown, n)


HEALED_SHAPES = {
    "brackets": "[x",
    "images": "![x",
    "links being written": "[a](b ",
    "backslashed backticks": "\\\\\\`a ",
    "code spans": "`a` ",
    "openers then closers": "*a _b ",
    "underscored words": "_a_b ",
    "display math openers": "\\[a ",
}


@pytest.mark.parametrize("name", sorted(HEALED_SHAPES))
def test_healing_work_is_linear_in_the_input(name: str) -> None:
    unit = HEALED_SHAPES[name]
    assert_linear_work(lambda size: repeat(unit, size), heal, 1_000)
    # Regular expressions run in C: timed, on larger inputs.
    assert_linear_time(lambda size: repeat(unit, size), heal, 8_000)


@pytest.mark.parametrize("unit", ["\\[a ", "$$a ", "[x ", "![x "])
def test_scanning_in_c_is_linear_too(unit: str) -> None:
    assert_linear_time(lambda size: repeat(unit, size), render_markdown, 8_000)


def test_math_is_found_as_the_regex_finds_it() -> None:
    from streamchat.md_syntax import find_math

    for text in [
        "$a$ $$b$$ \\[c\\] \\(d\\)",
        "\\[a \\[b\\]",
        "$$$x$$",
        "$5 and $10",
        "\\$a$ $b\\$",
    ]:
        assert [m.span() for m in find_math(text)] == [m.span() for m in MATH.finditer(text)]


def test_a_paragraph_of_many_matches_is_built_once_per_pattern() -> None:
    """Python-Markdown copies the text for every match (`*a*` × 2,000: 2,000 copies of
    8,000 characters); BoundedInline builds it about once per pattern."""
    text = repeat("*a* ", 8_000)
    render_markdown(text)
    inline = render_module._markdown().treeprocessors["inline"]
    assert isinstance(inline, BoundedInline)
    assert inline.built < 40 * len(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *("*", "**", "_", "__", "~~", "~", "~~~", "`", "``", "[", "]", "(", ")", "!["),
                *("a", "b c", " ", "\n", "\\", "$", "$$", "\\[", "\\]", "\\(", "\\)", "&amp;"),
                *("https://x.y/z", "www.a.bc", "a@b.cd", "mailto:a@b.cd", "<https://q.r>"),
                *("<a@b.cd>", "[^1]", "[x]", "[x]: https://d\n", "(u)", "!", "  \n", "\\\n"),
                *("x_y", "1", "<", ">", "#", "|", "-", "[a](b)", "![c](d)", "[e][x]", "\t"),
            ]
        ),
        max_size=18,
    )
)
def test_bounded_inline_renders_as_python_markdown_does(pieces: list[str]) -> None:
    """BoundedInline (and the linear finders of link and math patterns) against
    Python-Markdown's own inline processor and the plain regexes."""
    text = "".join(pieces)
    md = render_module._markdown()
    finders = [
        (pattern, pattern.compiled_re)
        for pattern in md.inlinePatterns
        if not isinstance(pattern.compiled_re, re.Pattern)
    ]
    expected = render_markdown(text)
    try:
        md.treeprocessors.register(StockInline(md), "inline", 20)
        for pattern, finder in finders:
            pattern.compiled_re = getattr(finder, "regex", MATH)
        assert render_markdown(text) == expected
    finally:
        md.treeprocessors.register(BoundedInline(md), "inline", 20)
        for pattern, finder in finders:
            pattern.compiled_re = finder


def test_a_pattern_is_skipped_only_for_a_text_it_cannot_match() -> None:
    """Each of `_NEEDS` holds for every match of its pattern in the spec suites' examples and
    the corpus, whole and line by line: a text without it has no match to miss."""
    texts = [example.markdown for example in commonmark_examples() + gfm_extension_examples()]
    texts += [path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.md"))]
    texts += ["A claim.[^note] More[^2].\n\n[^note]: The source.", "[^ x]", "[^]"]
    texts += [line for text in texts for line in text.splitlines()]
    patterns = render_module._markdown().inlinePatterns
    assert set(_NEEDS) <= {pattern.name for pattern in patterns._priority}
    matched = dict.fromkeys(_NEEDS, 0)
    for name, needs in _NEEDS.items():
        finder = patterns[name].compiled_re
        regex = finder if isinstance(finder, re.Pattern) else getattr(finder, "regex", MATH)
        for text in texts:
            if regex.search(text):
                matched[name] += 1
                assert needs.search(text), (name, text)
    # Every pattern was tried on texts it matches: the check above was not vacuous.
    assert all(matched.values()), matched


# --- The shapes, at full size: limits, notices, nothing raised. ---


def test_a_40000_character_word_is_cut_into_plain_pieces_with_a_notice() -> None:
    word = "a" * 40_000
    html = render_markdown(f"Intro.\n\n{word} end")
    assert html.startswith("<p>Intro.</p>")
    paragraphs = parse(html).find_all("p")
    notice = paragraphs[1]
    assert notice.has_class("md-limit")
    assert notice.attrs["role"] == "note"
    assert notice.text() == (
        "The rest of this answer (40 KB) is shown as plain text: "
        "it has a word longer than 10,000 characters."
    )
    pieces = [p.text() for p in paragraphs[2:]]
    assert all(p.has_class("md-plain") for p in paragraphs[2:])
    assert "".join(pieces).replace("\xa0", " ") == word + " end"
    assert max(map(len, pieces)) <= PLAIN_PIECE_CHARS <= MAX_WORD_CHARS


def test_a_long_word_in_a_code_block_is_no_limit() -> None:
    html = render_markdown("```\n" + "x" * 20_000 + "\n```\n")
    assert "md-limit" not in html
    assert "x" * 20_000 in html


def test_a_5_mb_paragraph_is_plain_text_at_once() -> None:
    paragraph = repeat("lorem ipsum dolor sit amet ", 5_000_000)
    assert work(lambda: render_markdown(paragraph)) < 200_000
    html = render_markdown(paragraph)
    assert (
        "The rest of this answer (5 MB) is shown as plain text: the answer is longer than 1 MB."
        in html
    )
    assert html.count('<p class="md-plain">') == 5_000_000 // PLAIN_PIECE_CHARS


def test_a_block_past_the_limit_turns_the_rest_to_plain_text() -> None:
    rows = "| a | b |\n| - | - |\n" + "| cell | cell |\n" * 5_000  # 80 KB, one block
    html = render_markdown("Intro.\n\n" + rows + "\nAfter.")
    assert "<table>" in html
    assert "a paragraph, list, table or code block in it is longer than 64 KB" in html
    assert html.index("<table>") < html.index("md-limit") < html.index("md-plain")
    assert "After." in html.split("md-limit")[1]


def test_plain_text_is_escaped_and_keeps_its_lines() -> None:
    text = "a" * 10_001 + "\n  <script>alert(1)</script>\nnext line\n\n\n\nnew paragraph"
    html = render_markdown(text)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<br>\n\xa0\xa0&lt;script&gt;alert(1)&lt;/script&gt;<br>\nnext line</p>" in html
    assert '<p class="md-plain">new paragraph</p>' in html


@pytest.mark.parametrize(
    "text",
    [
        "".join("  " * i + "- x\n" for i in range(500)),
        "".join("    " * i + "1. x\n" for i in range(500)),
        ">" * 500 + " x",
        "".join(">" * (i + 1) + " x\n" for i in range(500)),
        "> - " * 500 + "x",
        "[^a]: " * 500 + "x",
        "*a " * 3_000 + "b" + "*" * 3_000,
        "**a " * 2_000 + "b" + " c**" * 2_000,
        "~~a " * 2_000 + "b" + " c~~" * 2_000,
        "[a " * 1_000 + "x" + "](https://u)" * 1_000,
        "![a " * 1_000 + "x" + "](https://u)" * 1_000,
        "$" + "{" * 1_000 + "x" + "}" * 1_000 + "$",
    ],
    ids=[
        "list-500",
        "ordered-list-500",
        "quote-500",
        "quote-lines-500",
        "quote-in-list-500",
        "footnotes-500",
        "emphasis-3000",
        "strong-2000",
        "strike-2000",
        "links-1000",
        "images-1000",
        "braces-1000",
    ],
)
def test_deep_nesting_renders_within_limits_and_leaves_the_renderer_working(text: str) -> None:
    html = render_markdown(text)
    assert "could not be formatted" not in html  # bounded by design, not by an exception
    assert depth(parse(html)) <= MAX_ELEMENT_DEPTH
    assert render_markdown(NORMAL, {"1": "#s1"}) == fresh_render()


def test_markers_past_the_nesting_limit_are_text() -> None:
    html = render_markdown(">" * (MAX_NESTING + 3) + " deep")
    assert html.count("<blockquote>") == MAX_NESTING
    assert "&gt;&gt;&gt; deep" in html
    lines = "".join("  " * i + f"- item {i}\n" for i in range(MAX_NESTING + 2))
    html = render_markdown(lines)
    assert html.count("<li>") == MAX_NESTING
    assert f"- item {MAX_NESTING}" in html  # text, in the deepest item


def depth(element: Element) -> int:
    deepest, stack = 0, [(element, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack += [(child, level + 1) for child in node.children if isinstance(child, Element)]
    return deepest


def fresh_render() -> str:
    """NORMAL rendered in a new process, where nothing has happened before."""
    code = "import sys; from streamchat.render import render_markdown; "
    code += f"sys.stdout.write(render_markdown({NORMAL!r}, {{'1': '#s1'}}))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_after_a_500_deep_list_the_next_answer_renders_as_in_a_fresh_process() -> None:
    expected = fresh_render()
    deep = "".join("  " * i + "- x\n" for i in range(500))
    render_markdown(deep)
    renderer = StreamRenderer()
    for start in range(0, len(deep), 4_000):
        renderer.feed(deep[start : start + 4_000])
    renderer.finish()
    assert render_markdown(NORMAL, {"1": "#s1"}) == expected


def test_an_exception_in_rendering_shows_the_block_as_plain_text_and_no_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    md = render_module._markdown()

    def explode(self: object, root: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    with monkeypatch.context() as patched:
        patched.setattr(render_module._CitationLinker, "run", explode)
        html = render_markdown("Some *text* here.\n\nMore.\n\nEnd")
        renderer = StreamRenderer()
        renderer.feed("Some *text* here.\n\nMore.\n\nEnd")
        renderer.finish()
    assert html.count("could not be formatted; it is shown as plain text") == 2
    assert '<p class="md-plain">Some *text* here.</p>' in html
    assert "".join(renderer.blocks_html) == html
    # A new instance replaced the one that failed half-way through a render.
    assert render_module._markdown() is not md
    assert render_markdown(NORMAL, {"1": "#s1"}) == fresh_render()


# --- Streaming: the same limits per block and tail, and the same HTML in the end. ---


def stream(text: str, size: int, *, check_steps: bool = False) -> str:
    """`text` fed in chunks of `size`: the HTML the renderer shows in the end."""
    renderer = StreamRenderer()
    for start in range(0, len(text), size):
        renderer.feed(text[start : start + size])
        if check_steps:
            shown = "".join(renderer.blocks_html) + renderer.tail_html
            assert shown == render_markdown(text[: start + size], streaming=True)
    renderer.finish()
    assert renderer.text == text
    return "".join(renderer.blocks_html) + renderer.tail_html


def test_a_long_word_streamed_ends_as_rendered_whole_and_each_feed_is_bounded() -> None:
    text = "Intro.\n\n" + "a" * 40_000
    assert stream(text, 5_000, check_steps=True) == render_markdown(text)
    assert stream(text[:20_000], 5) == render_markdown(text[:20_000])
    # Past the limit a feed costs a piece of plain text, however long the word grows.
    renderer = StreamRenderer()
    renderer.feed(text[:15_000])
    early = work(lambda: renderer.feed("a" * 50))
    renderer.feed(text[15_000:39_000])
    late = work(lambda: renderer.feed("a" * 50))
    assert late <= 2 * early


def test_the_notice_keeps_its_size_up_to_date_while_streaming() -> None:
    renderer = StreamRenderer()
    patches = renderer.feed("Hi.\n\n" + "b" * 10_001)
    notices = [p for p in patches if isinstance(p, AppendBlock) and "md-limit" in p.html]
    assert len(notices) == 1
    patches = renderer.feed("b" * 20_000)
    assert [p.index for p in patches if isinstance(p, ReplaceBlock)] == [1]
    assert "(30 KB)" in renderer.blocks_html[1]


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limits small enough that rendering past them is quick to test."""
    for module in (render_module, stream_module):
        monkeypatch.setattr(module, "MAX_ANSWER_CHARS", 3_000)
        monkeypatch.setattr(module, "MAX_BLOCK_CHARS", 700)
    monkeypatch.setattr(render_module, "PLAIN_PIECE_CHARS", 300)


ANSWER = (Path(__file__).parent / "corpus" / "12_long_guide.md").read_text(encoding="utf-8")


@pytest.mark.usefixtures("small_limits")
def test_past_the_answer_limit_the_rest_is_plain_text() -> None:
    limit = find_limit(ANSWER)
    assert limit is not None
    html = render_markdown(ANSWER)
    assert "md-limit" in html
    assert ANSWER[: limit.at].endswith("\n")


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(ANSWER) - 1), max_size=40))
def test_any_chunking_past_the_limits_ends_in_the_whole_answer_html(cuts: list[int]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        for module in (render_module, stream_module):
            monkeypatch.setattr(module, "MAX_ANSWER_CHARS", 3_000)
            monkeypatch.setattr(module, "MAX_BLOCK_CHARS", 700)
        monkeypatch.setattr(render_module, "PLAIN_PIECE_CHARS", 300)
        text = ANSWER + "\n\n" + "w" * 12_000 + " tail"
        renderer = StreamRenderer()
        blocks: list[str] = []
        tail = ""
        positions = sorted({0, *cuts, len(text)})
        for start, end in itertools.pairwise(positions):
            for patch in renderer.feed(text[start:end]):
                if isinstance(patch, AppendBlock):
                    blocks.append(patch.html)
                elif isinstance(patch, ReplaceBlock):
                    blocks[patch.index] = patch.html
                elif isinstance(patch, SetTail):
                    tail = patch.html
            assert blocks == renderer.blocks_html
            tail = renderer.tail_html
            assert "".join(blocks) + tail == render_markdown(text[:end], streaming=True)
        for patch in renderer.finish({"1": "#s1"}):
            if isinstance(patch, AppendBlock):
                blocks.append(patch.html)
            elif isinstance(patch, ReplaceBlock):
                blocks[patch.index] = patch.html
        assert "".join(blocks) == render_markdown(text, {"1": "#s1"})


def test_a_limit_found_only_when_the_answer_ends_is_applied_then() -> None:
    # While streaming, the last line may yet start a block of its own; once the answer
    # ends it is the end of its block, which is then too long.
    with pytest.MonkeyPatch.context() as monkeypatch:
        for module in (render_module, stream_module):
            monkeypatch.setattr(module, "MAX_BLOCK_CHARS", 100)
        text = "x " * 40 + "\n" + "y " * 40
        assert find_limit(text, streaming=True) is None
        assert find_limit(text) is not None
        renderer = StreamRenderer()
        renderer.feed(text)
        assert "md-limit" not in renderer.tail_html
        renderer.finish()
        assert "".join(renderer.blocks_html) == render_markdown(text)
        assert "md-limit" in "".join(renderer.blocks_html)


# --- The wire: JSON depth and citation sizes checked before anything costs. ---


def test_10000_deep_json_is_a_protocol_error_found_before_parsing() -> None:
    data = "[" * 10_000 + "]" * 10_000
    with pytest.raises(ProtocolError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        parse_message(data)
    deep = '{"type": "token", "text": "x", "a": ' + "[" * 5_000 + "]" * 5_000 + "}"

    def refuse() -> None:
        with pytest.raises(ProtocolError):
            parse_message(deep)

    assert work(refuse) < 100_000


def test_json_at_the_depth_limit_and_brackets_in_strings_are_fine() -> None:
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    assert parse_message(f'{{"type": "later", "a": {nested}}}') is None
    too_deep = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    with pytest.raises(ProtocolError):
        parse_message(f'{{"type": "later", "a": {too_deep}}}')
    text = '[[[{{ "\\" ]' * 100
    assert parse_message(json.dumps({"type": "token", "text": text})) == Token(text)
    with pytest.raises(ValueError, match="Unterminated string"):
        load_json('"unterminated ' + "[" * 100)


def test_citations_are_cut_to_size() -> None:
    entries = [
        {"id": i, "title": "t" * 50_000, "url": "https://a.example/" + "p" * 3_000}
        for i in range(MAX_CITATIONS + 50)
    ]
    message = parse_message(json.dumps({"type": "citations", "citations": entries}))
    assert isinstance(message, Citations)
    assert len(message.citations) == MAX_CITATIONS
    first = message.citations[0]
    assert len(first.title) == MAX_CITATION_TITLE_CHARS
    assert first.title.endswith("…")
    assert first.url == ""  # longer than MAX_CITATION_URL_CHARS: shown without a link
    ok = {"id": "x", "title": "Short", "url": "https://a.example/" + "p" * 100}
    message = parse_message(json.dumps({"type": "citations", "citations": [ok]}))
    assert isinstance(message, Citations)
    assert message.citations[0].url == ok["url"]
    assert len(ok["url"]) < MAX_CITATION_URL_CHARS


def test_a_protocol_error_shows_a_huge_value_in_brief() -> None:
    with pytest.raises(ProtocolError) as error:
        parse_message(json.dumps({"type": "token", "text": ["x" * 100_000]}))
    assert len(str(error.value)) < 200


# --- Images from other origins are links; allowed origins are images. ---


def test_images_are_links_unless_their_origin_is_allowed() -> None:
    text = "![A chart](https://images.example.com/chart.png)"
    (link,) = parse(render_markdown(text)).find_all("a")
    assert link.attrs["class"] == "md-image-link"
    assert link.attrs["href"] == "https://images.example.com/chart.png"
    assert link.attrs["rel"] == "noopener noreferrer nofollow"
    assert link.text() == "Image: A chart (images.example.com)"
    assert "<img" not in render_markdown(text)
    configure(image_origins=["https://images.example.com/"])
    assert '<img alt="A chart" src="https://images.example.com/chart.png">' in render_markdown(text)


@pytest.mark.parametrize(
    "src",
    [
        "https://images.example.com.evil.example/x.png",
        "https://images.example.com@evil.example/x.png",
        "https://evil.example\\@images.example.com/x.png",
        "https://images.example.com:8443/x.png",
        "http://images.example.com/x.png",
        "https:images.example.com/x.png",
        "https://images%2Eexample.com/x.png",
    ],
)
def test_only_the_exact_origin_is_allowed(src: str) -> None:
    configure(image_origins=["https://images.example.com"])
    html = render_markdown(f"![x]({src})")
    assert "<img" not in html


def test_allowed_origins_match_as_the_browser_reads_the_url() -> None:
    configure(image_origins=["https://images.example.com"])
    for src in ["HTTPS://IMAGES.EXAMPLE.COM/a.png", "https://images.example.com", "#figure"]:
        assert "<img" in render_markdown(f"![x]({src})"), src


def test_image_links_are_text_inside_links_and_data_images_stay_alt_text() -> None:
    html = render_markdown("[![logo](https://cdn.example/l.png)](https://example.com)")
    assert html.count("<a") == 1
    assert "Image: logo (cdn.example)" in html
    assert render_markdown("![pixel](data:image/png;base64,AAAA)") == "<p>pixel</p>"


@pytest.mark.parametrize("origin", ["images.example.com", "ftp://a.example", "https://a/b", ""])
def test_configure_refuses_what_is_no_origin(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        configure(image_origins=[origin])


def test_an_image_url_python_cannot_split_is_still_a_link() -> None:
    html = render_markdown("![x](https://[oops/a.png) and *b*")
    assert "could not be formatted" not in html
    assert '<a class="md-image-link" href="https://[oops/a.png"' in html


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *("![a](", "[b](", "https://", "[", "]", "(", ")", "<", ">", "\\", "&#", ";"),
                *("x", " ", "\n", "> ", "- ", "1. ", "```", "|", "$", "*", "_", "`", "#"),
                *("\x00", "\x02", "\x03", "\t", "\r", "\ufeff", "%", "@", ":", "/", "?"),
            ]
        ),
        max_size=30,
    )
)
def test_no_markup_needs_the_fallback(pieces: list[str]) -> None:
    """The fallback is a last resort: no input seen here reaches it."""
    text = "".join(pieces)
    assert "could not be formatted" not in render_markdown(text)
    assert "could not be formatted" not in render_markdown(text, streaming=True)


def test_render_parts_never_raises_on_an_empty_or_odd_block() -> None:
    for block in ["", "\x00", "\x02\x03", "\ufeff#", "\r\r\n"]:
        render_parts(block)
