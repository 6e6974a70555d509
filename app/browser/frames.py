"""requestAnimationFrame: run a callback at most once per frame, and only when there is work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]


class FrameScheduler:
    """Coalesces any number of `request()` calls into one `on_frame()` call in the next frame.

    While the tab is hidden the browser runs no frames, so no rendering work is done; the
    pending request fires as soon as the tab is shown again.
    """

    def __init__(self, on_frame: Callable[[], None]) -> None:
        self._on_frame = on_frame
        self._handle: Any = None
        # One proxy for the scheduler's lifetime, not one per frame: each proxy is a
        # JS object that must be destroyed by hand, and 60 a second would leak.
        self._proxy = create_proxy(self._run)

    def request(self) -> None:
        if self._handle is None:
            self._handle = js.requestAnimationFrame(self._proxy)

    def cancel(self) -> None:
        if self._handle is not None:
            js.cancelAnimationFrame(self._handle)
            self._handle = None

    def close(self) -> None:
        self.cancel()
        self._proxy.destroy()

    def _run(self, _timestamp: float) -> None:
        self._handle = None
        self._on_frame()
