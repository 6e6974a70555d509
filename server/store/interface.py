"""The answer store as the chat endpoint sees it: `EventStore` and the `StoredAnswer`s it opens."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from server.store.types import AnswerState, Batch, Start
from server.turns import TurnRecord


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
