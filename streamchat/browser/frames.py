"""requestAnimationFrame and the Page Visibility API: render once per frame, never while hidden;
and backlogs worked through in time slices that leave the browser room to handle input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]


class FrameScheduler:
    """Coalesces any number of `request()` calls into one `on_frame()` call in the next frame.

    While the page is hidden no rendering work is done: browsers run animation frames for a
    hidden tab rarely or never (headless Chromium still runs a few a second for a minimized
    window), so a frame that comes while hidden is skipped, and the work is done at once
    when the page is shown again.
    """

    def __init__(self, on_frame: Callable[[], None]) -> None:
        self._on_frame = on_frame
        self._handle: Any = None
        self._skipped = False
        # Kept up to date by the event, not read in every frame: each read of a JavaScript
        # property from Python crosses the bridge.
        self._hidden = js.document.visibilityState == "hidden"
        # One proxy each for the scheduler's lifetime, not one per frame: each proxy is a
        # JS object that must be destroyed by hand, and 60 a second would leak.
        self._frame_proxy = create_proxy(self._run)
        self._visibility_proxy = create_proxy(self._on_visibility_change)
        js.document.addEventListener("visibilitychange", self._visibility_proxy)
        self._request_frame = js.requestAnimationFrame  # looked up once, not every frame

    def request(self) -> None:
        if self._handle is None:
            self._handle = self._request_frame(self._frame_proxy)

    def cancel(self) -> None:
        if self._handle is not None:
            js.cancelAnimationFrame(self._handle)
            self._handle = None

    def close(self) -> None:
        self.cancel()
        js.document.removeEventListener("visibilitychange", self._visibility_proxy)
        self._frame_proxy.destroy()
        self._visibility_proxy.destroy()

    def _run(self, _timestamp: float) -> None:
        self._handle = None
        if self._hidden:
            self._skipped = True
            return
        self._on_frame()

    def _on_visibility_change(self, _event: Any) -> None:
        self._hidden = js.document.visibilityState == "hidden"
        if self._skipped and not self._hidden:
            self._skipped = False
            self._on_frame()


class IdleScheduler:
    """Runs `on_idle()` when the main thread is idle (`requestIdleCallback`; a task
    (`setTimeout`) where the browser has none), coalescing `request()` calls: for work
    that can wait until input and rendering are done, one piece a call."""

    def __init__(self, on_idle: Callable[[], None]) -> None:
        self._on_idle = on_idle
        self._handle: Any = None
        self._idle = bool(getattr(js, "requestIdleCallback", None))
        self._proxy = create_proxy(self._run)
        # Run within a second even while frames keep the main thread busy.
        self._options = to_js({"timeout": 1000}, dict_converter=js.Object.fromEntries)

    def request(self) -> None:
        if self._handle is not None:
            return
        if self._idle:
            self._handle = js.requestIdleCallback(self._proxy, self._options)
        else:
            self._handle = js.setTimeout(self._proxy, 0)

    @property
    def pending(self) -> bool:
        """Whether `on_idle()` is requested and has not run yet."""
        return self._handle is not None

    def cancel(self) -> None:
        if self._handle is not None:
            (js.cancelIdleCallback if self._idle else js.clearTimeout)(self._handle)
            self._handle = None

    def close(self) -> None:
        self.cancel()
        self._proxy.destroy()

    def _run(self, *_: Any) -> None:
        self._handle = None
        self._on_idle()


class TimeSlices:
    """Work through a backlog in slices of at most `budget` seconds, each its own task.

    Whatever arrived while the page was busy (a burst of events, a large chunk of a fast
    stream) is handled one slice at a time; between slices `pause()` lets the browser handle
    input and paint, instead of one task draining the whole queue.
    """

    def __init__(self, budget: float = 0.008) -> None:
        self._budget = budget
        self._started = time.monotonic()

    def restart(self) -> None:
        """A new slice begins (the task was woken by new work)."""
        self._started = time.monotonic()

    async def pause(self) -> None:
        """Yield to the browser if this slice has used its budget."""
        if time.monotonic() - self._started > self._budget:
            await asyncio.sleep(0)  # the rest in a new task, after input and paint
            self._started = time.monotonic()
