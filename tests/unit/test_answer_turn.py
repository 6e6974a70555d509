"""app.answer_turn: what the page asks for a turn, and a StreamingAnswer kept in its Turn."""

from __future__ import annotations

import pytest

from app.answer_turn import TurnRecord, request_for
from app.chat import Conversation, Turn
from streamchat.answer import AnswerState, StreamingAnswer
from streamchat.client import HistoryItem, Reconnecting
from streamchat.protocol import (
    AnswerFailed,
    Citation,
    Citations,
    Context,
    Done,
    Finish,
    Ping,
    Reasoning,
    ServerError,
    ServerUnreachable,
    Token,
    Usage,
)

SOURCE = Citation("1", "HTML Standard", "https://html.spec.whatwg.org/")


def answer_of(*items: object) -> StreamingAnswer:
    answer = StreamingAnswer(schedule=lambda callback: None)
    for item in items:
        answer.apply(item)  # type: ignore[arg-type]
    return answer


def conversation() -> Conversation:
    talk = Conversation()
    first = talk.ask("What is SSE?")
    first.answer, first.rid = "Server-sent events.", "rid-1"
    talk.ask("And resuming?")
    return talk


def test_a_new_answer_sends_the_earlier_turns_over_fetch_and_the_parent_always() -> None:
    talk = conversation()
    turn = talk.turns[1]
    fetch = request_for(talk, turn, endpoint="api/chat", rid="r2", mode="new", with_history=True)
    assert fetch.history == (
        HistoryItem("user", "What is SSE?"),
        HistoryItem("assistant", "Server-sent events."),
    )
    assert (fetch.question, fetch.rid, fetch.parent, fetch.continuing) == (
        "And resuming?",
        "r2",
        "rid-1",
        False,
    )
    get = request_for(talk, turn, endpoint="api/chat", rid="r2", mode="new", with_history=False)
    assert get.history == ()
    assert get.parent == "rid-1"


def test_continuing_ends_the_history_with_the_answer_so_far_and_names_it_as_parent() -> None:
    talk = conversation()
    turn = talk.turns[1]
    turn.answer, turn.rid = "Resuming sends Last-", "rid-2"
    request = request_for(
        talk, turn, endpoint="api/chat", rid="r3", mode="continue", with_history=True
    )
    assert request.history[-2:] == (
        HistoryItem("user", "And resuming?"),
        HistoryItem("assistant", "Resuming sends Last-"),
    )
    assert (request.parent, request.continuing) == ("rid-2", True)


def test_the_turn_follows_the_answer_and_its_event_id() -> None:
    turn = Turn("Q")
    record = TurnRecord(turn, "new")
    answer = answer_of(Reasoning("Let me "), Token("Server-sent "), Usage(3, 4, None))
    assert record.update(answer, "3") == ""
    assert (turn.answer, turn.reasoning, turn.last_event_id) == ("Server-sent ", "Let me ", "3")
    assert turn.usage == Usage(3, 4, None)
    answer.apply(Finish("length"))
    record.update(answer, "4")
    assert turn.finish == "length"


def test_a_context_note_is_returned_once() -> None:
    turn = Turn("Q")
    record = TurnRecord(turn, "new")
    answer = answer_of(Context(kept_turns=2, dropped_turns=1, missing=False))
    note = record.update(answer, "1")
    assert note.startswith("The conversation is long")
    assert turn.note == note
    answer.apply(Token("x"))
    assert record.update(answer, "2") == ""


def test_a_continued_answer_goes_on_from_the_turns_text_and_keeps_its_sources() -> None:
    turn = Turn("Q", answer="First half, ", reasoning="Hm. ", citations=(SOURCE,))
    record = TurnRecord(turn, "continue")
    answer = answer_of(Reasoning("More."), Token("second half."), Done())
    record.update(answer, "9")
    assert (turn.answer, turn.reasoning) == ("First half, second half.", "Hm. More.")
    assert record.end(answer) == "Answer complete, 1 source."
    assert (turn.state, turn.citations) == ("done", (SOURCE,))


def test_done_takes_the_sources_and_says_so_or_why_it_was_cut_off() -> None:
    turn = Turn("Q")
    record = TurnRecord(turn, "new")
    answer = answer_of(Token("a [1]"), Citations((SOURCE,)), Done())
    assert record.end(answer) == "Answer complete, 1 source."
    assert turn.citations == (SOURCE,)
    cut = Turn("Q", finish="length")
    assert TurnRecord(cut, "new").end(answer_of(Done())).startswith("The answer was cut off")


def test_a_stopped_answer_is_stopped() -> None:
    turn = Turn("Q")
    answer = answer_of(Token("partial"))
    answer.state = AnswerState.STOPPED
    assert TurnRecord(turn, "new").end(answer) == "Answer stopped."
    assert turn.state == "stopped"


def failed(answer: StreamingAnswer, error: Exception) -> StreamingAnswer:
    answer.state, answer.error = AnswerState.FAILED, error  # type: ignore[assignment]
    return answer


def test_a_failed_answer_keeps_its_words_and_whether_retrying_can_help() -> None:
    turn = Turn("Q")
    error = AnswerFailed(ServerError("The key was refused.", retryable=False), 1)
    said = TurnRecord(turn, "new").end(failed(answer_of(Token("part")), error))
    assert said == turn.error == error.user_message
    assert (turn.state, turn.retryable) == ("error", error.retry_may_help)


@pytest.mark.parametrize("came", [[], [Ping()], [Reconnecting(1, 3, 1.0, "dropped")]])
def test_a_resume_that_finds_nothing_is_interrupted_not_failed(came: list[object]) -> None:
    turn = Turn("Q", answer="Shown before the reload", rid="rid-1")
    record = TurnRecord(turn, "resume")
    said = record.end(failed(answer_of(*came), ServerUnreachable("gone")))
    assert (turn.state, turn.finish) == ("stopped", "interrupted")
    assert said == turn.cut_off_text
    assert turn.answer == "Shown before the reload"


def test_a_resume_that_found_text_then_failed_is_an_error() -> None:
    turn = Turn("Q", answer="Shown ", rid="rid-1")
    record = TurnRecord(turn, "resume")
    record.end(failed(answer_of(Token("more")), ServerUnreachable("gone")))
    assert turn.state == "error"


def test_a_bug_in_the_page_fails_the_answer_with_retry() -> None:
    turn = Turn("Q")
    assert TurnRecord(turn, "new").fail("Something went wrong.") == "Something went wrong."
    assert (turn.state, turn.error, turn.retryable) == ("error", "Something went wrong.", True)
