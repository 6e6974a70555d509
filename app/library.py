"""Past conversations as the list shows them: titles, search, export. Pure; the shell that
keeps them in IndexedDB is app/browser/library.py (and static/conversations.js)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.chat import Conversation

__all__ = ["Summary", "export_markdown", "matches", "record_for", "search_text", "title_for"]

#: A title is the first question, cut to this many characters at a word.
TITLE_CHARS = 60


@dataclass(frozen=True)
class Summary:
    """One past conversation in the list."""

    id: str
    title: str
    updated: float  # milliseconds since the epoch, as JavaScript counts
    text: str = ""  # its questions, for search


def title_for(conversation: Conversation) -> str:
    """The first question, on one line, cut at a word; "New chat" while there is none."""
    if not conversation.turns:
        return "New chat"
    question = " ".join(conversation.turns[0].question.split())
    if len(question) <= TITLE_CHARS:
        return question
    cut = question[:TITLE_CHARS].rsplit(" ", 1)[0] or question[:TITLE_CHARS]
    return cut.rstrip(",.;:") + "…"


def search_text(conversation: Conversation) -> str:
    """What search looks in besides the title: every question."""
    return "\n".join(turn.question for turn in conversation.turns)


def record_for(conversation_id: str, title: str, conversation: Conversation) -> dict[str, str]:
    """The record static/conversations.js stores (it adds `updated` and `rev`)."""
    return {
        "id": conversation_id,
        "title": title,
        "text": search_text(conversation),
        "turns": conversation.dumps(),
    }


def matches(summary: Summary, query: str) -> bool:
    """Whether every word of `query` is in the title or a question (case-insensitive)."""
    haystack = f"{summary.title}\n{summary.text}".casefold()
    return all(word in haystack for word in query.casefold().split())


def export_markdown(title: str, conversation: Conversation) -> str:
    """The conversation as a Markdown document: each question as a quote, then the answer
    as the model wrote it, with its sources. Reasoning is left out, as from Copy."""
    parts = [f"# {_one_line(title)}", ""]
    for turn in conversation.turns:
        parts += [_quoted(turn.question), ""]
        if turn.answer:
            parts += [turn.answer.rstrip(), ""]
        if turn.citations:
            parts += ["Sources:", ""]
            parts += [f"{c.id}. [{_one_line(c.title) or c.url}]({c.url})" for c in turn.citations]
            parts.append("")
        if turn.state == "error" and turn.error:
            parts += [f"*(The answer failed: {turn.error})*", ""]
        elif turn.state == "stopped":
            parts += ["*(Stopped.)*", ""]
        parts += ["---", ""]
    return "\n".join(parts).rstrip("-\n ") + "\n"


def file_name(title: str) -> str:
    """A safe file name for the export: `title.md`, letters, digits and dashes only."""
    stem = re.sub(r"[^\w]+", "-", title.casefold()).strip("-")[:50] or "conversation"
    return f"{stem}.md"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
