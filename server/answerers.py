"""What produces an answer: the `Answerer` protocol and helpers shared by answerers."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

from server.events import AnswerEvent, Message, Token

Sleep = Callable[[float], Awaitable[None]]


class Answerer(Protocol):
    """Answers one question: token events, then at most one citations event (or an error).

    The iterator is pulled one event at a time and may be abandoned at any await; when it is
    an async generator the store `aclose()`s it, so its `finally` blocks release what it holds.

    `history` is the earlier turns the model is given (already bounded). With `continuing`,
    it ends with the assistant's partial answer to `question`, which the answerer continues.
    """

    def answer(
        self, question: str, history: Sequence[Message], *, continuing: bool = False
    ) -> AsyncIterator[AnswerEvent]: ...


async def aclose(source: AsyncIterator[object]) -> None:
    """Closes `source` when it can be closed (async generators can; bare iterators cannot)."""
    if isinstance(source, AsyncGenerator):
        await source.aclose()


_WORD = re.compile(r"\S+\s*|\s+")


def chunk_words(text: str, rng: random.Random, most: int = 3) -> list[str]:
    """Splits `text` into chunks of 1 to `most` words, keeping every character.

    Each word keeps the whitespace after it, so chunks split code fences, table rows and
    lines anywhere a model's tokens would, and joining the chunks gives `text` back.
    """
    words = _WORD.findall(text)
    chunks = []
    while words:
        take = rng.randint(1, most)
        chunks.append("".join(words[:take]))
        del words[:take]
    return chunks


async def paced(
    source: AsyncIterator[AnswerEvent], seconds: float, sleep: Sleep
) -> AsyncIterator[AnswerEvent]:
    """Waits `seconds` before each token of `source`, to slow a stream down."""
    try:
        async for event in source:
            if isinstance(event, Token) and seconds > 0:
                await sleep(seconds)
            yield event
    finally:
        await aclose(source)
