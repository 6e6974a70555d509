"""server/think.py: the same reasoning and answer for the content whole, char by char, or split."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.events import Reasoning, Token
from server.think import ThinkSplitter

#: content → (reasoning, answer)
CASES: dict[str, tuple[str, str]] = {
    "": ("", ""),
    "Plain answer.": ("", "Plain answer."),
    "  Indented answer.": ("", "  Indented answer."),
    "\n\n": ("", "\n\n"),
    "<think>Hmm.</think>\n\nThe answer.": ("Hmm.", "The answer."),
    "<think>Hmm.</think>The answer.": ("Hmm.", "The answer."),
    "\n <think>\nStep one.\nStep two.\n</think>\n\nDone.": ("\nStep one.\nStep two.\n", "Done."),
    "<think>Never closed, all reasoning.": ("Never closed, all reasoning.", ""),
    "<think>Ends on half a tag </thi": ("Ends on half a tag </thi", ""),
    "<think></think>Empty thoughts.": ("", "Empty thoughts."),
    "<think>a < b and c </b> d</think> x": ("a < b and c </b> d", "x"),
    "<thi": ("", "<thi"),
    "<thinking>is not the tag</thinking>": ("", "<thinking>is not the tag</thinking>"),
    "<THINK>case matters</THINK>": ("", "<THINK>case matters</THINK>"),
    "Text first <think>then a literal tag</think>": (
        "",
        "Text first <think>then a literal tag</think>",
    ),
    "<think>x</think> <think>later tags are text</think>": (
        "x",
        "<think>later tags are text</think>",
    ),
    "<think>x</think>   \n  ": ("x", ""),
    "<think>one </think> two </think>": ("one ", "two </think>"),
    "< think>spaced</think>": ("", "< think>spaced</think>"),
}


def split(content: str, chunks: Iterable[str]) -> tuple[str, str]:
    """The reasoning and the answer, after checking that the events are well formed."""
    splitter = ThinkSplitter()
    events: list[Reasoning | Token] = []
    for chunk in chunks:
        events.extend(splitter.feed(chunk))
    events.extend(splitter.end())
    assert all(event.text for event in events), f"empty event in {events}"
    reasoning = "".join(e.text for e in events if isinstance(e, Reasoning))
    answer = "".join(e.text for e in events if isinstance(e, Token))
    # Reasoning always comes first: no reasoning once the answer has begun.
    kinds = [type(event) for event in events]
    assert kinds == sorted(kinds, key=lambda kind: kind is Token), events
    return reasoning, answer


def random_chunks(content: str, data: st.DataObject) -> list[str]:
    cuts = sorted(data.draw(st.sets(st.integers(0, len(content)))))
    return [content[a:b] for a, b in pairwise([0, *cuts, len(content)])]


@pytest.mark.parametrize(("content", "expected"), CASES.items())
def test_whole(content: str, expected: tuple[str, str]) -> None:
    assert split(content, [content]) == expected


@pytest.mark.parametrize(("content", "expected"), CASES.items())
def test_char_by_char(content: str, expected: tuple[str, str]) -> None:
    assert split(content, list(content)) == expected


@given(st.sampled_from(sorted(CASES)), st.data())
def test_any_split(content: str, data: st.DataObject) -> None:
    chunks = random_chunks(content, data)
    assert split(content, chunks) == CASES[content]


def test_plain_content_is_passed_on_at_once() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("Hello") == [Token("Hello")]
    assert splitter.feed(" <think>") == [Token(" <think>")]
    assert splitter.end() == []


def test_only_a_possible_tag_is_held_back() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed(" <th") == []
    assert splitter.feed("ink>Why") == [Reasoning("Why")]
    assert splitter.feed(" not</th") == [Reasoning(" not")]
    assert splitter.feed("ink>\n") == []
    assert splitter.feed("\nBecause.") == [Token("Because.")]


def test_an_open_tag_prefix_that_turns_out_to_be_text_is_answer_text() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("<th") == []
    assert splitter.feed("e end>") == [Token("<the end>")]


@given(st.text(alphabet="<>/thinkab \n", max_size=40), st.data())
def test_any_content_any_split_agrees_with_whole(content: str, data: st.DataObject) -> None:
    chunks = random_chunks(content, data)
    assert split(content, chunks) == split(content, [content])
