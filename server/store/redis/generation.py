"""The owner's side of a Redis-kept answer: runs the answerer to its end under the lease.

Push, not pull: the instance that holds an answer's lease pulls its answerer as fast as it
produces and appends the events to the answer's stream, whoever reads them and wherever.
A pull across instances would need every reader's progress sent to the owner; pushing
needs nothing from readers but a sign of life (the `readers` key), and an answer that
nobody has read for the grace period is stopped, so a page that went away stops costing.

Events are coalesced: while one append is in flight, the events that arrive meanwhile wait
and go in the next one. At low load every event is its own append, with no added delay; when
Redis is slow, appends carry more events each instead of queueing up. A flush interval
(`--flush-ms`) batches further, for that much latency.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio
from redis.exceptions import RedisError

from server.answerers import aclose
from server.events import AnswerEvent, Reasoning, ServerError, Token
from server.store.redis.health import UNREACHABLE, RedisHealth, retrying
from server.store.redis.layout import Commands, Ending, Keys, Verdict, sequence_number
from server.store.types import ABANDONED, FAILED, TOO_LONG, Batch, Outcome

log = logging.getLogger(__name__)

SHUT_DOWN = "The server answering this was shut down; please ask again."


class Halt(enum.Enum):
    """Why a generation ended."""

    #: The answerer ended and its ending was written.
    FINISHED = "finished"
    #: Stopped by a DELETE (on any instance): the stream already says so.
    STOPPED = "stopped"
    #: Someone else ended the stream (a stop whose message did not reach us).
    ENDED = "ended"
    #: The lease is gone (Redis lost it, or it expired while Redis was unreachable).
    LOST = "lost"
    #: Nobody read the answer for the grace period.
    ABANDONED = "abandoned"
    #: This instance is shutting down.
    SHUTDOWN = "shutdown"


@dataclass(frozen=True)
class Timing:
    """The time limits of a generation, in seconds, and its size limits."""

    lease: float
    max_events: int
    #: At most one append per this many seconds (the first event goes at once).
    flush_interval: float = 0.0

    @property
    def renew_every(self) -> float:
        # A third of the lease: two renewals may fail before anyone takes the answer for dead.
        return self.lease / 3

    @property
    def maxlen(self) -> int:
        # A backstop: the writer itself ends the answer at max_events. Room for the question,
        # the error that says so and the ending entry.
        return self.max_events + 3


class Generation:
    """One answerer, run on this instance into the stream of `keys` while holding the lease."""

    def __init__(
        self,
        commands: Commands,
        keys: Keys,
        token: str,
        source: AsyncIterator[AnswerEvent],
        *,
        written: int,
        timing: Timing,
        health: RedisHealth,
    ) -> None:
        self.keys = keys
        self._commands = commands
        self._token = token
        self._source = source
        self._timing = timing
        self._health = health
        #: Events in the stream before this attempt (a restart continues a failed attempt's).
        self.base = written
        #: Events in the stream so far.
        self._written = written
        #: This attempt's events and ending that Redis has confirmed: what local readers get.
        self._confirmed: list[AnswerEvent] = []
        self._confirmed_ending: Ending | None = None
        self._done = False
        self._changed = asyncio.Event()
        self._has_text = False
        self._pending: list[AnswerEvent] = []
        self._ending: Ending | None = None
        self._arrived = asyncio.Event()
        self._renewed_at = asyncio.get_running_loop().time()
        #: Why it ended: the first reason wins.
        self._halt: Halt | None = None
        # anyio, not bare tasks: its cancellation is level-triggered, so an await that
        # swallows one cancellation (Python 3.11's wait_for, which redis-py uses, can) cannot
        # keep the generation going.
        self._scope = anyio.CancelScope()

    def stop(self, halt: Halt) -> None:
        """Ends the generation now: the answerer is interrupted at its current await."""
        self._end(halt)

    async def read(self, after: int, wait: float) -> Batch | None:
        """For a reader on this instance (`after` >= `base`): the events after `after` that
        Redis has confirmed, without asking Redis; waits up to `wait` seconds for some.
        None once the generation is over: then Redis alone knows how the answer ended."""
        while not self._done:
            events = tuple(self._confirmed[after - self.base :])
            ending = self._confirmed_ending
            if events or ending is not None:
                return Batch(events, Outcome.RUNNING if ending is None else ending.outcome)
            changed = self._changed
            try:
                async with asyncio.timeout(wait):
                    await changed.wait()
            except TimeoutError:
                return Batch((), Outcome.RUNNING)
        return None

    async def run(self) -> Halt:
        """Generates to the end, then closes the answerer and releases the lease."""
        try:
            with self._scope:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._pump_events)
                    group.start_soon(self._keep_lease)
        finally:
            self._done = True
            self._notify()
        halt = self._halt or Halt.LOST
        # The upstream call first: it is what costs, and a stop must end it within a second.
        await self._close_source()
        if halt in (Halt.ABANDONED, Halt.SHUTDOWN):
            await self._end_early(ABANDONED if halt is Halt.ABANDONED else SHUT_DOWN)
        if halt in (Halt.STOPPED, Halt.ENDED):
            await self._release()  # the other ways out wrote an ending, which released it
        return halt

    def _end(self, halt: Halt) -> None:
        if self._halt is None:
            self._halt = halt
        self._scope.cancel()

    async def _pump_events(self) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(self._pull)
            halt = await self._write_all()
            group.cancel_scope.cancel()
        self._end(halt)

    async def _write_all(self) -> Halt:
        """Writes what the answerer produces, batched, until its ending is written."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._arrived.wait()
                self._arrived.clear()
                events, ending = self._pending, self._ending
                self._pending = []
                began = loop.time()
                if events or ending is not None:
                    await self._append(events, ending)
                if ending is not None:
                    return Halt.FINISHED
                if self._timing.flush_interval:
                    # Events arriving meanwhile go together in the next append.
                    await asyncio.sleep(began + self._timing.flush_interval - loop.time())
        except _Halted as halted:
            return halted.halt
        except RedisError as error:
            # Refused a write (out of memory?): readers will end the answer themselves.
            self._health.refused(error, f"the events of rid {self.keys.rid}")
            return Halt.LOST
        except Exception:
            log.exception("generating rid %s failed", self.keys.rid)
            return Halt.LOST

    async def _pull(self) -> None:
        """Pulls the answerer into `_pending` as fast as it produces; sets `_ending` at its end."""
        pulled = self._written
        ending = Ending(Outcome.DONE)
        try:
            async for event in self._source:
                self._pending.append(event)
                self._has_text = self._has_text or isinstance(event, Token | Reasoning)
                pulled += 1
                if isinstance(event, ServerError):
                    ending = Ending(Outcome.ERROR, event.retryable, self._has_text)
                    break
                if pulled >= self._timing.max_events:
                    self._pending.append(TOO_LONG)
                    ending = Ending(Outcome.ERROR, False, self._has_text)
                    break
                self._arrived.set()
        except Exception:
            # A bug in an answerer must still end the stream in a way the page understands.
            log.exception("answerer failed for rid %s", self.keys.rid)
            self._pending.append(FAILED)
            ending = Ending(Outcome.ERROR, False, self._has_text)
        self._ending = ending
        self._arrived.set()

    async def _append(self, events: list[AnswerEvent], ending: Ending | None) -> None:
        first = self._written + 1
        verdict = await self._retrying(
            lambda: self._commands.append(
                self.keys, self._token, first, events, ending, maxlen=self._timing.maxlen
            )
        )
        if verdict == Verdict.LOST:
            raise _Halted(Halt.LOST)
        if verdict == Verdict.ENDED:
            raise _Halted(Halt.ENDED)
        self._written += len(events)
        self._confirmed.extend(events)
        self._confirmed_ending = ending
        self._notify()

    async def _keep_lease(self) -> None:
        """Renews the lease (and the stream's TTL) every third of the lease, so that appends
        stay one GET and the XADDs; ends the generation when the renewal says it must."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.0, self._renewed_at + self._timing.renew_every - loop.time()))
            sent = loop.time()
            try:
                verdict = await self._retrying(lambda: self._commands.renew(self.keys, self._token))
            except _Halted as halted:
                return self._end(halted.halt)
            except RedisError as error:
                self._health.refused(error, f"renewing the lease of rid {self.keys.rid}")
                return self._end(Halt.LOST)
            except Exception:
                log.exception("renewing the lease of rid %s failed", self.keys.rid)
                return self._end(Halt.LOST)
            if verdict == Verdict.OK:
                self._renewed_at = sent  # the lease runs from when Redis got the renewal
            elif verdict == Verdict.ALONE:
                return self._end(Halt.ABANDONED)
            else:
                return self._end(Halt.LOST if verdict == Verdict.LOST else Halt.ENDED)

    async def _retrying(self, call: Callable[[], Awaitable[str]]) -> str:
        """`call()`, retried while Redis is unreachable, until the lease has surely expired."""
        loop = asyncio.get_running_loop()

        def lease_expired() -> bool:
            return loop.time() - self._renewed_at > self._timing.lease

        try:
            return await retrying(call, self._health, give_up=lease_expired)
        except UNREACHABLE as error:
            raise _Halted(Halt.LOST) from error

    async def _end_early(self, message: str) -> None:
        # Retryable when no text was sent: a resume then starts a new attempt (see app.py).
        error = ServerError(message, retryable=not self._has_text)
        ending = Ending(Outcome.ERROR, error.retryable, self._has_text)
        try:
            # Counted again: an append cancelled on its way may have been written or not.
            last = await self._commands.last_entry(self.keys)
            written = sequence_number(last[0]) if last is not None else self._written
            await self._commands.append(
                self.keys, self._token, written + 1, [error], ending, maxlen=self._timing.maxlen
            )
        except RedisError as failure:
            # Readers find the lease gone and end the answer themselves.
            log.warning("could not end rid %s: %s", self.keys.rid, failure)

    async def _close_source(self) -> None:
        try:
            await aclose(self._source)
        except Exception:
            log.exception("closing the answerer failed for rid %s", self.keys.rid)

    async def _release(self) -> None:
        try:
            await self._commands.release(self.keys, self._token)
        except RedisError as failure:
            log.warning("could not release the lease of rid %s: %s", self.keys.rid, failure)

    def _notify(self) -> None:
        # A fresh Event per change, so that every waiter wakes once and nobody clears it.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class _Halted(Exception):
    def __init__(self, halt: Halt) -> None:
        super().__init__(halt.value)
        self.halt = halt
