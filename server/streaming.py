"""Streaming one answer to one connection as server-sent events, until it ends or goes away."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from server.events import DONE, AnswerEvent, event_json
from server.sse import format_event, format_json_event, format_retry
from server.store.interface import StoredAnswer
from server.store.types import AnswerLost, Outcome

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream; charset=utf-8"
#: Sent after `ping_interval` seconds without events; no id, so it never moves a resume point.
HEARTBEAT = format_json_event({"type": "ping"})
#: no-cache: a stream is never replayed from a cache. X-Accel-Buffering: nginx would
#: otherwise buffer the response and deliver the tokens in lumps.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def answer_frames(
    answer: StoredAnswer, after: int, *, retry_ms: int, ping_interval: float
) -> AsyncGenerator[str, None]:
    """The frames for one reader: `retry:`, the events after `after`, then `[DONE]`.

    Events are numbered from 1 within the answer and carry that number as their `id`.
    `[DONE]` has no id, so a Last-Event-ID never points past the last real event. An answer
    that failed ends after its error event, and a stopped one just ends: neither is complete.
    An answer the store lost ends with an error event without id.
    """
    async with answer.reading():
        yield format_retry(retry_ms)
        seen = after
        pending: deque[AnswerEvent] = deque()
        outcome = Outcome.RUNNING
        while True:
            if pending:
                seen += 1
                yield format_json_event(event_json(pending.popleft()), id=seen)
                continue
            if outcome is not Outcome.RUNNING:
                if outcome is Outcome.DONE:
                    yield format_event(DONE)
                return
            try:
                batch = await answer.read(seen, ping_interval)
            except AnswerLost as lost:
                yield format_json_event(event_json(lost.event))
                return
            pending.extend(batch.events)
            outcome = batch.outcome
            if not batch.events and outcome is Outcome.RUNNING:
                # A real event, not a `: ping` comment: EventSource never shows comments to
                # script, and the page's stall timer must see that the model is still working.
                yield HEARTBEAT


async def single_event_frames(event: AnswerEvent, retry_ms: int) -> AsyncGenerator[str, None]:
    """A stream of one event without an id, for an answer that cannot be streamed."""
    yield format_retry(retry_ms)
    yield format_json_event(event_json(event))


class EventStreamResponse(StreamingResponse):
    """Sends `frames` as an event stream, and stops pulling them as soon as the client leaves.

    Starlette's StreamingResponse notices a disconnect only when its next write fails (ASGI
    spec 2.4) — too late when the stream is silent, waiting for the next token. This one always
    listens for `http.disconnect` and cancels the stream at once.

    A client that stops reading (its window full, the server's buffer full) makes a write
    wait; one that waits longer than `write_timeout` seconds ends the response, and the
    server closes the connection. `on_close` runs once the response is over, however.
    """

    def __init__(
        self,
        frames: AsyncGenerator[str, None],
        headers: Mapping[str, str] | None = None,
        *,
        write_timeout: float | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            frames, headers={**STREAM_HEADERS, **(headers or {})}, media_type=EVENT_STREAM
        )
        self.frames = frames
        self.write_timeout = write_timeout
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._respond(scope, receive, send)
        finally:
            if self.on_close is not None:
                self.on_close()

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "HEAD":
            # Headers only; the frames were never started, so no answer was pulled.
            await self.frames.aclose()
            await send(self._start_message())
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        async with anyio.create_task_group() as group:

            async def stream_then_stop() -> None:
                await self._stream(send)
                group.cancel_scope.cancel()

            group.start_soon(stream_then_stop)
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

    async def _stream(self, send: Send) -> None:
        try:
            await send(self._start_message())
            async with aclosing(self.frames) as frames:
                async for frame in frames:
                    body = frame.encode()
                    message = {"type": "http.response.body", "body": body, "more_body": True}
                    try:
                        async with asyncio.timeout(self.write_timeout):
                            await send(message)
                    except TimeoutError:
                        # Returning without the last message: the server closes the
                        # connection, and the answer goes on for readers who do read.
                        log.info("a reader stopped reading for %ss: closed", self.write_timeout)
                        return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            return  # the client went away between two writes: nothing more to do

    def _start_message(self) -> Message:
        return {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
