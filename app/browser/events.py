"""DOM events the page dispatches on `document` for the scripts beside it (static/bridge.js):
an answer started, changed, ended (app/answer_event.py has their names and details)."""

from __future__ import annotations

import json

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from app.answer_event import (
    ANSWER_CHANGED_EVENT,
    ANSWER_EVENT,
    ANSWER_STARTED_EVENT,
    answer_detail,
    streaming_detail,
)
from app.chat import Turn


def answer_started(turn: Turn) -> None:
    """`streamchat:answer-started`: `turn`'s answer is streaming."""
    _dispatch(ANSWER_STARTED_EVENT, streaming_detail(turn))


def answer_changed(turn: Turn) -> None:
    """`streamchat:answer-changed`: more of `turn`'s answer is shown (once a rendered frame).

    static/boot.js dispatches it, with a `question` and `markdown` that are taken from `turn`
    only when a listener reads them: the whole answer a frame, for nobody, fed the garbage
    collector, and so did a question that is not ASCII (measured: 20 MB/s of JavaScript
    strings for a 20 KB one, each crossing one character at a time).
    """
    _streaming.turn = turn
    js.window.streamchatAnswerChanged(ANSWER_CHANGED_EVENT, _field)


def announce_answer(turn: Turn) -> None:
    """`streamchat:answer`: `turn`'s answer ended, with `answer_detail(turn)` as its `detail`
    (through JSON, so None arrives as null)."""
    options = js.JSON.parse(json.dumps({"detail": answer_detail(turn)}))
    js.document.dispatchEvent(js.CustomEvent.new(ANSWER_EVENT, options))


class _Streaming:
    """The answer the latest answer-changed event was about."""

    turn: Turn | None = None

    def field(self, key: str) -> str:
        """The detail's `question` or `markdown` (the answer so far)."""
        if self.turn is None:
            return ""
        return self.turn.question if key == "question" else self.turn.answer


_streaming = _Streaming()
#: One proxy for the page's life: the getter of every answer-changed event's fields.
_field = create_proxy(_streaming.field)


def _dispatch(name: str, detail: dict[str, str]) -> None:
    # Strings only: to_js copies them into a plain object, without a JSON round trip (this
    # one runs once a frame while an answer streams).
    options = to_js({"detail": detail}, dict_converter=js.Object.fromEntries)
    js.document.dispatchEvent(js.CustomEvent.new(name, options))
