"""DOM events the page dispatches for the scripts beside it (static/bridge.js)."""

from __future__ import annotations

import json

import js  # type: ignore[import-not-found]

from app.answer_event import ANSWER_EVENT, answer_detail
from app.chat import Turn


def announce_answer(turn: Turn) -> None:
    """Tell the page's scripts that `turn`'s answer ended: `streamchat:answer` on `document`,
    with `answer_detail(turn)` as its `detail` (through JSON, so None arrives as null)."""
    options = js.JSON.parse(json.dumps({"detail": answer_detail(turn)}))
    js.document.dispatchEvent(js.CustomEvent.new(ANSWER_EVENT, options))
