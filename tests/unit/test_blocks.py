"""Splitting an answer into finished blocks and the open tail."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchat.blocks import Fence, is_list_item, opening_fence, split_blocks
from streamchat.render import render_block
from tests.unit.test_render import parse

CORPUS = Path(__file__).parent / "corpus"
ANSWERS = {path.name: path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.md"))}


@pytest.mark.parametrize(
    ("text", "blocks", "tail"),
    [
        ("", [], ""),
        ("One", [], "One"),
        ("One\n\nTwo", [], "One\n\nTwo"),  # "Two" may still become "    code" or "- item"
        ("One\n\nTwo\n", ["One\n\n"], "Two\n"),
        ("One\n\n\n\nTwo\n", ["One\n\n\n\n"], "Two\n"),
        ("\n\nOne\n\nTwo\n", ["\n\nOne\n\n"], "Two\n"),
        ("One\nstill one\n\nTwo\n", ["One\nstill one\n\n"], "Two\n"),
        ("# Title\n\nText\n\n## Next\n", ["# Title\n\n", "Text\n\n"], "## Next\n"),
        # Fences are one block, blank lines and all.
        ("```\na\n\nb\n```\n\nAfter\n", ["```\na\n\nb\n```\n\n"], "After\n"),
        ("```\na\n\nb\n", [], "```\na\n\nb\n"),
        ("~~~\n```\n\n~~~\n\nAfter\n", ["~~~\n```\n\n~~~\n\n"], "After\n"),
        ("````\n```\n\nx\n````\n\nAfter\n", ["````\n```\n\nx\n````\n\n"], "After\n"),
        ("Text:\n```py\n\nx\n```\n\nAfter\n", ["Text:\n```py\n\nx\n```\n\n"], "After\n"),
        # Indented lines continue a block: list paragraphs, indented code.
        ("- a\n\n  more a\n\nAfter\n", ["- a\n\n  more a\n\n"], "After\n"),
        ("Text\n\n    code\n\nAfter\n", ["Text\n\n    code\n\n"], "After\n"),
        (
            "1. a\n   ```\n   x\n\n   y\n   ```\n2. b\n",
            [],
            "1. a\n   ```\n   x\n\n   y\n   ```\n2. b\n",
        ),
        # A loose list stays one block; another kind of list starts another.
        ("- a\n\n- b\n\nAfter\n", ["- a\n\n- b\n\n"], "After\n"),
        ("1. a\n\n2. b\n\n3) c\n", ["1. a\n\n2. b\n\n"], "3) c\n"),
        ("- a\n\n* b\n", ["- a\n\n"], "* b\n"),
        ("Text\n\n- a\n", ["Text\n\n"], "- a\n"),
        ("Text:\n- a\n\n- b\n", [], "Text:\n- a\n\n- b\n"),
        ("- a\n\n---\n", ["- a\n\n"], "---\n"),
        # Tables and quotes are blocks like any other.
        ("| a |\n|---|\n| 1 |\n\nAfter\n", ["| a |\n|---|\n| 1 |\n\n"], "After\n"),
        ("> a\n>\n> b\n\nAfter\n", ["> a\n>\n> b\n\n"], "After\n"),
    ],
)
def test_split_blocks(text: str, blocks: list[str], tail: str) -> None:
    assert split_blocks(text) == (blocks, tail)


@pytest.mark.parametrize(
    ("line", "fence"),
    [
        ("```", Fence("", "```")),
        ("```python", Fence("", "```")),
        ("~~~~ js", Fence("", "~~~~")),
        ("   ```bash", Fence("   ", "```")),
        ("> ```", Fence("> ", "```")),
        ("``", None),
        ("```code```", None),  # inline code, as in CommonMark
        ("text ```", None),
    ],
)
def test_opening_fence(line: str, fence: Fence | None) -> None:
    assert opening_fence(line) == fence


@pytest.mark.parametrize(
    ("line", "closes"),
    [("```", True), ("```  ", True), ("   ```", True), ("````", False), ("```py", False)],
)
def test_fence_closing(line: str, closes: bool) -> None:
    assert Fence("", "```").is_closed_by(line) is closes


# fmt: off
LIST_ITEM_CASES = [
    ("- a", True), ("* a", True), ("+ a", True), ("1. a", True), ("12) a", True), ("-", True),
    ("-a", False), ("1.5 a", False), ("---", False), ("* * *", False), ("**a**", False),
]
# fmt: on


@pytest.mark.parametrize(("line", "item"), LIST_ITEM_CASES)
def test_is_list_item(line: str, item: bool) -> None:
    assert is_list_item(line) is item


def _is_prefix(short: list[str], long: list[str]) -> bool:
    return long[: len(short)] == short


@pytest.mark.parametrize("name", [name for name in ANSWERS if len(ANSWERS[name]) < 5000])
def test_prefix_stability_on_every_prefix_of_the_corpus(name: str) -> None:
    text = ANSWERS[name]
    final_blocks, _ = split_blocks(text)
    for end in range(len(text) + 1):
        blocks, tail = split_blocks(text[:end])
        assert "".join(blocks) + tail == text[:end]
        assert _is_prefix(blocks, final_blocks), end


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_prefix_stability_on_any_prefix_of_the_long_answer(data: st.DataObject) -> None:
    text = ANSWERS["12_long_guide.md"]
    final_blocks, _ = split_blocks(text)
    end = data.draw(st.integers(min_value=0, max_value=len(text)))
    blocks, tail = split_blocks(text[:end])
    assert "".join(blocks) + tail == text[:end]
    assert _is_prefix(blocks, final_blocks)


# fmt: off
MARKDOWN_PIECES = [
    "\n", "\n\n", "  ", "    ", "- ", "* ", "1. ", "3) ", "```", "~~~", "```py\n",
    "> ", "# ", "| a |", "|---|", "text", "**", "`", "---", "\t",
]
# fmt: on
MARKDOWNISH = st.lists(st.sampled_from(MARKDOWN_PIECES), max_size=40).map("".join)


@settings(max_examples=100, deadline=None)
@given(text=MARKDOWNISH, data=st.data())
def test_prefix_stability_on_generated_markdown(text: str, data: st.DataObject) -> None:
    final_blocks, final_tail = split_blocks(text)
    assert "".join(final_blocks) + final_tail == text
    end = data.draw(st.integers(min_value=0, max_value=len(text)))
    blocks, tail = split_blocks(text[:end])
    assert "".join(blocks) + tail == text[:end]
    assert _is_prefix(blocks, final_blocks)


@settings(max_examples=100, deadline=None)
@given(text=MARKDOWNISH)
def test_splitting_restarts_at_any_block_boundary(text: str) -> None:
    # What lets the stream renderer split only its tail, never the finished text again.
    blocks, tail = split_blocks(text)
    for index in range(len(blocks)):
        rest_blocks, rest_tail = split_blocks("".join(blocks[index:]) + tail)
        assert (rest_blocks, rest_tail) == (blocks[index:], tail)


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_each_finished_block_renders_as_whole_elements(name: str) -> None:
    blocks, _ = split_blocks(ANSWERS[name])
    for block in blocks:
        root = parse(render_block(block))
        assert root.elements(), block
        stray_text = [child for child in root.children if isinstance(child, str) and child.strip()]
        assert not stray_text, block
        assert {element.tag for element in root.elements()} <= {
            *("p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote"),
            *("div", "hr"),
        }
