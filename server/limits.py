"""Fair shares: per-client limits on answers at once and questions per minute, and a byte cap.

A client is an address, or a token's subject when sign-in is on (server/auth.py). The limits
are kept in this process's memory: with several instances behind a load balancer, each
enforces its own (docs/security.md).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from server.answerers import aclose
from server.events import AnswerEvent, Reasoning, ServerError, Token

#: Clients remembered at most; past it, those with nothing to remember are forgotten.
MAX_CLIENTS = 10_000


@dataclass(frozen=True)
class Refusal:
    """Why a client must wait, in words for the user, and for how many whole seconds."""

    message: str
    retry_after: int


class ClientLimits:
    """Streams at once and new questions per minute, per client.

    Questions are a token bucket: it holds `per_minute` and refills at `per_minute` a minute,
    so a burst of that many is allowed, then one every `60 / per_minute` seconds. A resume
    (`Last-Event-ID`) is not a new question: only the streams-at-once limit applies to it.
    """

    def __init__(
        self, *, streams: int, per_minute: int, clock: Callable[[], float], stream_wait: int = 5
    ) -> None:
        self.streams = streams
        self.per_minute = per_minute
        self._clock = clock
        self._stream_wait = stream_wait
        self._open: dict[str, int] = {}
        #: client -> (questions left in the bucket, when it was last counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def admit(self, client: str, *, question: bool) -> Refusal | None:
        """Takes one stream (and, for a new `question`, one question) for `client`, or says
        why not. Every admission must be followed by exactly one `release(client)`."""
        if self.streams and self._open.get(client, 0) >= self.streams:
            return Refusal(
                f"You have {self.streams} answers streaming at once already; stop one, or try"
                f" again in {self._stream_wait} s.",
                self._stream_wait,
            )
        if question and self.per_minute:
            refusal = self._take_question(client)
            if refusal is not None:
                return refusal
        self._open[client] = self._open.get(client, 0) + 1
        return None

    def release(self, client: str) -> None:
        left = self._open.get(client, 0) - 1
        if left > 0:
            self._open[client] = left
        else:
            self._open.pop(client, None)

    def open_streams(self, client: str) -> int:
        return self._open.get(client, 0)

    def _take_question(self, client: str) -> Refusal | None:
        now = self._clock()
        rate = self.per_minute / 60.0
        left, counted_at = self._buckets.get(client, (float(self.per_minute), now))
        left = min(float(self.per_minute), left + (now - counted_at) * rate)
        if left < 1.0:
            self._buckets[client] = (left, now)
            wait = max(1, math.ceil((1.0 - left) / rate))
            return Refusal(f"You are sending questions too quickly; try again in {wait} s.", wait)
        if len(self._buckets) >= MAX_CLIENTS:
            self._forget_full(now)
        self._buckets[client] = (left - 1.0, now)
        return None

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket at all.
        rate = self.per_minute / 60.0
        self._buckets = {
            client: (left, at)
            for client, (left, at) in self._buckets.items()
            if left + (now - at) * rate < self.per_minute
        }


def cut_off_message(max_bytes: int) -> str:
    return f"The answer was cut off at {max_bytes / 1024:,.0f} KB."


async def capped(source: AsyncIterator[AnswerEvent], max_bytes: int) -> AsyncIterator[AnswerEvent]:
    """`source`'s events until its text (answer and reasoning, in UTF-8) reaches `max_bytes`;
    then the text up to the cap, and an error that says where the answer was cut off."""
    used = 0
    try:
        async for event in source:
            if isinstance(event, Token | Reasoning):
                size = len(event.text.encode())
                if used + size > max_bytes:
                    head = _utf8_prefix(event.text, max_bytes - used)
                    if head:
                        yield type(event)(head)
                    yield ServerError(cut_off_message(max_bytes), code="too-long")
                    return
                used += size
            yield event
    finally:
        await aclose(source)


def _utf8_prefix(text: str, size: int) -> str:
    """The longest prefix of `text` that takes at most `size` bytes in UTF-8."""
    return text.encode()[: max(0, size)].decode("utf-8", "ignore")
