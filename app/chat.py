"""The conversation and the words the page uses about it; pure, so the shell only moves data."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.client import HistoryItem


@dataclass
class Turn:
    question: str
    answer: str = ""
    state: str = "streaming"


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)

    def ask(self, question: str) -> Turn:
        turn = Turn(question)
        self.turns.append(turn)
        return turn

    def history(self, before: Turn) -> tuple[HistoryItem, ...]:
        """The turns before `before`, as the fetch transport's `history` (finished answers only)."""
        items: list[HistoryItem] = []
        for turn in self.turns:
            if turn is before:
                break
            items.append(HistoryItem("user", turn.question))
            if turn.answer:
                items.append(HistoryItem("assistant", turn.answer))
        return tuple(items)


def completion_status(source_count: int) -> str:
    if source_count == 0:
        return "Answer complete."
    return f"Answer complete, {source_count} source{'s' if source_count != 1 else ''}."


def reconnect_status(attempt: int, max_attempts: int) -> str:
    return f"Connection lost, retrying {attempt}/{max_attempts}…"


def speed_text(first_token_after: float | None, tokens: int, streaming_for: float) -> str:
    """An unobtrusive line under the answer: time to first token and tokens per second."""
    if first_token_after is None:
        return ""
    text = f"First token after {first_token_after:.1f} s"
    if tokens > 1 and streaming_for > 0:
        text += f" · {tokens / streaming_for:.0f} tokens/s"
    return text
