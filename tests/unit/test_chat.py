"""The conversation's history and the words the page uses for progress."""

from __future__ import annotations

from app.chat import Conversation, completion_status, reconnect_status, speed_text
from app.client import HistoryItem


def test_history_holds_the_earlier_turns_only() -> None:
    conversation = Conversation()
    first = conversation.ask("What is SSE?")
    first.answer = "A streaming format."
    second = conversation.ask("And EventSource?")
    assert conversation.history(first) == ()
    assert conversation.history(second) == (
        HistoryItem("user", "What is SSE?"),
        HistoryItem("assistant", "A streaming format."),
    )


def test_a_turn_without_an_answer_sends_its_question_only() -> None:
    conversation = Conversation()
    conversation.ask("Stopped before any token")
    last = conversation.ask("Next")
    assert conversation.history(last) == (HistoryItem("user", "Stopped before any token"),)


def test_status_words() -> None:
    assert completion_status(0) == "Answer complete."
    assert completion_status(1) == "Answer complete, 1 source."
    assert completion_status(3) == "Answer complete, 3 sources."
    assert reconnect_status(2, 3) == "Connection lost, retrying 2/3…"


def test_speed_text_reports_first_token_and_rate() -> None:
    assert speed_text(None, 0, 0) == ""
    assert speed_text(0.42, 1, 0) == "First token after 0.4 s"
    assert speed_text(0.42, 100, 2.0) == "First token after 0.4 s · 50 tokens/s"
