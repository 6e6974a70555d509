"""Where answers' events are kept: the interface the chat endpoint uses, and its in-memory form.

Two implementations: `MemoryEventStore` (the default, one process, generation pulled by
readers; server/answers.py) and `RedisEventStore` (server/redis_store.py: any number of
instances share one Redis, generation pushed by the one instance holding the answer's lease).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from server.answers import Answer, AnswerStore, Outcome
from server.events import AnswerEvent, ServerError
from server.turns import MemoryTurns, TurnRecord

if TYPE_CHECKING:
    from server.settings import Settings

#: Makes the events of a new answer (or of a new attempt at one); called at most once.
Start = Callable[[], AsyncIterator[AnswerEvent]]

#: A resume of an answer the store no longer has (expired, or the store lost it).
EXPIRED = ServerError("This answer is no longer on the server; please ask again.")
#: The answer cannot be read to its end (its store is unreachable, or a new attempt would
#: repeat text the client has already shown).
BROKEN_OFF = ServerError("The answer broke off and cannot be resumed; please ask again.")


@dataclass(frozen=True)
class Batch:
    """The events after some event number, and how the answer stands after them.

    `events` are numbered on from the number asked for. `outcome` is RUNNING while more
    may come; otherwise the answer has ended with the last of `events`.
    """

    events: tuple[AnswerEvent, ...]
    outcome: Outcome


@dataclass(frozen=True)
class AnswerState:
    """How far an answer has got: what a resume decides on before streaming."""

    count: int
    outcome: Outcome
    #: It ended with an error that says a retry may succeed.
    failed_retryably: bool
    #: Some token was produced, so a new attempt would repeat text (known once it has ended).
    has_text: bool


class AnswerLost(Exception):
    """The answer can no longer be read; `event` (sent without an id) tells the client why."""

    def __init__(self, event: ServerError) -> None:
        super().__init__(event.message)
        self.event = event


class StoreUnavailable(Exception):
    """The store cannot be reached (or is out of memory) right now: a request should be
    retried `retry_after` seconds later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoredAnswer(Protocol):
    """One answer, as one request reads it."""

    async def state(self) -> AnswerState: ...

    async def read(self, after: int, wait: float) -> Batch:
        """The events after number `after`; when there are none yet, waits up to `wait`
        seconds for some (an empty RUNNING batch: nothing came). Raises AnswerLost."""
        ...

    async def restart(self, start: Start, count: int) -> bool:
        """Starts a new attempt after a retryable failure that produced no text as event
        `count` (as `state()` found it), numbered on from there; False when that is not,
        or no longer, how the answer stands."""
        ...

    def reading(self) -> AbstractAsyncContextManager[None]:
        """Marks one connection as reading while the block runs (keeps the answer alive)."""
        ...


class EventStore(Protocol):
    """The answers of every request id: opened by streams, stopped by DELETE."""

    async def open(
        self, rid: str, question: str, start: Start, *, resume: bool
    ) -> StoredAnswer | None:
        """The answer for `rid`: the kept one, or (unless `resume`) a new one made by
        `start()`. None: a resume of an answer the store does not have. Raises
        AnswerConflict (another question), StoreFull, StoreUnavailable."""
        ...

    async def cancel(self, rid: str) -> bool:
        """Stops the answer's generation within a second, wherever it runs; its events stay.
        False when the store has no answer `rid`."""
        ...

    async def holds(self, rid: str) -> bool:
        """Whether the store has an answer `rid` (running or ended)."""
        ...

    @property
    def running(self) -> int:
        """Answers this process is generating: each may hold an upstream connection."""
        ...

    async def make_room(self) -> bool:
        """Stops this process's running answer that nobody has read for longest, to free its
        upstream connection; False when there is none to stop."""
        ...

    async def spend_ticket(self, nonce: str, seconds: float) -> bool:
        """Marks a one-time ticket as used for `seconds` (its lifetime); False if it already
        was, on any instance."""
        ...

    async def save_turn(self, rid: str, record: TurnRecord) -> None:
        """Keeps an answered turn for follow-up questions (server/turns.py), for a while."""
        ...

    async def load_turn(self, rid: str) -> TurnRecord | None:
        """The turn kept under `rid`, or None when it is unknown or expired."""
        ...

    async def sweep(self) -> None:
        """Forgets answers whose time is up (a store that expires them itself does nothing)."""
        ...

    async def start(self) -> None:
        """Prepares the store when the application starts."""
        ...

    async def close(self) -> None:
        """Stops this process's generations and releases what the store holds (shutdown)."""
        ...

    def __len__(self) -> int:
        """Answers this process holds: kept ones in memory, generating ones with Redis."""
        ...


