"""The conversation's history and the words the page uses for progress."""

from __future__ import annotations

import pytest

from app.chat import (
    Conversation,
    completion_status,
    context_text,
    finish_text,
    follows_after_scroll,
    is_at_bottom,
    progress_text,
    question_limit_text,
    reconnect_status,
    speed_text,
    thought_text,
    usage_text,
)
from streamchat.client import HistoryItem
from streamchat.protocol import Citation, Context, Usage


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
    assert speed_text(0.42, 1, 0) == "First words after 0.4 s"
    assert speed_text(0.42, 100, 2.0) == "First words after 0.4 s · 50 words/s"
    assert speed_text(0.42, 100, 2.0, "tokens") == "First words after 0.4 s · 50 tokens/s"


def test_the_conversation_survives_a_round_trip_and_an_interrupted_answer_is_stopped() -> None:
    conversation = Conversation()
    done = conversation.ask("Résumé of SSE?")
    done.answer, done.state = "It streams [1].", "done"
    done.citations = (Citation("1", "HTML Standard", "https://html.spec.whatwg.org/"),)
    streaming = conversation.ask("And then?")
    streaming.answer = "Half an ans"
    restored = Conversation.loads(conversation.dumps())
    assert restored.turns[0] == done
    assert restored.turns[1].answer == "Half an ans"
    assert restored.turns[1].state == "stopped"


@pytest.mark.parametrize("stored", [None, "", "{oops", '{"a": 1}', '[{"answer": "no question"}]'])
def test_an_unreadable_store_gives_an_empty_conversation(stored: str | None) -> None:
    assert Conversation.loads(stored).turns == []


def test_truncate_removes_a_turn_and_everything_after_it() -> None:
    conversation = Conversation()
    first, second, third = (conversation.ask(q) for q in ("a", "b", "c"))
    assert conversation.truncate(1) == [second, third]
    assert conversation.turns == [first]


def test_progress_is_honest_about_each_phase() -> None:
    assert progress_text(3.0, 0.0, None, 0) == "Waiting for the first words…"
    assert progress_text(12.4, 0.0, None, 0) == "Still waiting for the server… (12 s)"
    assert progress_text(3.0, 0.0, 1.0, 41) == "First words after 1.0 s · 20 words/s"


@pytest.mark.parametrize(("top", "expected"), [(552, True), (510, True), (400, False), (0, False)])
def test_the_view_follows_only_a_reader_at_the_bottom(top: float, expected: bool) -> None:
    assert is_at_bottom(top, 448, 1000) is expected


@pytest.mark.parametrize(
    ("following", "moved_up", "at_bottom", "expected"),
    [
        (True, False, False, True),  # the page's own scroll, reported after more text came
        (True, True, False, False),  # the reader scrolled up
        (True, True, True, True),  # up a little, still at the bottom
        (False, False, False, False),  # down, but not to the bottom yet
        (False, False, True, True),  # back at the bottom
        (False, True, True, True),  # the content shrank and the browser moved the view up
    ],
)
def test_only_the_reader_scrolling_up_stops_the_following(
    following: bool, moved_up: bool, at_bottom: bool, expected: bool
) -> None:
    assert follows_after_scroll(following, moved_up=moved_up, at_bottom=at_bottom) is expected


def test_history_sends_the_newest_messages_within_the_back_ends_limit() -> None:
    conversation = Conversation()
    for n in range(60):
        conversation.ask(f"q{n}").answer = f"a{n}"
    last = conversation.ask("now")
    history = conversation.history(last)
    assert len(history) == 100
    assert history[0] == HistoryItem("user", "q10")
    assert history[-1] == HistoryItem("assistant", "a59")


def test_the_parent_is_the_answer_before() -> None:
    conversation = Conversation()
    first = conversation.ask("one")
    first.rid = "r1"
    second = conversation.ask("two")
    assert conversation.parent(first) == ""
    assert conversation.parent(second) == "r1"


def test_words_for_a_real_model() -> None:
    assert reconnect_status(1, 3, 19.6, "The model is busy: slow down") == (
        "The model is busy: slow down. Retrying in 20 s (1/3)…"
    )
    assert reconnect_status(2, 3, 0.2, "Busy.") == "Busy. Retrying now (2/3)…"
    assert progress_text(25.2, 0.0, None, 0, alive=True) == "The model is thinking… (25 s)"
    assert progress_text(4.0, 0.0, None, 0, alive=True) == "The model is thinking… (4 s)"
    assert progress_text(9.0, 0.0, None, 0, thinking_since=2.0) == "Thinking… (7 s)"
    assert thought_text(None) == "Thinking…"
    assert thought_text(0.4) == "Thought for less than a second"
    assert thought_text(12.4) == "Thought for 12 s"
    assert usage_text(Usage(1200, 80, 30)) == "Tokens: 1,200 in, 80 out (30 reasoning)"
    assert usage_text(Usage(None, 5, None)) == "Tokens: 5 out"
    assert "length limit" in finish_text("length")
    assert "content filter" in finish_text("content-filter")
    assert finish_text("stop") == ""
    assert "no longer had" in context_text(Context(0, 0, True))
    assert context_text(Context(20, 1, False)).endswith("1 earlier turn was left out.")
    assert context_text(Context(20, 0, False)) == ""
    assert question_limit_text(100, 4000) == ""
    assert question_limit_text(3500, 4000) == "3,500 / 4,000 characters"
    assert question_limit_text(4010, 4000) == "4,010 / 4,000 characters: 10 too many"


def test_a_real_models_turn_survives_a_round_trip() -> None:
    conversation = Conversation()
    turn = conversation.ask("Why?")
    turn.answer, turn.state, turn.rid = "Because", "done", "r1"
    turn.reasoning, turn.thought_for = "Hmm", 3.5
    turn.usage, turn.finish, turn.note = Usage(1, 2, None), "length", "A note."
    turn.retryable = False
    assert Conversation.loads(conversation.dumps()).turns[0] == turn


def test_the_last_answer_cut_off_by_a_reload_is_resumable_and_no_other() -> None:
    conversation = Conversation()
    earlier = conversation.ask("one")
    earlier.rid = "r1"  # streaming, but not last: it cannot still be on the server's mind
    last = conversation.ask("two")
    last.rid, last.answer, last.last_event_id = "r2", "Half", "7"
    restored = Conversation.loads(conversation.dumps())
    assert restored.turns[0].state == "stopped"
    assert restored.resumable is restored.turns[1]
    assert restored.turns[1].last_event_id == "7"
    last.state = "done"
    assert Conversation.loads(conversation.dumps()).resumable is None
