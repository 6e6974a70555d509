"""An answer's text on its way to the DOM: batched per animation frame, or naive for benchmarks.

`IncrementalSink` is what the page uses: tokens are coalesced per `requestAnimationFrame`
and only the open tail is re-rendered, paced (`FramePacer`) so that rendering never takes
more than a share of the main thread. A frame whose rendering took long (a slow phone, a
long block finished) puts its HTML in the DOM in the next frame (`FramePacer.show_apart`:
when rendering and showing it would take the frame's script over its budget), so that the
browser's style, layout and paint of it are not in the same task. `NaiveSink`
re-renders the whole answer on every token with no batching; it exists only as the
benchmarks' baseline (`?render=naive`).
With `measure`, every DOM update is wrapped in `performance` marks, measured as
"answer-update" entries that the benchmarks read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

import js  # type: ignore[import-not-found]

from app.browser.dom import MarkdownBox
from streamchat.batcher import FrameBatcher, FramePacer
from streamchat.browser.frames import FrameScheduler, IdleScheduler
from streamchat.render import render_markdown
from streamchat.stream_render import Patch, StreamRenderer

T = TypeVar("T")

#: Seconds of colouring code per idle callback: a long task is 50 ms, and a phone's CPU
#: is several times slower than the machine the budget is measured on.
COLOUR_SLICE = 0.008


def _nothing() -> None:
    pass


class Scheduler(Protocol):
    """When the sink's frame and idle work run (`FrameScheduler`, `IdleScheduler`; tests pass
    their own)."""

    def request(self) -> None: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class IncrementalSink:
    """`initial`: text the box already shows, rendered again so that more can follow it
    seamlessly (a continued answer).

    Finished code blocks are shown uncoloured and coloured in idle callbacks, at most
    `COLOUR_SLICE` seconds of Pygments each (`StreamRenderer(colour_later=True)`): a long
    block costs more than a frame. A block in a language not coloured before waits for the
    answer's end: setting up its lexer is one long task (0.1–0.4 s), which would stall
    the stream. While some wait, the box has `data-colouring`; `close()` leaves them to
    finish.
    """

    def __init__(
        self,
        view: MarkdownBox,
        *,
        measure: bool = False,
        on_change: Callable[[], None] = _nothing,
        initial: str = "",
        frames: Callable[[Callable[[], None]], Scheduler] = FrameScheduler,
        idle: Callable[[Callable[[], None]], Scheduler] = IdleScheduler,
    ) -> None:
        self._view = view
        self._measure = measure
        self._on_change = on_change
        self._renderer = StreamRenderer(colour_later=True)
        self._batcher = FrameBatcher()
        self._pacer = FramePacer()
        self._frames = frames(self._on_frame)
        self._idle = idle(self._colour)
        self._closed = False
        self._ended = False
        #: Patches rendered in a frame that took long, to put in the DOM in the next one
        #: (`FramePacer.show_apart`).
        self._held: list[Patch] = []
        if initial:
            view.clear()
            self._apply(self._renderer.feed(initial))

    @property
    def text(self) -> str:
        return self._renderer.text

    def add(self, text: str) -> None:
        self._batcher.add(text)
        self._frames.request()

    def _on_frame(self) -> None:
        if self._held:
            self._show_held()
            return
        started = time.monotonic()
        if not self._pacer.due(started):
            self._frames.request()  # the text waits for a later frame; none is lost
            return
        text = self._batcher.take()
        if text and _update(self._measure, lambda: self._render(text, started)):
            self._on_change()
        self._pacer.rendered(started, time.monotonic())

    def _render(self, text: str, started: float) -> bool:
        """Renders `text` and shows it, unless that took long: then the next frame shows
        it (`FramePacer.show_apart`). Whether it is shown."""
        patches = self._renderer.feed(text)
        rendered = time.monotonic()
        if self._pacer.show_apart(started, rendered):
            self._held = patches
            self._frames.request()
            return False
        self._apply(patches)
        self._pacer.shown(rendered, time.monotonic())
        return True

    def _show_held(self) -> None:
        """The frame after one whose rendering took long: only its patches are put in the
        DOM (the text that came since waits for the next frame)."""
        held, self._held = self._held, []
        started = time.monotonic()
        _update(self._measure, lambda: self._apply(held))
        self._pacer.shown(started, time.monotonic())
        self._on_change()
        if self._batcher.pending:
            self._frames.request()

    def finish(self, anchors: Mapping[str, str] | None = None) -> None:
        """The answer is over (done, stopped or failed): show everything, finally rendered
        (the text not yet shown is rendered once, as finished, not first as the tail)."""
        self._frames.cancel()
        self._ended = True
        more = self._batcher.take()
        held, self._held = self._held, []
        _update(self._measure, lambda: self._apply(held + self._renderer.finish(anchors, more)))
        self._on_change()

    def close(self) -> None:
        self._frames.close()
        self._closed = True
        if not self._renderer.uncoloured:
            self._idle.close()

    def _apply(self, patches: list[Patch]) -> None:
        self._view.apply(patches)
        if self._renderer.uncoloured:
            self._view.colouring(True)
            self._colour_later()

    def _colour_later(self) -> None:
        if self._ended or not self._renderer.colour_needs_lexer:
            self._idle.request()

    def _colour(self) -> None:
        if self._held:
            # Their blocks first: the block to colour may be among them, not yet in the DOM.
            self._show_held()
        stop_at = time.monotonic() + COLOUR_SLICE
        self._view.apply(self._renderer.colour_next(lambda: time.monotonic() >= stop_at))
        if self._renderer.uncoloured:
            self._colour_later()
            return
        self._view.colouring(False)
        if self._closed:
            self._idle.close()


class NaiveSink:
    def __init__(
        self,
        view: MarkdownBox,
        *,
        measure: bool = False,
        on_change: Callable[[], None] = _nothing,
        initial: str = "",
    ) -> None:
        self._view = view
        self._measure = measure
        self._on_change = on_change
        self._text = initial

    @property
    def text(self) -> str:
        return self._text

    def add(self, text: str) -> None:
        self._text += text
        _update(
            self._measure,
            lambda: self._view.show_whole(render_markdown(self._text, streaming=True)),
        )
        self._on_change()

    def finish(self, anchors: Mapping[str, str] | None = None) -> None:
        self._view.show_whole(render_markdown(self._text, anchors))
        self._on_change()

    def close(self) -> None:
        pass


def _update(measure: bool, update: Callable[[], T]) -> T:
    if not measure:
        return update()
    js.performance.mark("answer-update-start")
    result = update()
    js.performance.measure("answer-update", "answer-update-start")
    return result
