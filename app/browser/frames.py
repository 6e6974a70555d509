"""requestAnimationFrame and the Page Visibility API: render once per frame, never while hidden."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]


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
        # One proxy each for the scheduler's lifetime, not one per frame: each proxy is a
        # JS object that must be destroyed by hand, and 60 a second would leak.
        self._frame_proxy = create_proxy(self._run)
        self._visibility_proxy = create_proxy(self._on_visibility_change)
        js.document.addEventListener("visibilitychange", self._visibility_proxy)

    def request(self) -> None:
        if self._handle is None:
            self._handle = js.requestAnimationFrame(self._frame_proxy)

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
        if js.document.visibilityState == "hidden":
            self._skipped = True
            return
        self._on_frame()

    def _on_visibility_change(self, _event: Any) -> None:
        if self._skipped and js.document.visibilityState != "hidden":
            self._skipped = False
            self._on_frame()
