"""Healing the unfinished tail of a streamed answer: a table of cases, then properties."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchat.blocks import opening_fence, split_blocks
from streamchat.heal import heal
from streamchat.render import render_markdown
from tests.unit.test_render import parse, visible_text

CORPUS = Path(__file__).parent / "corpus"

CASES = [
    # Code fences: closed; the code inside is never touched.
    ("```python\nprint(1)\n", "```python\nprint(1)\n```"),
    ("```python\nprint(1)", "```python\nprint(1)\n```"),
    ("```\n**not bold** [x](http://a", "```\n**not bold** [x](http://a\n```"),
    ("```python\nx = 1\n``", "```python\nx = 1\n```"),
    ("```python\nx = 1\n`", "```python\nx = 1\n```"),
    ("```python\nx = 1\n```", "```python\nx = 1\n```"),
    ("~~~\ncode\n~", "~~~\ncode\n~~~"),
    ("````md\n```\ninner\n```\n", "````md\n```\ninner\n```\n````"),
    ("1. Install:\n   ```bash\n   pip in", "1. Install:\n   ```bash\n   pip in\n   ```"),
    ("> ```\n> quoted", "> ```\n> quoted\n> ```"),
    # An opening fence line still being written waits for its newline.
    ("Run:\n```pyth", "Run:\n"),
    ("Run:\n``", "Run:\n"),
    ("```", ""),
    # Emphasis and strikethrough: closed, or a marker with nothing after it dropped.
    ("**bold", "**bold**"),
    ("**bold text ", "**bold text**"),
    ("**bold*", "**bold**"),
    ("*it", "*it*"),
    ("__strong", "__strong__"),
    ("_it", "_it_"),
    ("~~gone", "~~gone~~"),
    ("~~gone~", "~~gone~~"),
    ("*a **b", "*a **b***"),
    ("text **", "text "),
    ("text *", "text "),
    ("text ~~", "text "),
    ("text _", "text "),
    ("**bold** done", "**bold** done"),
    ("snake_case_na", "snake_case_na"),
    ("call _private_hel", "call _private_hel"),
    ("__init__", "__init__"),
    ("2 * 3 = 6", "2 * 3 = 6"),
    ("* item", "* item"),
    ("~approx", "~approx"),
    ("H~2~O", "H~2~O"),
    ("5*", "5*"),
    ("a ~~b~", "a ~~b~~"),
    ("https://example.com/_path", "https://example.com/_path"),
    ("see [docs](https://example.com/_a_) **now", "see [docs](https://example.com/_a_) **now**"),
    ("- **a\n  b", "- **a\n  b**"),
    ("> **q\n> r", "> **q\n> r**"),
    ("# Title **x", "# Title **x**"),
    ("**one**\n\n**two", "**one**\n\n**two**"),
    ("**closed paragraph\n\n", "**closed paragraph\n\n"),
    # Code spans.
    ("use `pip", "use `pip`"),
    ("use ``a ` b", "use ``a ` b``"),
    ("use `", "use "),
    ("**use `pip", "**use `pip`**"),
    ("`a` and **b", "`a` and **b**"),
    ("`**` is bold", "`**` is bold"),
    # Links, images, brackets.
    ("see [the docs](https://exa", "see the docs"),
    ("see [the docs](", "see the docs"),
    ("see [the docs]", "see [the docs]"),
    ("see ![logo](https://exa", "see "),
    ("see [the do", "see the do"),
    ("see [1", "see "),
    ("see [1, 2", "see "),
    ("see [", "see "),
    ("**[bold](http", "**bold**"),
    ("[a](https://a.example) and [b](https://b", "[a](https://a.example) and b"),
    ("`[x](http` done", "`[x](http` done"),
    ("- [ ] task [1]", "- [ ] task [1]"),
    # Entities and backslashes.
    ("fish &am", "fish "),
    ("fish &", "fish "),
    ("fish &#12", "fish "),
    ("R&D", "R&D"),
    ("fish &amp; chips", "fish &amp; chips"),
    ("a line\\", "a line"),
    ("a path C:\\\\", "a path C:\\\\"),
    # A last line that only starts a block.
    ("Steps:\n-", "Steps:\n"),
    ("Steps:\n- ", "Steps:\n"),
    ("Steps:\n1.", "Steps:\n"),
    ("Steps:\n12)", "Steps:\n"),
    ("- a\n- [", "- a\n"),
    ("- a\n- [x]", "- a\n"),
    ("Text\n--", "Text\n"),
    ("Text\n---", "Text\n---"),
    ("Text\n***", "Text\n***"),
    ("#", ""),
    (">", ""),
    ("- a\n-", "- a\n"),
    ("1. a\n  -", "1. a\n"),
    # Tables: the header waits for its separator row; a row waits for its cells.
    ("| a | b |", ""),
    ("Compare:\n| a | b |\n", "Compare:\n"),
    ("| a | b |\n|--", ""),
    ("| a | b |\n|---|--", "| a | b |\n|---|--"),
    ("| a | b |\n|---|---|\n| 1 ", "| a | b |\n|---|---|\n"),
    ("| a | b |\n|---|---|\n|", "| a | b |\n|---|---|\n"),
    ("| a | b |\n|---|---|\n| 1 |", "| a | b |\n|---|---|\n| 1 |"),
    ("| a | b |\n|---|---|\n| 1 | 2", "| a | b |\n|---|---|\n| 1 | 2"),
    ("| a | b |\n|---|---|\n| 1 | **2", "| a | b |\n|---|---|\n| 1 | **2**"),
    ("| a | b |\n|---|---|\n| 1 | 2 |\n", "| a | b |\n|---|---|\n| 1 | 2 |\n"),
    ("| a | b |\n| c | d |\n", "| a | b |\n| c | d |\n"),
    # Nothing to heal.
    ("", ""),
    ("Plain text.", "Plain text."),
    ("Plain text.\n", "Plain text.\n"),
]


@pytest.mark.parametrize(("tail", "healed"), CASES)
def test_heal(tail: str, healed: str) -> None:
    assert heal(tail) == healed


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.md")), ids=lambda path: path.name)
def test_a_complete_answer_needs_no_healing(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    _, tail = split_blocks(text)
    assert heal(tail) == tail
    assert heal(tail.rstrip("\n")) == tail.rstrip("\n")


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.md")), ids=lambda path: path.name)
def test_healing_only_closes_an_open_fence(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for end in range(len(text)):
        if text[end - 1 : end] != "\n":
            continue  # whole lines only: the property is about code, not partial markers
        _, tail = split_blocks(text[:end])
        lines = tail.split("\n")
        fence = None
        for line in lines[:-1]:
            if fence is None:
                fence = opening_fence(line)
            elif fence.is_closed_by(line):
                fence = None
        if fence is not None:
            assert heal(tail) == tail + fence.prefix + fence.marker


SENTENCES = [
    "Use **bold text** and *italic words* and `inline code` here.",
    "Prefer __strong__ or _light_ emphasis, ~~never this~~, and [a link](https://example.com).",
    "Mixed: **bold with `code` inside** and *it with **strong** inside* done.",
    "- **Item:** see [the docs](https://docs.example.com/a_b) for `x_y`",
    "| Key | Value |\n|-----|-------|\n| **a** | `b` |\n| ~~c~~ | [d](https://d.example) |",
    "Steps:\n1. **One**\n2. *Two*\n\nDone &amp; dusted.",
]


@pytest.mark.parametrize("sentence", SENTENCES)
def test_no_raw_marker_flashes_while_streaming(sentence: str) -> None:
    for end in range(1, len(sentence) + 1):
        if sentence[end - 1] == "]":
            continue  # `[text]` shows until `(` arrives: it may be literal or a citation
        text = visible_text(parse(render_markdown(sentence[:end], streaming=True)))
        for marker in ("*", "`", "~", "[", "](", "&am", "|"):
            assert marker not in text, (sentence[:end], text)
        assert not re.search(r"(^|\s)_|_($|\s|[.,])", text), (sentence[:end], text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="*_~`[]()!&#|-1. \nab", max_size=60))
def test_healing_only_touches_the_last_paragraph(tail: str) -> None:
    healed = heal(tail)
    parse(render_markdown(healed))  # renders, to balanced HTML
    before_last_paragraph = tail[: tail.rfind("\n\n") + 2] if "\n\n" in tail else ""
    assert healed.startswith(before_last_paragraph)


@pytest.mark.parametrize(
    "tail",
    [
        "```python\ndef f(a: int) -> float:\n    return 2**a\n```\n",
        "```python\nx = 1\n```",
        "Intro:\n\n~~~\nraw `tick\n~~~\n\n",
        "- item\n\n  ```sh\n  ls **/*.py\n  ```\n",
    ],
)
def test_a_tail_that_ends_with_a_closed_code_block_is_left_alone(tail: str) -> None:
    assert heal(tail) == tail


@pytest.mark.parametrize(
    ("tail", "healed"),
    [
        ("Energy $$E = m_1 c^2 + a_", "Energy $$E = m_1 c^2 + a_"),
        ("So \\(a*b", "So \\\\(a*b"),
        ("So \\[a*b", "So \\\\[a*b"),
        ("See \\[1", "See \\[1"),
        ("Done \\(a\\) and `\\(x", "Done \\(a\\) and `\\(x`"),
        ("Both $a*b$ and *x", "Both $a*b$ and *x*"),
        ("Price $5 for **bold", "Price $5 for **bold**"),
    ],
)
def test_math_is_not_healed_as_emphasis(tail: str, healed: str) -> None:
    """An unfinished `\\(` / `\\[` formula also keeps its backslash on screen (escaped)."""
    assert heal(tail) == healed
