"""DOM events the page dispatches on `document` for the scripts beside it (static/bridge.js):
an answer started, changed, ended (app/answer_event.py has their names and details)."""

from __future__ import annotations

import json

import js  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]

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
    """`streamchat:answer-changed`: more of `turn`'s answer is shown (once a rendered frame)."""
    _dispatch(ANSWER_CHANGED_EVENT, streaming_detail(turn))


def announce_answer(turn: Turn) -> None:
    """`streamchat:answer`: `turn`'s answer ended, with `answer_detail(turn)` as its `detail`
    (through JSON, so None arrives as null)."""
    options = js.JSON.parse(json.dumps({"detail": answer_detail(turn)}))
    js.document.dispatchEvent(js.CustomEvent.new(ANSWER_EVENT, options))


def _dispatch(name: str, detail: dict[str, str]) -> None:
    # Strings only: to_js copies them into a plain object, without a JSON round trip (this
    # one runs once a frame while an answer streams).
    options = to_js({"detail": detail}, dict_converter=js.Object.fromEntries)
    js.document.dispatchEvent(js.CustomEvent.new(name, options))
