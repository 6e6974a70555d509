"""The conversation and the words the page uses about it; pure, so the shell only moves data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.client import HistoryItem
from app.protocol import Citation

# How long without a first token before the page says it is still waiting.
STILL_WAITING_AFTER = 10.0
FINISHED_STATES = ("done", "stopped", "error")


@dataclass
class Turn:
    question: str
    answer: str = ""
    state: str = "streaming"
    citations: tuple[Citation, ...] = ()
    error: str = ""


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)

    def ask(self, question: str) -> Turn:
        turn = Turn(question)
        self.turns.append(turn)
        return turn

    def history(self, before: Turn) -> tuple[HistoryItem, ...]:
        """The turns before `before`, as the fetch transport's `history`."""
        items: list[HistoryItem] = []
        for turn in self.turns:
            if turn is before:
                break
            items.append(HistoryItem("user", turn.question))
            if turn.answer:
                items.append(HistoryItem("assistant", turn.answer))
        return tuple(items)

    def truncate(self, index: int) -> list[Turn]:
        """Remove the turn at `index` and every turn after it (editing a question)."""
        removed, self.turns = self.turns[index:], self.turns[:index]
        return removed

    def dumps(self) -> str:
        """JSON for sessionStorage."""
        return json.dumps([_turn_json(turn) for turn in self.turns], ensure_ascii=False)

    @classmethod
    def loads(cls, text: str | None) -> Conversation:
        """The stored conversation; an answer a reload interrupted comes back as stopped.

        Anything unreadable (another version's format, a hand-edited store) gives an empty
        conversation rather than a page that cannot start.
        """
        try:
            items = json.loads(text or "[]")
            turns = [_turn_from_json(item) for item in items]
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()
        for turn in turns:
            if turn.state not in FINISHED_STATES:
                turn.state = "stopped"
        return cls(turns)


def _turn_json(turn: Turn) -> dict[str, Any]:
    return {
        "question": turn.question,
        "answer": turn.answer,
        "state": turn.state,
        "citations": [[c.id, c.title, c.url] for c in turn.citations],
        "error": turn.error,
    }


def _turn_from_json(item: dict[str, Any]) -> Turn:
    citations = tuple(Citation(str(i), str(t), str(u)) for i, t, u in item.get("citations", []))
    return Turn(
        question=str(item["question"]),
        answer=str(item.get("answer", "")),
        state=str(item.get("state", "stopped")),
        citations=citations,
        error=str(item.get("error", "")),
    )


def completion_status(source_count: int) -> str:
    if source_count == 0:
        return "Answer complete."
    return f"Answer complete, {source_count} source{'s' if source_count != 1 else ''}."


def reconnect_status(attempt: int, max_attempts: int) -> str:
    return f"Connection lost, retrying {attempt}/{max_attempts}…"


def progress_text(now: float, started: float, first_token_at: float | None, tokens: int) -> str:
    """What the answer's status line says while it streams: honest about each phase."""
    if first_token_at is None:
        waited = now - started
        if waited >= STILL_WAITING_AFTER:
            return f"Still waiting for the server… ({waited:.0f} s)"
        return "Waiting for the first words…"
    return speed_text(first_token_at - started, tokens, now - first_token_at)


def speed_text(first_token_after: float | None, tokens: int, streaming_for: float) -> str:
    """An unobtrusive line under the answer: time to first token and tokens per second."""
    if first_token_after is None:
        return ""
    text = f"First token after {first_token_after:.1f} s"
    if tokens > 1 and streaming_for > 0:
        text += f" · {tokens / streaming_for:.0f} tokens/s"
    return text


def is_at_bottom(scroll_top: float, client_height: float, scroll_height: float) -> bool:
    """Whether the reader is (close enough to) the end, so the view should follow."""
    return scroll_top + client_height >= scroll_height - 48
