"""One answer of the conversation: what to ask for it, and its `StreamingAnswer` kept in its
`Turn` (pure, so the browser shell only moves data; tested in CPython).

The page streams every answer into a `StreamingAnswer` (streamchat/answer.py). The `Turn` is
the conversation's record of it, the one a reload restores and the next question sends as
history: `TurnRecord` writes the answer's state into it as it changes, and decides how the
turn ends when the answer does.
"""

from __future__ import annotations

from typing import Literal

from app.chat import Conversation, Turn, completion_status, context_text
from streamchat.answer import AnswerState, StreamingAnswer
from streamchat.client import HistoryItem, StreamRequest

__all__ = ["Mode", "TurnRecord", "request_for"]

#: How an answer is streamed: a new one, the model continuing a cut-off one, or the same
#: one resumed after the page was reloaded.
Mode = Literal["new", "continue", "resume"]


def request_for(
    conversation: Conversation,
    turn: Turn,
    *,
    endpoint: str,
    rid: str,
    mode: Mode,
    with_history: bool,
) -> StreamRequest:
    """What to ask the back end for `turn`: the conversation before it as history (only
    `with_history`: the fetch transport), or over EventSource the previous answer's rid, from
    which the back end finds the earlier turns. Continuing, the turn's own question and its
    answer so far end the history, and the parent is the answer being continued."""
    continuing = mode == "continue"
    history: tuple[HistoryItem, ...] = ()
    if with_history:
        history = conversation.history(turn)
        if continuing:
            history += (
                HistoryItem("user", turn.question),
                HistoryItem("assistant", turn.answer),
            )
    return StreamRequest(
        endpoint=endpoint,
        question=turn.question,
        rid=rid,
        history=history,
        parent=turn.rid if continuing else conversation.parent(turn),
        continuing=continuing,
    )


class TurnRecord:
    """Keeps `turn` in step with the `StreamingAnswer` that streams it.

    The answer holds only what this stream brought; the turn already holds what came before
    (the text of an answer being continued or resumed), so the answer's text and reasoning
    go on from the turn's. `update` after each change, with the stream's last event id (saved
    with the text, so that a reload resumes exactly after it); `end` once the answer ended.
    """

    def __init__(self, turn: Turn, mode: Mode) -> None:
        self.turn = turn
        self.mode = mode
        self._text = turn.answer
        self._reasoning = turn.reasoning
        self._citations = turn.citations if mode == "continue" else ()
        self._context: object = None

    def update(self, answer: StreamingAnswer, last_event_id: str) -> str:
        """Copy the answer's state into the turn; returns the note about the conversation the
        model was given, when it came with this change (else "")."""
        turn = self.turn
        turn.answer = self._text + answer.text
        turn.reasoning = self._reasoning + answer.reasoning
        turn.last_event_id = last_event_id
        if answer.usage is not None:
            turn.usage = answer.usage
        if answer.finish_reason:
            turn.finish = answer.finish_reason
        if answer.context is not None and answer.context is not self._context:
            self._context = answer.context
            turn.note = context_text(answer.context)
            return turn.note
        return ""

    def end(self, answer: StreamingAnswer) -> str:
        """The answer ended (done, stopped or failed): the turn's final state; returns what
        the page announces."""
        turn = self.turn
        if answer.state is AnswerState.DONE:
            turn.citations = answer.citations or self._citations
            turn.state = "done"
            return turn.cut_off_text or completion_status(len(turn.citations))
        error = answer.error
        if answer.state is not AnswerState.FAILED or error is None:
            turn.state = "stopped"
            return "Answer stopped."
        if self.mode == "resume" and not _received(answer):
            # The back end no longer has it (expired, or restarted): keep what was shown and
            # offer to continue it, rather than an error for a page that was away.
            turn.state, turn.finish = "stopped", "interrupted"
            return turn.cut_off_text
        return self.fail(error.user_message, retryable=error.retry_may_help)

    def fail(self, message: str, *, retryable: bool = True) -> str:
        """The answer failed (also: a bug in the page while it showed it); the partial text
        stays. Returns what the page announces."""
        self.turn.state, self.turn.error, self.turn.retryable = "error", message, retryable
        return message


def _received(answer: StreamingAnswer) -> bool:
    """Whether anything of the answer came (heartbeats and reconnections are not)."""
    return bool(
        answer.text
        or answer.reasoning
        or answer.citations
        or answer.usage is not None
        or answer.finish_reason
        or answer.context is not None
    )
