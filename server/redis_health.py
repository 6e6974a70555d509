"""Whether Redis is reachable, said in the log once per outage rather than once per call."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

#: Redis errors that mean "not reachable right now": worth retrying for a while.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class RedisHealth:
    """Every Redis call reports here; the log gets one line when Redis goes, one when it is back."""

    def __init__(self, url: str) -> None:
        self.where = describe(url)
        self._down_since: float | None = None

    @property
    def reachable(self) -> bool:
        return self._down_since is None

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


def describe(url: str) -> str:
    """`host:port/db` of a Redis URL, without the credentials it may hold."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"
