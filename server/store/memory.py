"""The default answer store: answers in this process's memory, pulled one event at a time
by their readers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from server.answerers import aclose
from server.events import AnswerEvent, Reasoning, ServerError, Token
from server.store.types import (
    ABANDONED,
    FAILED,
    TOO_LONG,
    AnswerConflict,
    AnswerState,
    Batch,
    Outcome,
    Start,
    StoreFull,
)
from server.turns import MemoryTurns, TurnRecord

log = logging.getLogger(__name__)


class MemoryEventStore:
    """The answers in this process's memory (AnswerStore above), generated only while read."""

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


class Answer:
    """One answer: the events produced so far, and the iterator that produces the rest.

    Generation is pulled, never pushed: an event is produced only when a reader asks for
    one more than it has. So when no reader is attached, generation stops within one event,
    and a reader that comes back (a resume) continues where the answer stands. The pull runs
    in a task owned by the answer, so a reader cancelled by a disconnect never interrupts
    the answerer in the middle of an await; the event it was waiting for is kept.
    """

    def __init__(
        self,
        rid: str,
        question: str,
        source: AsyncIterator[AnswerEvent],
        *,
        max_events: int,
        clock: Callable[[], float],
    ) -> None:
        self.rid = rid
        self.question = question
        self.events: list[AnswerEvent] = []
        self.outcome = Outcome.RUNNING
        self.readers = 0
        #: Since when nobody reads the answer (None while someone does). Opening it counts
        #: as a reader arriving, so an answer nobody ever reads is abandoned from the start.
        self.abandoned_since: float | None = clock()
        self._source = source
        self._max_events = max_events
        self._clock = clock
        self.last_activity = clock()
        self._pull: asyncio.Task[None] | None = None
        # Replaced by a fresh Event each time something changes, so that every waiter
        # wakes once per change without anyone having to clear it.
        self._changed = asyncio.Event()

    @property
    def finished(self) -> bool:
        return self.outcome is not Outcome.RUNNING

    @property
    def generating(self) -> bool:
        """Whether an event is being produced right now."""
        return self._pull is not None and not self._pull.done()

    @property
    def failed_retryably(self) -> bool:
        """Whether the answer ended with an error that says a retry may succeed."""
        last = self.events[-1] if self.events else None
        return self.outcome is Outcome.ERROR and isinstance(last, ServerError) and last.retryable

    @property
    def has_text(self) -> bool:
        return any(isinstance(event, Token | Reasoning) for event in self.events)

    def restart(self, source: AsyncIterator[AnswerEvent]) -> None:
        """Generates the answer again after a retryable failure that produced no text yet.

        The failed attempt's events stay, so the new events continue the numbering and a
        client resuming after the error event gets exactly the new attempt.
        """
        if not self.failed_retryably or self.has_text or self.generating:
            raise ValueError(f"answer {self.rid} cannot be restarted")
        self._source = source
        self.outcome = Outcome.RUNNING
        self.touch()
        self._notify()

    async def wait_beyond(self, seen: int) -> None:
        """Waits until there are more than `seen` events or the answer has finished.

        Asks for the next event if nobody has yet; callers bound the wait with a timeout.
        """
        while len(self.events) <= seen and not self.finished:
            changed = self._changed
            self._start_pull()
            await changed.wait()

    async def close(
        self, outcome: Outcome = Outcome.STOPPED, error: ServerError | None = None
    ) -> None:
        """Stops generation now: cancels a pull under way and closes the answerer.

        `error`, if given, is stored as the last event (with `outcome` ERROR), so that a reader
        who comes back learns why the answer ended.
        """
        if not self.finished:
            if error is not None:
                self.events.append(error)
            self._finish(outcome)
        pull = self._pull
        if pull is not None and not pull.done():
            pull.cancel()
            # wait() rather than awaiting the task: it neither raises the task's
            # CancelledError nor swallows a cancellation of our own caller.
            await asyncio.wait({pull})
        await self._close_source()

    def touch(self) -> None:
        self.last_activity = self._clock()

    def _start_pull(self) -> None:
        # No lock needed: the check and the task creation happen without an await between
        # them, so at most one pull is ever under way.
        if not self.finished and not self.generating:
            self._pull = asyncio.create_task(self._pull_next(), name=f"answer {self.rid}")

    async def _pull_next(self) -> None:
        try:
            event = await anext(self._source)
        except StopAsyncIteration:
            self._finish(Outcome.DONE)
            return
        except Exception:
            # A bug in an answerer must still end the stream in a way the page understands.
            log.exception("answerer failed for rid %s", self.rid)
            self._append(FAILED)
            self._finish(Outcome.ERROR)
        else:
            if self.finished:  # closed while the event was on its way
                return
            self._append(event)
            if isinstance(event, ServerError):
                self._finish(Outcome.ERROR)
            elif len(self.events) >= self._max_events:
                self._append(TOO_LONG)
                self._finish(Outcome.ERROR)
            else:
                return
        # Finished early: close the answerer now rather than when the answer expires.
        await self._close_source()

    async def _close_source(self) -> None:
        try:
            await aclose(self._source)
        except Exception:
            # Nothing waits for this: an answerer failing to clean up is only worth a log line.
            log.exception("closing the answerer failed for rid %s", self.rid)

    def _append(self, event: AnswerEvent) -> None:
        self.events.append(event)
        self.touch()
        self._notify()

    def _finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.touch()
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class AnswerStore:
    """The answers of the last `keep_seconds`, by request id, within memory bounds."""

    def __init__(
        self,
        *,
        keep_seconds: float,
        max_answers: int,
        max_events: int,
        clock: Callable[[], float],
        reader_grace: float = 15.0,
    ) -> None:
        self._answers: dict[str, Answer] = {}
        self._keep_seconds = keep_seconds
        self._reader_grace = reader_grace
        self._max_answers = max_answers
        self._max_events = max_events
        self._clock = clock

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, rid: str) -> Answer | None:
        return self._answers.get(rid)

    def open(
        self, rid: str, question: str, start: Callable[[], AsyncIterator[AnswerEvent]]
    ) -> Answer:
        """The answer for `rid`: the kept one, or a new one whose events `start()` produces.

        `start` is called only for a new answer, so no answerer is created just to be dropped.
        """
        answer = self._answers.get(rid)
        if answer is not None:
            if answer.question != question:
                raise AnswerConflict(rid)
            answer.touch()  # so that no sweep takes it before its new reader attaches
            return answer
        if len(self._answers) >= self._max_answers and not self._evict_finished():
            raise StoreFull(rid)
        answer = Answer(rid, question, start(), max_events=self._max_events, clock=self._clock)
        self._answers[rid] = answer
        return answer

    @contextmanager
    def reading(self, answer: Answer) -> Iterator[Answer]:
        """Marks `answer` as read by one more connection while the block runs."""
        answer.readers += 1
        answer.abandoned_since = None
        answer.touch()
        try:
            yield answer
        finally:
            answer.readers -= 1
            answer.touch()
            if answer.readers == 0:
                answer.abandoned_since = self._clock()

    @property
    def running(self) -> int:
        """Answers still being generated: each may hold an upstream request."""
        return sum(not answer.finished for answer in self._answers.values())

    async def make_room(self) -> bool:
        """Stops the running answer that nobody has read for longest; False if every running
        answer has a reader."""
        abandoned = [
            answer
            for answer in self._answers.values()
            if not answer.finished and answer.readers == 0 and answer.abandoned_since is not None
        ]
        if not abandoned:
            return False
        oldest = min(abandoned, key=lambda answer: answer.abandoned_since or 0.0)
        await _abandon(oldest)
        return True

    async def cancel(self, rid: str) -> bool:
        """Stops the answer for `rid` at once; it stays kept so readers see it stopped."""
        answer = self._answers.get(rid)
        if answer is None:
            return False
        await answer.close(Outcome.STOPPED)
        return True

    async def sweep(self) -> None:
        """Forgets the answers that nobody has read for `keep_seconds`, closing them, and stops
        the ones that nobody has read for the reader grace (kept, so a resume learns why)."""
        now = self._clock()
        expired = [
            answer
            for answer in self._answers.values()
            if answer.readers == 0 and now - answer.last_activity >= self._keep_seconds
        ]
        await self._drop(expired)
        abandoned = [
            answer
            for answer in self._answers.values()
            if not answer.finished
            and answer.readers == 0
            and answer.abandoned_since is not None
            and now - answer.abandoned_since >= self._reader_grace
        ]
        for answer in abandoned:
            await _abandon(answer)

    async def close_all(self) -> None:
        """Stops and forgets every answer (shutdown)."""
        await self._drop(list(self._answers.values()))

    def _evict_finished(self) -> bool:
        """Forgets the finished answer read longest ago, to make room; False if none is.

        Its answerer was closed when it finished, so nothing needs awaiting; the turn it
        answered is kept apart (server/turns.py) and follow-up questions still find it.
        """
        finished = [
            answer for answer in self._answers.values() if answer.finished and not answer.readers
        ]
        if not finished:
            return False
        oldest = min(finished, key=lambda answer: answer.last_activity)
        del self._answers[oldest.rid]
        return True

    async def _drop(self, answers: list[Answer]) -> None:
        # Removed before any await, so a concurrent sweep never closes one twice.
        dropped = [answer for answer in answers if self._answers.pop(answer.rid, None) is answer]
        for answer in dropped:
            await answer.close()


async def _abandon(answer: Answer) -> None:
    # Retryable when no text was sent: a resume then starts a new attempt (see app.py).
    error = ServerError(ABANDONED, retryable=not answer.has_text)
    await answer.close(Outcome.ERROR, error)
    log.info("rid %s: nobody was reading it, so it was stopped", answer.rid)
