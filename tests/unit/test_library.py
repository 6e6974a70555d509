"""app/library.py: titles, search and Markdown export of past conversations."""

from __future__ import annotations

from app.chat import Conversation
from app.library import Summary, export_markdown, file_name, matches, record_for, title_for
from streamchat.protocol import Citation


def conversation(*questions: str) -> Conversation:
    chat = Conversation()
    for question in questions:
        turn = chat.ask(question)
        turn.answer, turn.state = f"About {question}", "done"
    return chat


def test_the_title_is_the_first_question_on_one_line_cut_at_a_word() -> None:
    assert title_for(Conversation()) == "New chat"
    assert title_for(conversation("What is SSE?\n\nAnd why?")) == "What is SSE? And why?"
    long = title_for(conversation("How does the page resume a dropped stream without " * 3))
    assert long.endswith("…")
    assert len(long) <= 61
    assert not long[:-1].endswith(" ")


def test_search_needs_every_word_in_the_title_or_a_question() -> None:
    item = Summary("c1", "Reconnecting streams", 0.0, "How does EventSource retry?\nAnd fetch?")
    assert matches(item, "")
    assert matches(item, "eventsource FETCH")
    assert matches(item, "reconnect")
    assert not matches(item, "eventsource websocket")


def test_the_record_keeps_the_turns_and_the_questions_for_search() -> None:
    chat = conversation("one", "two")
    record = record_for("c1", "Title", chat)
    assert record["id"] == "c1"
    assert record["text"] == "one\ntwo"
    assert Conversation.loads(record["turns"]).turns == chat.turns


def test_export_is_a_markdown_document_without_the_reasoning() -> None:
    chat = conversation("What is SSE?")
    turn = chat.turns[0]
    turn.reasoning = "secret thoughts"
    turn.citations = (Citation("1", "HTML Standard", "https://html.spec.whatwg.org/"),)
    failed = chat.ask("And then?")
    failed.state, failed.error = "error", "The model is busy."
    text = export_markdown("SSE questions", chat)
    assert text.startswith("# SSE questions\n\n> What is SSE?\n\nAbout What is SSE?\n")
    assert "1. [HTML Standard](https://html.spec.whatwg.org/)" in text
    assert "*(The answer failed: The model is busy.)*" in text
    assert "secret" not in text
    assert text.endswith(")*\n")


def test_export_file_names_are_safe() -> None:
    assert file_name("What is SSE? / ../etc") == "what-is-sse-etc.md"
    assert file_name("???") == "conversation.md"
