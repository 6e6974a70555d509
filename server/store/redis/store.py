"""Answers kept in Redis streams: any instance serves any request, one instance generates.

The layout and its atomic scripts are in layout.py, the generating side in generation.py.
This module opens answers, reads them (blocking XREAD from the
client's Last-Event-ID), stops them, and listens for the stops meant for this instance.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.events import AnswerEvent, ServerError
from server.store.redis.generation import Generation, Halt, Timing
from server.store.redis.health import UNREACHABLE, RedisHealth, out_of_memory, retrying
from server.store.redis.layout import (
    STOP_CHANNEL,
    Commands,
    Keys,
    decode_ending,
    sequence_number,
)
from server.store.types import (
    BROKEN_OFF,
    EXPIRED,
    AnswerConflict,
    AnswerLost,
    AnswerState,
    Batch,
    Outcome,
    Start,
    StoreFull,
    StoreUnavailable,
)
from server.turns import TurnRecord

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What readers write when they find an answer that nobody generates any more.
ORPHANED = ServerError("The server answering this stopped unexpectedly; please ask again.")
#: Longest blocking XREAD: silence is checked for a dead owner at least this often.
MAX_BLOCK = 1.0
#: Most connections for short commands at once, per instance (each is in flight for about a
#: round trip; more than this many at once means the instance is overloaded).
COMMAND_CONNECTIONS = 1_000
#: Connections for blocked XREADs, per instance: Redis's default `maxclients`.
MAX_TAIL_CONNECTIONS = 10_000
#: How long shutdown waits for this instance's generations to write their endings.
SHUTDOWN_WAIT = 3.0
#: Retry-After for requests refused while Redis is out of memory: longer than for a blip.
OUT_OF_MEMORY_RETRY = 10
#: Longest pause between two attempts to listen for stops while Redis is unreachable.
LONGEST_LISTEN_PAUSE = 2.0


class RedisEventStore:
    """Answers in Redis, shared by every instance that uses the same URL."""

    def __init__(
        self,
        redis: Redis,
        tail: Redis,
        health: RedisHealth,
        *,
        keep_seconds: float,
        lease_seconds: float,
        reader_grace: float,
        max_answers: int,
        max_events: int,
        flush_interval: float = 0.0,
        turn_ttl: float = 86_400.0,
    ) -> None:
        self.redis = redis
        self.turn_ttl = turn_ttl
        self.tail = tail
        self.health = health
        #: Names this process in leases, so that a stop can find it.
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.commands = Commands(
            redis,
            tail,
            keep_ms=round(keep_seconds * 1000),
            lease_ms=round(lease_seconds * 1000),
            grace_ms=round(reader_grace * 1000),
        )
        self.timing = Timing(lease_seconds, max_events, flush_interval)
        self.reader_grace = reader_grace
        self._max_answers = max_answers
        self._generations: dict[str, Generation] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._closing = False

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisEventStore:
        url = settings.store
        assert url is not None
        options: dict[str, Any] = {
            "decode_responses": True,
            # One quick retry covers a pooled connection that died with a restarted Redis;
            # longer outages are handled (and logged) by the callers, who know their deadlines.
            "retry": Retry(NoBackoff(), 1),
            "socket_connect_timeout": 2.0,
            "socket_timeout": MAX_BLOCK + 4.0,
        }
        # Short commands (appends, renewals, scripts): a connection each while in flight.
        commands = ConnectionPool.from_url(url, max_connections=COMMAND_CONNECTIONS, **options)
        # A blocked XREAD holds its connection for up to MAX_BLOCK: one per waiting reader,
        # in a pool of their own, so that readers can never keep the owners from their leases.
        tail = ConnectionPool.from_url(url, max_connections=MAX_TAIL_CONNECTIONS, **options)
        return cls(
            Redis.from_pool(commands),
            Redis.from_pool(tail),
            RedisHealth(url),
            keep_seconds=settings.keep_seconds,
            lease_seconds=settings.lease_seconds,
            reader_grace=settings.reader_grace,
            max_answers=settings.max_answers,
            max_events=settings.max_events,
            flush_interval=settings.flush_interval,
            turn_ttl=settings.history_ttl,
        )

    def __len__(self) -> int:
        return len(self._generations)

    async def open(
        self, rid: str, question: str, start: Start, *, resume: bool
    ) -> RedisAnswer | None:
        keys = Keys.of(rid)
        token = self.new_token()
        may_create = not resume and len(self._generations) < self._max_answers
        status, kept_question = await self._call(
            self.commands.open(keys, question, token, may_create=may_create)
        )
        if status == "missing":
            if resume:
                return None
            raise StoreFull(rid)
        if kept_question is not None and kept_question != question:
            raise AnswerConflict(rid)
        if status == "created":
            self.generate(keys, token, start(), written=0)
        return RedisAnswer(self, keys)

    async def cancel(self, rid: str) -> bool:
        keys = Keys.of(rid)
        stopped = await self._call(self.commands.stop(keys))
        # The script told the owner; when that is this instance, there is no need to wait.
        generation = self._generations.get(rid)
        if generation is not None:
            generation.stop(Halt.STOPPED)
        return stopped or await self.holds(rid)

    async def holds(self, rid: str) -> bool:
        return bool(await self._call(self.redis.exists(Keys.of(rid).events)))

    @property
    def running(self) -> int:
        return len(self._generations)

    async def make_room(self) -> bool:
        # Whether anyone reads an answer is known only to Redis (any instance may): an answer
        # is stopped when nobody has read it for the reader grace (generation.py).
        return False

    async def spend_ticket(self, nonce: str, seconds: float) -> bool:
        fresh = await self._call(
            self.redis.set(f"ticket:{{{nonce}}}", 1, nx=True, px=max(1, round(seconds * 1000)))
        )
        return bool(fresh)

    async def save_turn(self, rid: str, record: TurnRecord) -> None:
        # Its own key (the same {rid} hash tag as the answer's), kept far longer than events.
        await self._call(
            self.redis.set(f"turn:{{{rid}}}", record.dumps(), ex=max(1, round(self.turn_ttl)))
        )

    async def load_turn(self, rid: str) -> TurnRecord | None:
        text = await self._call(self.redis.get(f"turn:{{{rid}}}"))
        return TurnRecord.loads(text) if isinstance(text, str) else None

    async def sweep(self) -> None:
        pass  # Redis expires the keys itself

    async def start(self) -> None:
        log.info("answers are kept in Redis at %s; this is %s", self.health.where, self.instance)
        self._listener = asyncio.create_task(self._listen_for_stops(), name="stop listener")

    async def close(self) -> None:
        self._closing = True  # the listener also checks, should its cancellation be lost
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait({self._listener}, timeout=2 * MAX_BLOCK)
        for generation in list(self._generations.values()):
            generation.stop(Halt.SHUTDOWN)
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_WAIT)
            for task in late:
                task.cancel()
        await self.redis.aclose()
        await self.tail.aclose()

    def generate(
        self, keys: Keys, token: str, source: AsyncIterator[AnswerEvent], *, written: int
    ) -> None:
        """Runs `source` on this instance under the lease `token` (already taken)."""
        generation = Generation(
            self.commands,
            keys,
            token,
            source,
            written=written,
            timing=self.timing,
            health=self.health,
        )
        self._generations[keys.rid] = generation
        task = asyncio.create_task(self._run(generation), name=f"generation {keys.rid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, generation: Generation) -> None:
        rid = generation.keys.rid
        log.info("generating rid %s on %s", rid, self.instance)
        try:
            halt = await generation.run()
        finally:
            if self._generations.get(rid) is generation:
                del self._generations[rid]
        # Lost: Redis restarted, or was unreachable for longer than the lease.
        level = logging.WARNING if halt is Halt.LOST else logging.INFO
        log.log(level, "rid %s: generation %s", rid, halt.value)

    async def _listen_for_stops(self) -> None:
        """Receives the rids that DELETE requests on any instance stopped, for this one."""
        channel = STOP_CHANNEL + self.instance
        while not self._closing:
            try:
                pubsub = await retrying(
                    partial(self._subscribe, channel),
                    self.health,
                    give_up=lambda: self._closing,
                    pause=0.1,
                    longest_pause=LONGEST_LISTEN_PAUSE,
                )
            except UNREACHABLE:
                return  # closing
            except RedisError:
                log.exception("listening for stops failed")
                await asyncio.sleep(LONGEST_LISTEN_PAUSE)
                continue
            try:
                while not self._closing:
                    message = await pubsub.get_message(timeout=MAX_BLOCK)
                    if message is not None:
                        generation = self._generations.get(str(message["data"]))
                        if generation is not None:
                            generation.stop(Halt.STOPPED)
            except UNREACHABLE as error:
                self.health.failed(error)
            except RedisError:
                log.exception("listening for stops failed")
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _subscribe(self, channel: str) -> PubSub:
        pubsub = self.tail.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        return pubsub

    async def _call(self, call: Awaitable[T]) -> T:
        """One Redis call for a request: a failure is a StoreUnavailable (503), not a hang."""
        try:
            result = await call
        except UNREACHABLE as error:
            self.health.failed(error)
            raise StoreUnavailable(str(error)) from error
        except RedisError as error:
            self.health.refused(error, "a request")
            retry_after = OUT_OF_MEMORY_RETRY if out_of_memory(error) else 1
            raise StoreUnavailable(str(error), retry_after) from error
        self.health.succeeded()
        return result

    def local(self, rid: str) -> Generation | None:
        """The generation of `rid` if it runs on this instance."""
        return self._generations.get(rid)

    def new_token(self) -> str:
        """A lease value: this instance's name (where stops go), and a nonce of this lease's."""
        return f"{self.instance} {secrets.token_hex(8)}"


class RedisAnswer:
    """One answer as one request reads it: from the generation itself when that runs on this
    instance (the usual case: the first request of an answer is the one that starts it),
    else by blocking XREADs from where the client is."""

    def __init__(self, store: RedisEventStore, keys: Keys) -> None:
        self._store = store
        self._keys = keys
        loop = asyncio.get_running_loop()
        # open() has just said this reader is here.
        self._shown_at = loop.time()
        self._check_every = min(MAX_BLOCK, store.timing.lease / 4)

    async def state(self) -> AnswerState:
        entry = await self._retrying(lambda: self._store.commands.last_entry(self._keys))
        if entry is None:
            raise AnswerLost(EXPIRED)
        entry_id, fields = entry
        count = sequence_number(entry_id)
        if not entry_id.endswith("-2"):
            return AnswerState(count, Outcome.RUNNING, failed_retryably=False, has_text=False)
        ending = decode_ending(fields)
        failed_retryably = ending.outcome is Outcome.ERROR and ending.retryable
        return AnswerState(count, ending.outcome, failed_retryably, ending.has_text)

    async def read(self, after: int, wait: float) -> Batch:
        store, keys = self._store, self._keys
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            await self._show_presence()
            generation = store.local(keys.rid)
            if generation is not None and after >= generation.base:
                # Generated here: its events are in this process already, Redis confirmed them.
                # Waiting no longer than the sign of life it must renew.
                wait = min(self._store.reader_grace / 3, deadline - loop.time())
                batch = await generation.read(after, max(0.0, wait))
                if batch is not None:
                    if batch.events or batch.outcome is not Outcome.RUNNING:
                        return batch
                    if loop.time() >= deadline:
                        return batch
                    continue
                # None: it has just ended. Redis has the rest, and how it ended.
            block_ms = max(1, round(min(self._check_every, deadline - loop.time()) * 1000))
            batch = await self._retrying(partial(store.commands.read, keys, after, block_ms))
            if batch is not None:
                return batch
            # Silence: is anyone still generating this answer?
            status, ending = await self._retrying(lambda: store.commands.check(keys, ORPHANED))
            if status == "gone":
                raise AnswerLost(EXPIRED)
            if ending is not None:
                # Ended since the XREAD (or before `after`): whatever is left, then the end.
                batch = await self._retrying(partial(store.commands.read, keys, after, 0))
                return batch or Batch((), ending.outcome)
            if status == "orphaned":
                log.warning("rid %s was left without a generator; ended it with an error", keys.rid)
            elif loop.time() >= deadline:
                return Batch((), Outcome.RUNNING)

    async def restart(self, start: Start, count: int) -> bool:
        store = self._store
        token = store.new_token()
        if not await self._retrying(lambda: store.commands.restart(self._keys, count, token)):
            return False
        store.generate(self._keys, token, start(), written=count)
        return True

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        # Presence is shown by read() itself, which a reader calls at least every ping.
        yield

    async def _show_presence(self) -> None:
        loop = asyncio.get_running_loop()
        grace = self._store.reader_grace
        if loop.time() - self._shown_at >= grace / 3:
            await self._retrying(lambda: self._store.commands.show_reader(self._keys))
            self._shown_at = loop.time()

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`, retried while Redis is unreachable for up to a lease time."""
        health = self._store.health
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._store.timing.lease
        try:
            return await retrying(call, health, give_up=lambda: loop.time() >= give_up)
        except UNREACHABLE as error:
            raise AnswerLost(BROKEN_OFF) from error
        except RedisError as error:
            health.refused(error, f"a read of rid {self._keys.rid}")
            raise AnswerLost(BROKEN_OFF) from error
