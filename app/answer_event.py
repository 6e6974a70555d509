"""What the page tells the widget's host when an answer ends (plain Python, tested in CPython).

app/browser/events.py dispatches it as the DOM event `streamchat:answer` on `document`;
static/bridge.js forwards it to the host as its `answer` (or `error`) message
(docs/embedding.md). It comes from the answer's state, not from the DOM: `markdown` is the
answer's text as the model wrote it, blocks apart, never the rendered text run together.
"""

from __future__ import annotations

from typing import Any

from app.chat import Turn
from app.citation_cards import source_for

__all__ = ["ANSWER_EVENT", "answer_detail"]

#: The DOM event's name.
ANSWER_EVENT = "streamchat:answer"


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
