"""The page's `IncrementalSink` (app/browser/render_sink.py) in CPython: its frames and idle
callbacks run when the test says, and its view is a model of the DOM (the finished blocks'
HTML in order, then the tail), so the order of its patches is checked.

`js` and Pyodide's modules are stood in for while the sink is imported, and the modules that
imported them are forgotten afterwards."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from streamchat.batcher import FramePacer
from streamchat.colour import lexer_for
from streamchat.render import render_markdown
from tests.unit.test_stream_render import Page

ANSWER = """Three ways to read a stream:

```python
for line in lines:
    handle(line)
```

```python
async for event in events:
    handle(event)
```

```python
while chunk := read():
    handle(chunk)
```

Either way, each `data:` line is one JSON payload.
"""


class _Anything:
    def __getattr__(self, name: str) -> Any:
        return _Anything()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _Anything()


@pytest.fixture
def render_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    for name in ("js", "pyodide", "pyodide.ffi"):
        module = types.ModuleType(name)
        module.__getattr__ = lambda _name: _Anything()  # type: ignore[method-assign]
        monkeypatch.setitem(sys.modules, name, module)
    before = set(sys.modules)
    try:
        yield importlib.import_module("app.browser.render_sink")
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]


class ModelView(Page):
    """The answer's DOM as the sink's patches leave it (a block replaced before it was added
    is an IndexError)."""

    def colouring(self, pending: bool) -> None:
        pass


class Manual:
    """A scheduler whose callback runs when the test calls `run`."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.requested = False

    def request(self) -> None:
        self.requested = True

    def cancel(self) -> None:
        self.requested = False

    def close(self) -> None:
        self.requested = False

    def run(self) -> bool:
        if not self.requested:
            return False
        self.requested = False
        self.callback()
        return True


@pytest.mark.parametrize("idle_after", range(1, 16))
def test_blocks_rendered_in_a_slow_frame_are_shown_in_the_next_one_before_any_colouring(
    render_sink: types.ModuleType, monkeypatch: pytest.MonkeyPatch, idle_after: int
) -> None:
    # Every frame's rendering counts as slow, so every frame's patches wait for the next one.
    # Idle callbacks colour code `idle_after` frames after they are asked for (while an
    # answer streams on a slow phone they wait up to their 1 s timeout), then as many as
    # asked for at once: the block they colour next may be one of those waiting, not yet in
    # the DOM.
    lexer_for("python")  # set up at start-up in the page: its blocks are coloured at once
    monkeypatch.setattr(FramePacer, "show_apart", lambda self, started, rendered: True)
    monkeypatch.setattr(FramePacer, "due", lambda self, now: True)
    schedulers: list[Manual] = []

    def manual(callback: Callable[[], None]) -> Manual:
        schedulers.append(Manual(callback))
        return schedulers[-1]

    view = ModelView()
    sink = render_sink.IncrementalSink(view, frames=manual, idle=manual)
    frames, idle = schedulers
    idle_asked: int | None = None
    for frame, start in enumerate(range(0, len(ANSWER), 7)):
        sink.add(ANSWER[start : start + 7])
        frames.run()
        if idle.requested and idle_asked is None:
            idle_asked = frame
        if idle_asked is not None and frame - idle_asked >= idle_after:
            while idle.run():
                pass
            idle_asked = None
    sink.finish()
    while idle.run():
        pass
    assert view.tail == ""
    assert "".join(view.blocks) == render_markdown(ANSWER)
    assert len(view.blocks) == 5
