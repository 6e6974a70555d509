"""What the page tells the scripts beside it about its answers (plain Python, tested in CPython).

app/browser/events.py dispatches these as DOM events on `document`: `streamchat:answer-started`
when an answer starts streaming, `streamchat:answer-changed` when its text has changed (at
most once a frame), and `streamchat:answer` when it ends (done, stopped or failed).
static/bridge.js forwards them to the widget's host (docs/embedding.md). They come from the
answer's state, not from the DOM: `markdown` is the answer's text as the model wrote it,
blocks apart, never the rendered text run together.
"""

from __future__ import annotations

from typing import Any

from app.chat import Turn
from app.citation_cards import source_for

__all__ = [
    "ANSWER_CHANGED_EVENT",
    "ANSWER_EVENT",
    "ANSWER_STARTED_EVENT",
    "answer_detail",
    "streaming_detail",
]

#: The DOM events' names: an answer ended; started; changed while it streams.
ANSWER_EVENT = "streamchat:answer"
ANSWER_STARTED_EVENT = "streamchat:answer-started"
ANSWER_CHANGED_EVENT = "streamchat:answer-changed"


def streaming_detail(turn: Turn) -> dict[str, str]:
    """The `detail` of the started and changed events: `{state: "streaming", question,
    markdown}`, the markdown so far (a continued or resumed answer's starts with its earlier
    text)."""
    return {"state": "streaming", "question": turn.question, "markdown": turn.answer}


def answer_detail(turn: Turn) -> dict[str, Any]:
    """The event's `detail` for a finished `turn`, as JSON-ready values.

    `{state, markdown, citations: [{id, title, url}], usage: {prompt, completion, reasoning}
    | None, finish: str | None, error: str | None}`. A citation's `title` falls back to its
    URL, and its `url` is "" unless it is http(s), as the page's list of sources shows them.
    """
    usage = turn.usage
    return {
        "state": turn.state,
        "markdown": turn.answer,
        "citations": [
            {"id": c.id, "title": c.title.strip() or c.url.strip(), "url": source_for(c).href}
            for c in turn.citations
        ],
        "usage": None
        if usage is None
        else {
            "prompt": usage.prompt_tokens,
            "completion": usage.completion_tokens,
            "reasoning": usage.reasoning_tokens,
        },
        "finish": turn.finish or None,
        "error": (turn.error or None) if turn.state == "error" else None,
    }
