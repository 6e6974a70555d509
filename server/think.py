"""Splits `<think>…</think>` out of a model's content, incrementally, for any chunking.

Models served without a reasoning parser (llama.cpp without `--reasoning-format`, a plain
vLLM, Ollama's older builds) put their reasoning in the answer's own text, between
`<think>` and `</think>` at its very start. The page must show that apart from the answer,
never in it, so the back end splits it out as it streams. Tokens split tags anywhere
(`"<thi"` + `"nk>"`), so the splitter holds back only what might still become a tag, and
only for as long as it might.
"""

from __future__ import annotations

from enum import Enum, auto

from server.events import Reasoning, Token

__all__ = ["CLOSE", "OPEN", "ThinkSplitter"]

OPEN = "<think>"
CLOSE = "</think>"


class _Part(Enum):
    START = auto()  # nothing but whitespace yet: a <think> may still open
    THINKING = auto()  # inside <think>: everything is reasoning until </think>
    AFTER = auto()  # just after </think>: whitespace before the answer is dropped
    ANSWER = auto()  # the answer: everything is passed through as it comes


class ThinkSplitter:
    """Turns content chunks into `Reasoning` and `Token` events; sans-I/O, one per answer.

    Only a `<think>` at the start of the content (after optional whitespace) opens reasoning;
    a later `<think>` is text of the answer (a model explaining the tag, say). A `</think>`
    that never comes leaves everything after `<think>` as reasoning. Feeding the same content
    in any chunks gives the same reasoning and the same answer text.
    """

    def __init__(self) -> None:
        self._part = _Part.START
        self._held = ""  # text that might still turn out to be (part of) a tag

    def feed(self, text: str) -> list[Reasoning | Token]:
        """The events that `text` (the next chunk of content) completes."""
        events: list[Reasoning | Token] = []
        text = self._held + text
        self._held = ""
        if self._part is _Part.START:
            text = self._start(text)
        if self._part is _Part.THINKING:
            text = self._think(text, events)
        if self._part is _Part.AFTER:
            text = text.lstrip()
            if text:
                self._part = _Part.ANSWER
        if self._part is _Part.ANSWER and text:
            events.append(Token(text))
        return events

    def end(self) -> list[Reasoning | Token]:
        """The events for what was held back, once the content has ended."""
        held, self._held = self._held, ""
        if not held:
            return []
        if self._part is _Part.THINKING:
            return [Reasoning(held)]
        # START: whitespace, or a prefix of <think> that never became one: plain answer text.
        return [Token(held)]

    def _start(self, text: str) -> str:
        """Decides whether the content opens with <think>; returns what follows the decision."""
        stripped = text.lstrip()
        if stripped.startswith(OPEN):
            self._part = _Part.THINKING
            return stripped[len(OPEN) :]
        if OPEN.startswith(stripped):  # "", or "  <thi": cannot tell yet
            self._held = text
            return ""
        self._part = _Part.ANSWER
        return text

    def _think(self, text: str, events: list[Reasoning | Token]) -> str:
        """Emits the reasoning in `text`; returns the text after </think>, if it came."""
        reasoning, closed, rest = text.partition(CLOSE)
        if closed:
            self._part = _Part.AFTER
        else:
            keep = _partial_suffix(reasoning, CLOSE)
            if keep:
                reasoning, self._held = reasoning[:-keep], reasoning[-keep:]
            rest = ""
        if reasoning:
            events.append(Reasoning(reasoning))
        return rest


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of `text` that `tag` starts with (short of all of it)."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
