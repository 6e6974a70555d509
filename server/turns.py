"""A conversation's earlier turns: kept by the back end for EventSource, bounded for the model.

A GET request cannot carry a body, so the EventSource transport cannot send `history`. The
page sends `parent`, the `rid` of the answer before this question, instead: the back end
keeps every answer's turn (its question, the answer's text, its own parent) in the same
store as the answers' events, and follows the chain back. A conversation is therefore a
tree, as in any chat with editing: an edited question simply names an older parent. The
fetch transport still sends `history`, which wins (the page is the source of truth there).

Whatever its source, the history is bounded by turns and characters, oldest dropped first,
and the answer starts with a `context` event when the model was not given everything.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from server.answerers import aclose
from server.events import AnswerEvent, Context, Message, Token

#: Records followed back at most: a bound on the work one request can cause.
MAX_CHAIN = 500


@dataclass(frozen=True)
class TurnRecord:
    """One answered question as the back end keeps it; `continues`: it continued `parent`."""

    question: str
    answer: str
    parent: str | None = None
    continues: bool = False

    def dumps(self) -> str:
        return json.dumps(
            {"q": self.question, "a": self.answer, "p": self.parent, "c": self.continues},
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> TurnRecord | None:
        try:
            item = json.loads(text)
            parent = item.get("p")
            return cls(
                str(item["q"]), str(item["a"]), str(parent) if parent else None, bool(item["c"])
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


class TurnStore(Protocol):
    """Where turns are kept: the answers' store (memory or Redis) implements this too."""

    async def save_turn(self, rid: str, record: TurnRecord) -> None: ...

    async def load_turn(self, rid: str) -> TurnRecord | None: ...


@dataclass(frozen=True)
class Turn:
    """A question and the answer the model gave, continuations merged in."""

    question: str
    answer: str


@dataclass(frozen=True)
class Limits:
    """How much of the conversation the model is given."""

    turns: int = 20
    chars: int = 24_000


@dataclass(frozen=True)
class History:
    """The turns the model is given, and what the page should be told about the rest."""

    turns: tuple[Turn, ...]
    dropped: int = 0
    missing: bool = False

    def messages(self) -> list[Message]:
        messages: list[Message] = []
        for turn in self.turns:
            messages.append({"role": "user", "content": turn.question})
            if turn.answer:
                messages.append({"role": "assistant", "content": turn.answer})
        return messages

    def context_event(self) -> Context | None:
        """The `context` event to send first, when the model is not given everything."""
        if not self.dropped and not self.missing:
            return None
        return Context(kept_turns=len(self.turns), dropped_turns=self.dropped, missing=self.missing)


async def chain(store: TurnStore, parent: str | None) -> tuple[list[Turn], bool]:
    """The turns up to and including `parent`, oldest first; True when some were missing.

    Missing: `parent` (or an ancestor) is no longer kept, so the chain is cut short there.
    """
    records: list[TurnRecord] = []
    missing = False
    rid = parent
    while rid is not None and len(records) < MAX_CHAIN:
        record = await store.load_turn(rid)
        if record is None:
            missing = True
            break
        records.append(record)
        rid = record.parent
    turns: list[Turn] = []
    for record in reversed(records):
        if record.continues and turns:
            last = turns[-1]
            turns[-1] = Turn(last.question, last.answer + record.answer)
        else:
            turns.append(Turn(record.question, record.answer))
    return turns, missing


def turns_from_messages(messages: Sequence[Message]) -> list[Turn]:
    """The fetch transport's flat `history`, as turns (a question with no answer keeps "")."""
    turns: list[Turn] = []
    for message in messages:
        if message["role"] == "user":
            turns.append(Turn(message["content"], ""))
        elif turns and not turns[-1].answer:
            turns[-1] = Turn(turns[-1].question, message["content"])
        else:
            turns.append(Turn("", message["content"]))  # an answer with no question before
    return turns


def bounded(turns: Sequence[Turn], limits: Limits, *, missing: bool = False) -> History:
    """The newest turns within `limits`, dropping the oldest first."""
    kept: list[Turn] = []
    chars = 0
    for turn in reversed(turns):
        size = len(turn.question) + len(turn.answer)
        if len(kept) >= limits.turns or chars + size > limits.chars:
            break
        kept.append(turn)
        chars += size
    kept.reverse()
    return History(tuple(kept), dropped=len(turns) - len(kept), missing=missing)


async def recorded(
    source: AsyncIterator[AnswerEvent],
    save: Callable[[str], Awaitable[None]],
) -> AsyncIterator[AnswerEvent]:
    """`source`, passing the answer's text to `save` when it ends (however it ends).

    Saved before the stream's last event is taken, so a follow-up asked after `[DONE]`
    always finds this turn.
    """
    text: list[str] = []
    try:
        async for event in source:
            if isinstance(event, Token):
                text.append(event.text)
            yield event
    finally:
        await aclose(source)
        await save("".join(text))


class MemoryTurns:
    """Turns in this process's memory, each kept `ttl` seconds, at most `max_turns` at once."""

    def __init__(self, ttl: float, clock: Callable[[], float], max_turns: int = 100_000) -> None:
        self.ttl = ttl
        self._clock = clock
        self._max = max_turns
        self._turns: OrderedDict[str, tuple[float, TurnRecord]] = OrderedDict()

    async def save_turn(self, rid: str, record: TurnRecord) -> None:
        self._turns[rid] = (self._clock() + self.ttl, record)
        self._turns.move_to_end(rid)
        while len(self._turns) > self._max:
            self._turns.popitem(last=False)

    async def load_turn(self, rid: str) -> TurnRecord | None:
        entry = self._turns.get(rid)
        if entry is None:
            return None
        expires, record = entry
        if expires <= self._clock():
            del self._turns[rid]
            return None
        return record

    def sweep(self) -> None:
        now = self._clock()
        for rid in [rid for rid, (expires, _) in self._turns.items() if expires <= now]:
            del self._turns[rid]