def open_store(settings: Settings) -> EventStore:
    """The store `settings.store` names: None is this process's memory, else a redis:// URL."""
    if settings.store is None:
        return MemoryEventStore(
            AnswerStore(
                keep_seconds=settings.keep_seconds,
                max_answers=settings.max_answers,
                max_events=settings.max_events,
                clock=settings.clock,
                reader_grace=settings.reader_grace,
            ),
            MemoryTurns(settings.history_ttl, settings.clock),
        )
    # Imported here: the default, one-process server never needs the Redis client.
    from server.redis_store import RedisEventStore

    return RedisEventStore.from_settings(settings)


class MemoryEventStore:
    """The answers in this process's memory (server.answers), generated only while read."""

    def __init__(self, answers: AnswerStore, turns: MemoryTurns | None = None) -> None:
        self.answers = answers
        self.turns = turns or MemoryTurns(86_400.0, time.monotonic)
        self._clock = answers.clock
        #: Spent tickets' nonces, and when each could be forgotten (its ticket has expired).
        self._spent: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self.answers)

    async def open(
        self, rid: str, question: str, start: Start, *, resume: bool
    ) -> MemoryAnswer | None:
        if resume and self.answers.get(rid) is None:
            return None
        return MemoryAnswer(self.answers, self.answers.open(rid, question, start))

    async def cancel(self, rid: str) -> bool:
        return await self.answers.cancel(rid)

    async def holds(self, rid: str) -> bool:
        return self.answers.get(rid) is not None

    @property
    def running(self) -> int:
        return self.answers.running

    async def make_room(self) -> bool:
        return await self.answers.make_room()

    async def spend_ticket(self, nonce: str, seconds: float) -> bool:
        now = self._clock()
        if len(self._spent) > 10_000:  # only old ones can be forgotten; bounded all the same
            self._spent = {n: until for n, until in self._spent.items() if until > now}
        if nonce in self._spent:
            return False
        self._spent[nonce] = now + seconds
        return True

    async def save_turn(self, rid: str, record: TurnRecord) -> None:
        await self.turns.save_turn(rid, record)

    async def load_turn(self, rid: str) -> TurnRecord | None:
        return await self.turns.load_turn(rid)

    async def sweep(self) -> None:
        await self.answers.sweep()
        self.turns.sweep()
        now = self._clock()
        self._spent = {nonce: until for nonce, until in self._spent.items() if until > now}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        await self.answers.close_all()


class MemoryAnswer:
    """One in-memory answer: reading it is what pulls its next event."""

    def __init__(self, answers: AnswerStore, answer: Answer) -> None:
        self._answers = answers
        self._answer = answer

    async def state(self) -> AnswerState:
        answer = self._answer
        return AnswerState(
            len(answer.events), answer.outcome, answer.failed_retryably, answer.has_text
        )

    async def read(self, after: int, wait: float) -> Batch:
        answer = self._answer
        if len(answer.events) <= after and not answer.finished:
            try:
                async with asyncio.timeout(wait):
                    await answer.wait_beyond(after)
            except TimeoutError:
                pass
        # No await between reading the events and the outcome: they agree.
        return Batch(tuple(answer.events[after:]), answer.outcome)

    async def restart(self, start: Start, count: int) -> bool:
        answer = self._answer
        if not answer.failed_retryably or answer.has_text or answer.generating:
            return False
        answer.restart(start())
        return True

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        with self._answers.reading(self._answer):
            yield
