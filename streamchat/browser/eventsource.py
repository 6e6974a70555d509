"""The browser's native EventSource (GET) as a `Transport` for `streamchat.client.stream_query`.

The native EventSource reconnects by itself, forever, when a stream drops. The page's own
retry policy replaces that: on a drop the source is *parked* rather than closed. If the
policy asks to resume while the parked source is still reconnecting (the browser waits the
server's `retry:` and sends `Last-Event-ID` itself), its connection is reused; otherwise a
new EventSource is opened with `&last_event_id=n`. The browser never exposes the `retry:`
value, so the transport measures it: the time from a drop to the parked source's next
attempt is the browser's reconnection time, and no later attempt is made sooner than that.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from streamchat.browser.frames import TimeSlices
from streamchat.browser.quick_soon import run_here
from streamchat.client import ConnectionFailed, StreamDropped, StreamRequest, get_url
from streamchat.sse import ServerSentEvent

CONNECTING, OPEN, CLOSED = 0, 1, 2


class _Source:
    """One native EventSource, its events buffered in JavaScript (static/eventsource.js) and
    taken a batch at a time: one crossing into Python per batch, not one per event.

    While nothing is buffered, JavaScript calls `_wake` directly when the next event comes
    (or, for the rest of a chunk of the stream the browser dispatches as one task, once in a
    task after it: see static/eventsource.js), which resolves a Python future: awaiting a
    JavaScript promise instead would cost a microtask and two short-lived proxies per batch."""

    def __init__(self, url: str) -> None:
        self._buffer = js.window.streamchatEventSource(url)
        self._take_js = self._buffer.take
        self.native = self._buffer.native
        self.opened = False
        self.dropped_at: float | None = None
        self._pending: deque[tuple[str, Any, Any]] = deque()
        self._slices = TimeSlices()
        self._waiter: asyncio.Future[None] | None = None
        # One proxy for the source's lifetime, destroyed by `close`.
        self._wake_proxy = create_proxy(self._wake)
        self._closed = False

    async def next(self) -> tuple[str, Any, Any]:
        """The next (kind, value, event id): "message" with data, "open", or "error" with
        the readyState. A backlog is worked through in time slices (`TimeSlices`)."""
        if not self._pending:
            while not self._pending and not self._take():
                # A bare Future, not `loop.create_future()`: Pyodide's loop counts those in
                # progress, with one more callback (one more task) when each resolves.
                self._waiter = asyncio.Future()
                await self._waiter
            self._slices.restart()
        else:
            await self._slices.pause()
        return self._pending.popleft()

    def _take(self) -> bool:
        """Takes what JavaScript buffered; when there was nothing, it calls `_wake` once
        something arrives."""
        return self._keep(self._take_js(self._wake_proxy))

    def _keep(self, buffered: Any) -> bool:
        flat = buffered.to_py()
        self._pending.extend(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))
        return bool(flat)

    def _wake(self, arrived: Any) -> None:
        """What arrived while nothing was buffered, handed over by JavaScript (one crossing
        a wake-up: the reading task need not take it)."""
        self._keep(arrived)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            # The reading task goes on in this event's own task, not in one more after it.
            run_here(lambda: waiter.set_result(None))

    def close(self) -> None:
        self._pending.clear()
        if not self._closed:
            self._closed = True
            self._buffer.close()
            self._wake_proxy.destroy()


class EventSourceTransport:
    """GET `{endpoint}?q=…&rid=…` through a native EventSource."""

    def __init__(self) -> None:
        self._source: _Source | None = None
        self._retry_ms: int | None = None

    @property
    def retry_ms(self) -> int | None:
        return self._retry_ms

    async def events(
        self, request: StreamRequest, last_event_id: str
    ) -> AsyncIterator[ServerSentEvent]:
        source = self._source
        if source is None or source.native.readyState == CLOSED or request.ticket:
            # With sign-in, never the parked source: its own reconnect would send its spent
            # ticket. A new one, with the new ticket and `last_event_id`, resumes instead.
            self._drop_source()
            source = self._source = _Source(get_url(request, last_event_id))
        while True:
            kind, value, event_id = await source.next()
            if kind == "open":
                self._note_reconnect(source)
                source.opened = True
            elif kind == "message":
                yield ServerSentEvent(event="message", data=str(value), id=str(event_id))
            elif value == CLOSED:
                # Not a 200 text/event-stream response, or the network failed: the browser
                # gives up and cannot tell us the status (see docs/contract.md §1).
                self._note_reconnect(source)
                opened = source.opened
                self._drop_source()
                if opened:
                    raise StreamDropped("the event stream failed while reconnecting")
                raise ConnectionFailed("the event stream could not be opened")
            else:
                # CONNECTING: the stream ended or dropped and the browser will retry on its own.
                # Chromium also lands here when no connection could be made at all (a back end
                # that is down): that is not a drop "in the middle of the answer".
                source.dropped_at = time.monotonic()
                opened, source.opened = source.opened, False
                if not opened:
                    raise ConnectionFailed("the event stream could not be opened")
                raise StreamDropped("the event stream was interrupted")

    async def close(self) -> None:
        self._drop_source()

    def _note_reconnect(self, source: _Source) -> None:
        if source.dropped_at is not None:
            waited_ms = int((time.monotonic() - source.dropped_at) * 1000)
            self._retry_ms = max(self._retry_ms or 0, waited_ms)
            source.dropped_at = None

    def _drop_source(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
