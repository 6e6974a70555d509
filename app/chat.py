"""The conversation and the words the page uses about it; pure, so the shell only moves data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from streamchat.client import HistoryItem
from streamchat.protocol import Citation, Context, Usage

# How long without a first token before the page says it is still waiting.
STILL_WAITING_AFTER = 10.0
FINISHED_STATES = ("done", "stopped", "error")
#: Messages of history sent at most: the reference back end's `max_history_messages`.
MAX_HISTORY_MESSAGES = 100


@dataclass
class Turn:
    question: str
    answer: str = ""
    state: str = "streaming"
    citations: tuple[Citation, ...] = ()
    error: str = ""
    #: The back end's name for this answer (its last continuation's): the next question's
    #: `parent`, from which the back end finds the conversation over EventSource.
    rid: str = ""
    #: The model's reasoning, shown apart; never copied, never sent back as history.
    reasoning: str = ""
    thought_for: float | None = None
    usage: Usage | None = None
    #: Why the model stopped early ("length", "content-filter"), or "".
    finish: str = ""
    #: What the back end said about the conversation it gave the model, in words, or "".
    note: str = ""
    #: Whether Retry is worth offering for this turn's error.
    retryable: bool = True
    #: The id of the last event received, kept with the text so a reload resumes exactly.
    last_event_id: str = ""

    @property
    def cut_off_text(self) -> str:
        """Why the model stopped early, in words ("" when it did not)."""
        return finish_text(self.finish)


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)

    def ask(self, question: str) -> Turn:
        turn = Turn(question)
        self.turns.append(turn)
        return turn

    def history(self, before: Turn) -> tuple[HistoryItem, ...]:
        """The turns before `before`, as the fetch transport's `history`: the newest
        `MAX_HISTORY_MESSAGES` (the reference back end's request limit; it gives the model
        fewer still, and says so)."""
        items: list[HistoryItem] = []
        for turn in self.turns:
            if turn is before:
                break
            items.append(HistoryItem("user", turn.question))
            if turn.answer:
                items.append(HistoryItem("assistant", turn.answer))
        return tuple(items[-MAX_HISTORY_MESSAGES:])

    def parent(self, of: Turn) -> str:
        """The rid of the answer before `of`: where the back end finds the earlier turns."""
        previous = ""
        for turn in self.turns:
            if turn is of:
                break
            previous = turn.rid
        return previous

    def truncate(self, index: int) -> list[Turn]:
        """Remove the turn at `index` and every turn after it (editing a question)."""
        removed, self.turns = self.turns[index:], self.turns[:index]
        return removed

    def dumps(self) -> str:
        """JSON for sessionStorage."""
        return json.dumps([_turn_json(turn) for turn in self.turns], ensure_ascii=False)

    @classmethod
    def loads(cls, text: str | None) -> Conversation:
        """The stored conversation. The last answer, when a reload cut it off while it
        streamed, stays "streaming" (`resumable`): the page resumes it from its
        `last_event_id`. Any other unfinished answer comes back as stopped.

        Anything unreadable (another version's format, a hand-edited store) gives an empty
        conversation rather than a page that cannot start.
        """
        try:
            items = json.loads(text or "[]")
            turns = [_turn_from_json(item) for item in items]
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()
        for index, turn in enumerate(turns):
            last = index == len(turns) - 1
            if turn.state not in FINISHED_STATES and not (last and turn.rid):
                turn.state = "stopped"
        return cls(turns)

    @property
    def resumable(self) -> Turn | None:
        """The last turn, when it was streaming as the page went away."""
        if self.turns and self.turns[-1].state == "streaming" and self.turns[-1].rid:
            return self.turns[-1]
        return None


def _turn_json(turn: Turn) -> dict[str, Any]:
    usage = turn.usage
    return {
        "question": turn.question,
        "answer": turn.answer,
        "state": turn.state,
        "citations": [[c.id, c.title, c.url] for c in turn.citations],
        "error": turn.error,
        "rid": turn.rid,
        "reasoning": turn.reasoning,
        "thought_for": turn.thought_for,
        "usage": None
        if usage is None
        else [usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens],
        "finish": turn.finish,
        "note": turn.note,
        "retryable": turn.retryable,
        "last_event_id": turn.last_event_id,
    }


def _turn_from_json(item: dict[str, Any]) -> Turn:
    citations = tuple(Citation(str(i), str(t), str(u)) for i, t, u in item.get("citations", []))
    usage = item.get("usage")
    thought_for = item.get("thought_for")
    return Turn(
        question=str(item["question"]),
        answer=str(item.get("answer", "")),
        state=str(item.get("state", "stopped")),
        citations=citations,
        error=str(item.get("error", "")),
        rid=str(item.get("rid", "")),
        reasoning=str(item.get("reasoning", "")),
        thought_for=float(thought_for) if isinstance(thought_for, int | float) else None,
        usage=Usage(*(n if isinstance(n, int) else None for n in usage[:3])) if usage else None,
        finish=str(item.get("finish", "")),
        note=str(item.get("note", "")),
        retryable=item.get("retryable", True) is not False,
        last_event_id=str(item.get("last_event_id", "")),
    )


def completion_status(source_count: int) -> str:
    if source_count == 0:
        return "Answer complete."
    return f"Answer complete, {source_count} source{'s' if source_count != 1 else ''}."


def reconnect_status(
    attempt: int, max_attempts: int, seconds_left: float | None = None, message: str = ""
) -> str:
    """The status while a retry waits: the server's own words when it gave a reason."""
    if not message:
        return f"Connection lost, retrying {attempt}/{max_attempts}…"
    ending = "" if message.endswith((".", "!", "?", "…")) else "."
    if seconds_left is None or seconds_left < 1:
        return f"{message}{ending} Retrying now ({attempt}/{max_attempts})…"
    return f"{message}{ending} Retrying in {seconds_left:.0f} s ({attempt}/{max_attempts})…"


def progress_text(
    now: float,
    started: float,
    first_token_at: float | None,
    words: int,
    *,
    alive: bool = False,
    thinking_since: float | None = None,
) -> str:
    """What the answer's status line says while it streams: honest about each phase.

    `alive`: the back end has sent a heartbeat, so a silence is the model working, not the
    server failing. `thinking_since`: the model has been streaming its reasoning since then.
    """
    if first_token_at is None:
        if thinking_since is not None:
            return f"Thinking… ({now - thinking_since:.0f} s)"
        waited = now - started
        if waited >= STILL_WAITING_AFTER or alive:
            if alive:
                return f"The model is thinking… ({waited:.0f} s)"
            return f"Still waiting for the server… ({waited:.0f} s)"
        return "Waiting for the first words…"
    return speed_text(first_token_at - started, words, now - first_token_at)


def thought_text(seconds: float | None) -> str:
    """The reasoning section's summary once the model has stopped thinking."""
    if seconds is None:
        return "Thinking…"
    if seconds < 1:
        return "Thought for less than a second"
    return f"Thought for {seconds:.0f} s"


def usage_text(usage: Usage) -> str:
    """Token usage in a quiet line: "Tokens: 12 in, 80 out (30 reasoning)"."""
    parts = []
    if usage.prompt_tokens is not None:
        parts.append(f"{usage.prompt_tokens:,} in")
    if usage.completion_tokens is not None:
        parts.append(f"{usage.completion_tokens:,} out")
    text = "Tokens: " + ", ".join(parts) if parts else ""
    if usage.reasoning_tokens:
        text += (
            f" ({usage.reasoning_tokens:,} reasoning)"
            if text
            else (f"Tokens: {usage.reasoning_tokens:,} reasoning")
        )
    return text


def finish_text(reason: str) -> str:
    """Why an answer ended early, for the note under it ("" when it did not)."""
    if reason == "interrupted":
        return "This answer was interrupted when the page went away."
    if reason == "length":
        return "The answer was cut off: the model reached its length limit."
    if reason == "content-filter":
        return "The model's content filter stopped this answer."
    return ""


def context_text(context: Context) -> str:
    """What the back end said about the conversation the model was given, in words."""
    if context.missing:
        return (
            "The server no longer had the earlier turns of this conversation, so the model"
            " answered without them."
        )
    if context.dropped_turns:
        turns = "turn was" if context.dropped_turns == 1 else "turns were"
        return (
            f"The conversation is long: the model was given the last {context.kept_turns}"
            f" turns; {context.dropped_turns} earlier {turns} left out."
        )
    return ""


def question_limit_text(length: int, limit: int) -> str:
    """The counter under the question box near the limit ("" while far from it)."""
    if length < limit * 0.8:
        return ""
    if length > limit:
        return f"{length:,} / {limit:,} characters: {length - limit:,} too many"
    return f"{length:,} / {limit:,} characters"


def speed_text(
    first_token_after: float | None, count: int, streaming_for: float, unit: str = "words"
) -> str:
    """An unobtrusive line under the answer: time to the first words, and the speed.

    The speed counts words, which the page can see, unless the model reported its token
    count (`unit="tokens"`): chunks on the wire are neither, so they are never counted.
    """
    if first_token_after is None:
        return ""
    text = f"First words after {first_token_after:.1f} s"
    if count > 1 and streaming_for > 0:
        text += f" · {count / streaming_for:.0f} {unit}/s"
    return text


def is_at_bottom(scroll_top: float, client_height: float, scroll_height: float) -> bool:
    """Whether the reader is (close enough to) the end, so the view should follow."""
    return scroll_top + client_height >= scroll_height - 48


def follows_after_scroll(following: bool, *, moved_up: bool, at_bottom: bool) -> bool:
    """Whether the view still follows the answer after a scroll event.

    At the bottom it follows. Otherwise it stops only if the scroll moved up: only the
    reader does that. A scroll the page made itself (to the bottom, as the content grew)
    is reported a frame later, and by then more text may have come in below, so being
    short of the bottom at that moment does not mean the reader left it.
    """
    if at_bottom:
        return True
    return following and not moved_up
