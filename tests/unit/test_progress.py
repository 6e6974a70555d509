"""app.progress: the status line's phases, words and speed, with time passed in."""

from __future__ import annotations

from app.progress import Progress
from streamchat.client import Reconnecting
from streamchat.protocol import Usage


def test_words_split_across_chunks_are_counted_once() -> None:
    progress = Progress(started=0.0)
    for chunk in ["Serv", "er-sent ev", "ents ", "reconnect", " by themselves."]:
        progress.token(1.0, chunk)
    assert progress.words == 5


def test_the_phases_before_the_first_word() -> None:
    progress = Progress(started=0.0)
    assert progress.text(2.0) == "Waiting for the first words…"
    assert progress.text(12.0) == "Still waiting for the server… (12 s)"
    progress.alive = True
    assert progress.text(3.0) == "The model is thinking… (3 s)"
    progress.thinking(4.0)
    assert progress.text(9.0) == "Thinking… (5 s)"
    assert progress.waiting_for(9.0) == 9.0


def test_speed_after_the_first_words_and_in_the_summary() -> None:
    progress = Progress(started=0.0)
    progress.token(1.5, "one two ")
    progress.token(3.5, "three four")
    assert progress.waiting_for(4.0) == 0.0
    assert progress.text(3.5) == "First words after 1.5 s · 2 words/s"
    assert progress.summary(10.0, None) == "First words after 1.5 s · 2 words/s"
    assert progress.summary(10.0, Usage(10, 40, None)) == "First words after 1.5 s · 20 tokens/s"


def test_no_summary_without_words() -> None:
    assert Progress(started=0.0).summary(5.0, None) == ""


def test_a_retry_is_shown_until_text_comes_again() -> None:
    progress = Progress(started=0.0)
    progress.retry(Reconnecting(1, 3, 2.0, "dropped"), now=1.0)
    assert progress.retry_text(1.5) == "Connection lost, retrying 1/3…"
    progress.retry(Reconnecting(2, 3, 4.0, "server_error", "The model is busy"), now=2.0)
    assert progress.retry_text(3.0) == "The model is busy. Retrying in 3 s (2/3)…"
    progress.token(7.0, "back")
    assert progress.retrying is None
    assert progress.retry_text(7.0) == ""
