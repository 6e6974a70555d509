"""Coalesce streamed tokens into one update per animation frame, and pace the updates."""

from __future__ import annotations

__all__ = ["FrameBatcher", "FramePacer"]


class FrameBatcher:
    """Collects text as tokens arrive; each frame takes all of it at once.

    Tokens can arrive far faster than the screen redraws; rendering once per frame
    instead of once per token keeps the page responsive. It knows nothing of time:
    the frame callback (`requestAnimationFrame`) decides when to `take`.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []

    @property
    def pending(self) -> bool:
        """Whether text has been added since the last `take`."""
        return bool(self._parts)

    def add(self, text: str) -> None:
        """Add a token's text; empty text is ignored."""
        if text:
            self._parts.append(text)

    def take(self) -> str:
        """All the text added since the last `take`, in order; "" if none."""
        text = "".join(self._parts)
        self._parts.clear()
        return text


class FramePacer:
    """Decides, frame by frame, whether to render now, so that rendering takes at most
    `share` of the main thread.

    An update that cost `c` seconds is followed by the next no sooner than `c / share`
    seconds after it started: cheap updates come every frame, an expensive one (a long
    open block, a slow phone) leaves the frames in between to the browser, for input and
    painting. Text is never dropped: the batcher keeps it for the next update. Time is
    passed in.
    """

    def __init__(self, share: float = 0.4, *, frame_budget: float = 0.012) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self._share = share
        self._frame_budget = frame_budget
        self._next = float("-inf")
        self._shown_cost = 0.0

    def show_apart(self, started: float, rendered: float) -> bool:
        """Whether an update that began at `started` and had its HTML ready at `rendered`
        should be shown (put in the DOM) in the next frame rather than in this one.

        Putting HTML in the DOM costs the browser style, layout and paint in the same task,
        which on a slow phone is as much again as rendering and showing it: one task for
        all of it would be a long one (over 50 ms). So the frame's own script, rendering and
        showing, is kept within `frame_budget`: showing is expected to cost what the last
        showing cost (`shown`), and no less than rendering did (the more was rendered, the
        more HTML there is to put in). Over the budget, the frame ends there and the next
        one shows it; cheap updates, the usual case, are shown at once, with no frame of
        delay. Measured at 4x CPU throttling, where the long frames were 6-10 ms of
        rendering and as much again of showing (docs/benchmarks.md)."""
        render = rendered - started
        return render + max(render, self._shown_cost) > self._frame_budget

    def shown(self, started: float, ended: float) -> None:
        """An update's HTML was put in the DOM from `started` to `ended`."""
        self._shown_cost = max(0.0, ended - started)

    def due(self, now: float) -> bool:
        """Whether an update may run at `now`."""
        return now >= self._next

    def rendered(self, started: float, ended: float) -> None:
        """An update ran from `started` to `ended`."""
        self._next = started + max(0.0, ended - started) / self._share
