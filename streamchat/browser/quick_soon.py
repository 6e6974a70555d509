"""`loop.call_soon` for Pyodide's event loop at one browser task a batch, not two a callback.

Pyodide's `WebLoop.call_soon` (pyodide/webloop.py) wraps each callback in a new
`create_once_callable(…, _may_syncify=True)` and schedules it through a `MessageChannel`.
Where the browser has WebAssembly stack switching (JSPI; Chromium does), calling such a
callable first awaits *another* `MessageChannel` task and then enters Python through
`promisingApply`, inside a promise job: so every wake-up of a task (a future resolved, an
event arrived) costs two browser tasks, a microtask, a JS function and a proxy made and
destroyed. While an answer streams that is once per event: measured in a trace at 200
tokens/s, 295 of Pyodide's tasks a second for 150 events, 80 ms of the main thread each
second, and a share of the young-generation collections.

`QuickSoon` keeps the callbacks in a Python queue and schedules one task (one long-lived
proxy) for all that are queued: a callback queued while that task runs (a task that yields
with `asyncio.sleep(0)`, a backlog's next time slice) gets a new task, so the browser still
handles input and paints between them, as with Pyodide's own. Order is first in, first out,
as asyncio's. What is given up is `run_sync` (stack switching) inside those callbacks; the
page and the library never use it. `install(loop)` swaps it in for one loop.

`run_here(callback)` goes one step further for a browser event that wakes Python (an
EventSource message resolving the future its reader awaits): the callbacks it queues run
at once, in the event's own task, instead of in one more task after it.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["QuickSoon", "install", "run_here"]

#: Schedules a call of its first argument after a delay in ms (Pyodide's `scheduleCallback`:
#: a `MessageChannel` task for 0).
Schedule = Callable[[Any, int], None]


class QuickSoon:
    """The queue of `loop`'s soon-to-run callbacks; `run` (or the JS proxy of it that
    `proxy_of` makes) drains what was queued when it started."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        schedule: Schedule,
        *,
        proxy_of: Callable[[Callable[[], None]], Any] = lambda run: run,
        before_run: Callable[[], None] = lambda: None,
    ) -> None:
        self._loop = loop
        self._schedule = schedule
        self._before_run = before_run
        self._ready: deque[asyncio.Handle] = deque()
        self._scheduled = False
        self._here = False  # in `run_here`'s callback: its queued callbacks run after it
        self._running = False
        # One for the loop's life: a proxy made per call is what this replaces.
        self._run_proxy = proxy_of(self.run)

    def call_soon(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self._loop, context=context)
        self._ready.append(handle)
        if not self._scheduled and not self._here:
            self._scheduled = True
            self._schedule(self._run_proxy, 0)
        return handle

    def run(self) -> None:
        """Runs the callbacks queued before this call, in order; those they queue go to the
        next task."""
        self._scheduled = False
        self._before_run()
        ready = self._ready
        self._running = True
        try:
            for _ in range(len(ready)):
                handle = ready.popleft()
                if not handle.cancelled():
                    handle._run()  # reports its exception to the loop's handler, as asyncio does
        finally:
            self._running = False

    def run_here(self, callback: Callable[[], None]) -> None:
        """Calls `callback` and runs the callbacks it queues (with those queued before) in
        this task. Inside a run (Python called back into) it only calls `callback`."""
        if self._running or self._here:
            callback()
            return
        self._here = True
        try:
            callback()
        finally:
            self._here = False
        self.run()

    @property
    def pending(self) -> int:
        return len(self._ready)


def install(loop: asyncio.AbstractEventLoop | None = None) -> QuickSoon:
    """Makes `loop` (the running or current one) schedule `call_soon` through a
    `QuickSoon`; returns it."""
    from pyodide.ffi import create_proxy  # type: ignore[import-not-found]
    from pyodide_js._api import scheduleCallback  # type: ignore[import-not-found]

    if loop is None:
        loop = asyncio.get_event_loop()

    def before_run() -> None:
        # What Pyodide's own handles do first (WebLoop.call_later's run_handle).
        loop._install_running_loop()  # type: ignore[attr-defined]
        loop._install_asyncgen_hooks()  # type: ignore[attr-defined]

    quick = QuickSoon(loop, scheduleCallback, proxy_of=create_proxy, before_run=before_run)
    _installed[loop] = quick
    # An attribute of the instance: asyncio's C futures and tasks look `call_soon` up on
    # the loop object, so they find it before the class's.
    loop.call_soon = quick.call_soon  # type: ignore[method-assign,assignment]
    loop.call_soon_threadsafe = quick.call_soon  # type: ignore[method-assign,assignment]
    return quick


_installed: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, QuickSoon] = (
    weakref.WeakKeyDictionary()
)


def run_here(callback: Callable[[], None]) -> None:
    """`QuickSoon.run_here` when the current loop has one (`install`), else `callback()`
    (its callbacks then run in tasks of their own, as ever)."""
    quick = _installed.get(asyncio.get_event_loop())
    if quick is None:
        callback()
    else:
        quick.run_here(callback)
