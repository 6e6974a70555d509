"""One streamed answer as a reactive state object: what a UI shows, with change notifications.

The counterpart of a UI framework's streaming hook (`{text, citations, isStreaming}`):
`StreamingAnswer` consumes `stream_query`'s messages into plain attributes and tells its
subscribers that something changed, at most once per frame of the injected scheduler
(`requestAnimationFrame` in the browser, the event loop's `call_soon` in CPython). It knows
nothing of the DOM or the network, so it runs and is tested in plain CPython.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable
from typing import Any

from streamchat.client import Item, Reconnecting, StreamRequest, Transport, stream_query
from streamchat.protocol import (
    Citation,
    Citations,
    Context,
    Done,
    Finish,
    Ping,
    Reasoning,
    StreamBroken,
    StreamError,
    Token,
    Usage,
)

__all__ = ["AnswerState", "Schedule", "StreamingAnswer", "Subscriber", "call_soon"]


class AnswerState(enum.Enum):
    """Where an answer is in its life. `value` is the word a page can show or style on."""

    IDLE = "idle"  # not started
    CONNECTING = "connecting"  # asked; nothing has come back yet
    STREAMING = "streaming"  # the server is sending the answer
    RECONNECTING = "reconnecting"  # the connection failed; waiting to resume it
    DONE = "done"  # complete: `[DONE]` came
    FAILED = "failed"  # ended by an error (`error` says which); the partial text is kept
    STOPPED = "stopped"  # stopped by the reader (or the program); the partial text is kept

    @property
    def is_active(self) -> bool:
        """Whether the answer may still change (connecting, streaming or reconnecting)."""
        return self in _ACTIVE

    @property
    def is_final(self) -> bool:
        """Whether the answer has ended (done, failed or stopped)."""
        return self in _FINAL


_ACTIVE = frozenset({AnswerState.CONNECTING, AnswerState.STREAMING, AnswerState.RECONNECTING})
_FINAL = frozenset({AnswerState.DONE, AnswerState.FAILED, AnswerState.STOPPED})

#: A subscriber is called with the answer after one or more changes.
Subscriber = Callable[["StreamingAnswer"], None]
#: Runs a callback later, once: `requestAnimationFrame`-like. Its return value is ignored.
Schedule = Callable[[Callable[[], None]], Any]


def call_soon(callback: Callable[[], None]) -> None:
    """The CPython default scheduler: the running event loop's `call_soon`, or at once when no
    loop is running (the answer is being updated from plain synchronous code)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        callback()
    else:
        loop.call_soon(callback)


class StreamingAnswer:
    """The state of one answer, updated from `stream_query`'s messages.

    Attributes, all read-only for the UI: `text` (the answer's markdown so far; it only ever
    grows, so a renderer can feed it `text[len(seen):]`), `reasoning`, `citations`, `usage`,
    `finish_reason` ("length" or "content-filter" when the model stopped early, else None),
    `context`, `state` (`AnswerState`), `error` (the `StreamError` of a failed answer),
    `retries` (reconnections so far), `reconnecting` (the last `Reconnecting` message, while
    the state is RECONNECTING) and `heartbeats` (how many `Ping`s came: the back end is there
    and the model working, even before its first word).

    `schedule` decides when subscribers hear of changes: every change in between is
    coalesced into one notification, so a fast stream costs one UI update per frame.
    """

    def __init__(self, *, schedule: Schedule = call_soon) -> None:
        self._schedule = schedule
        self._subscribers: list[Subscriber] = []
        self._pending = False
        self._task: asyncio.Task[None] | None = None
        self.text = ""
        self.reasoning = ""
        self.citations: tuple[Citation, ...] = ()
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.context: Context | None = None
        self.state = AnswerState.IDLE
        self.error: StreamError | None = None
        self.retries = 0
        self.reconnecting: Reconnecting | None = None
        self.heartbeats = 0

    @property
    def is_streaming(self) -> bool:
        """Whether the answer may still change: the hook's `isStreaming`."""
        return self.state.is_active

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(answer)` after changes; returns the function that unsubscribes it."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def apply(self, item: Item) -> None:
        """Take one of `stream_query`'s messages into the state."""
        if isinstance(item, Reconnecting):
            self.state = AnswerState.RECONNECTING
            self.retries = item.attempt
            self.reconnecting = item
        else:
            if isinstance(item, Token):
                self.text += item.text
            elif isinstance(item, Reasoning):
                self.reasoning += item.text
            elif isinstance(item, Citations):
                self.citations = item.citations
            elif isinstance(item, Usage):
                self.usage = item
            elif isinstance(item, Finish):
                self.finish_reason = item.reason
            elif isinstance(item, Context):
                self.context = item
            elif isinstance(item, Ping):
                self.heartbeats += 1
            elif not isinstance(item, Done):
                return
            self.reconnecting = None
            self.state = AnswerState.DONE if isinstance(item, Done) else AnswerState.STREAMING
        self._changed()

    async def consume(self, messages: AsyncIterator[Item]) -> None:
        """Apply every message of `messages` (usually `stream_query(...)`) until the answer ends.

        A `StreamError` ends it FAILED (kept in `error`, not raised: the state says it);
        cancelling the task that runs this ends it STOPPED, and the cancellation goes on.
        `messages` is closed however this ends, which closes the connection.
        """
        if not self.state.is_active:
            self._set(AnswerState.CONNECTING)
        try:
            async for item in messages:
                self.apply(item)
                if self.state is AnswerState.DONE:
                    break
            else:
                self._fail(StreamBroken("the messages ended before the answer was complete"))
        except StreamError as error:
            self._fail(error)
        except asyncio.CancelledError:
            self._set(AnswerState.STOPPED)
            raise
        finally:
            aclose = getattr(messages, "aclose", None)
            if aclose is not None:
                await aclose()

    async def run(self, request: StreamRequest, transport: Transport, **options: Any) -> None:
        """Stream `request` over `transport` into this answer: `stream_query` with its
        defaults, or its keyword `options` (policy, sleep, rng, now, wait_for, cursor)."""
        await self.consume(stream_query(request, transport, **options))

    def start(
        self, request: StreamRequest, transport: Transport, **options: Any
    ) -> asyncio.Task[None]:
        """`run` in a task of its own, so that `stop()` can end it."""
        self._set(AnswerState.CONNECTING)
        self._task = asyncio.ensure_future(self.run(request, transport, **options))
        return self._task

    def stop(self) -> None:
        """Stop the answer started with `start`: its connection is closed at once and the
        state becomes STOPPED (the text so far is kept). Nothing happens once it has ended."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            if not self.state.is_final:
                # Said at once: the task only learns of the cancellation when it next runs.
                self._set(AnswerState.STOPPED)

    def flush(self) -> None:
        """Notify the subscribers now of a change still waiting for its frame."""
        if self._pending:
            self._notify()

    def _fail(self, error: StreamError) -> None:
        self.error = error
        self.reconnecting = None
        self._set(AnswerState.FAILED)

    def _set(self, state: AnswerState) -> None:
        if self.state is not state:
            self.state = state
            self._changed()

    def _changed(self) -> None:
        if not self._pending:
            self._pending = True
            self._schedule(self._notify)

    def _notify(self) -> None:
        if not self._pending:
            return  # already flushed
        self._pending = False
        failure: BaseException | None = None
        for callback in list(self._subscribers):
            try:
                callback(self)
            except Exception as exc:  # one broken subscriber must not starve the others
                failure = failure or exc
        if failure is not None:
            raise failure
