"""Whether Redis is reachable, said in the log once per outage rather than once per call;
and `retrying`, the one way a call waits for an unreachable Redis to come back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Redis errors that mean "not reachable right now": worth retrying for a while.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
#: Seconds between two log lines about Redis refusing writes (out of memory, say).
REFUSAL_LOG_INTERVAL = 60.0


async def retrying(
    call: Callable[[], Awaitable[T]],
    health: RedisHealth,
    *,
    give_up: Callable[[], bool],
    pause: float = 0.05,
    longest_pause: float = 1.0,
) -> T:
    """`call()`, made again while Redis is unreachable, after a pause that doubles each time
    up to `longest_pause`; once `give_up()` says so, the last UNREACHABLE error is raised.

    Every outcome is reported to `health`. A refusal (any other RedisError) is raised at
    once: Redis answered, and asking again would get the same answer.
    """
    while True:
        try:
            result = await call()
        except UNREACHABLE as error:
            health.failed(error)
            if give_up():
                raise
        else:
            health.succeeded()
            return result
        await asyncio.sleep(pause)
        pause = min(pause * 2, longest_pause)


class RedisHealth:
    """Every Redis call reports here; the log gets one line when Redis goes, one when it is back."""

    def __init__(self, url: str) -> None:
        self.where = describe(url)
        self._down_since: float | None = None
        self._refusal_logged_at: float | None = None
        self._refusals_unlogged = 0

    def succeeded(self) -> None:
        if self._down_since is not None:
            log.warning(
                "Redis at %s is reachable again after %.1f s",
                self.where,
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    def failed(self, error: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("Redis at %s is unreachable (%s); retrying", self.where, error)

    def refused(self, error: RedisError, doing: str) -> None:
        """Redis answered, but refused a command. Out of memory is said once a minute (it
        refuses every write until someone frees memory), with a count of the others; any
        other refusal is a bug worth its traceback each time."""
        if not isinstance(error, OutOfMemoryError):
            log.error("Redis refused %s", doing, exc_info=error)
            return
        now = time.monotonic()
        last = self._refusal_logged_at
        if last is not None and now - last < REFUSAL_LOG_INTERVAL:
            self._refusals_unlogged += 1
            return
        more = f" (and {self._refusals_unlogged} more since the last report)"
        log.error(
            "Redis at %s is out of memory: it refused %s%s; answering 503 until it has room",
            self.where,
            doing,
            more if self._refusals_unlogged else "",
        )
        self._refusal_logged_at = now
        self._refusals_unlogged = 0


def describe(url: str) -> str:
    """`host:port/db` of a Redis URL, without the credentials it may hold."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


def out_of_memory(error: BaseException) -> bool:
    return isinstance(error, OutOfMemoryError)
