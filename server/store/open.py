"""`open_store`: the answer store the settings name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.store.interface import EventStore
from server.store.memory import AnswerStore, MemoryEventStore
from server.turns import MemoryTurns

if TYPE_CHECKING:
    from server.settings import Settings


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
    from server.store.redis.store import RedisEventStore

    return RedisEventStore.from_settings(settings)
