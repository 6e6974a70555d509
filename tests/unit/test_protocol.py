"""streamchat.protocol: the messages an event's data carries, and the errors an answer ends with."""

from __future__ import annotations

import json

import pytest

from streamchat.protocol import (
    AnswerRefused,
    Citation,
    Citations,
    Context,
    Done,
    Finish,
    Message,
    Ping,
    ProtocolError,
    Reasoning,
    ServerError,
    ServerFailed,
    ServerUnreachable,
    StreamBroken,
    StreamError,
    Token,
    Usage,
    parse_message,
)

SOURCE = {"id": "1", "title": "HTML Standard §9.2", "url": "https://html.spec.whatwg.org/"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("[DONE]", Done()),
        ('{"type": "token", "text": "Server-sent events "}', Token("Server-sent events ")),
        ('{"type": "token", "text": ""}', Token("")),
        ('{"type": "token", "text": "caf\\u00e9 ```py\\n"}', Token("café ```py\n")),
        ('{"type": "token", "text": "x", "extra": 1}', Token("x")),
        (
            json.dumps({"type": "citations", "citations": [SOURCE]}),
            Citations((Citation("1", "HTML Standard §9.2", "https://html.spec.whatwg.org/"),)),
        ),
        ('{"type": "citations", "citations": []}', Citations(())),
        (
            '{"type": "citations", "citations": [{"id": 2, "title": "t", "url": "u"}]}',
            Citations((Citation("2", "t", "u"),)),
        ),
        ('{"type": "error", "message": "Quota exceeded"}', ServerError("Quota exceeded", False)),
        (
            '{"type": "error", "message": "Busy", "retryable": true}',
            ServerError("Busy", True),
        ),
        ('{"type": "error", "message": "m", "retryable": false}', ServerError("m", False)),
        (
            '{"type": "error", "message": "Busy", "retryable": true, "retry_after": 20,'
            ' "code": "rate-limit"}',
            ServerError("Busy", True, 20.0, "rate-limit"),
        ),
        ('{"type": "reasoning", "text": "Let me think"}', Reasoning("Let me think")),
        (
            '{"type": "usage", "prompt_tokens": 12, "completion_tokens": 5, "reasoning_tokens": 3}',
            Usage(12, 5, 3),
        ),
        ('{"type": "usage", "completion_tokens": 5}', Usage(None, 5, None)),
        ('{"type": "finish", "reason": "length"}', Finish("length")),
        (
            '{"type": "context", "kept_turns": 20, "dropped_turns": 4, "missing": false}',
            Context(20, 4, False),
        ),
        ('{"type": "context", "kept_turns": 0, "missing": true}', Context(0, 0, True)),
        ('{"type": "ping"}', Ping()),
        ('{"type": "sparkles", "count": 12}', None),
        ('{"type": "Token", "text": "case matters"}', None),
    ],
)
def test_parse_message(data: str, expected: Message | None) -> None:
    assert parse_message(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        "",
        "[DONE] ",
        "[done]",
        "not json",
        '{"type": "token", "text": "cut',
        "[1, 2]",
        '"token"',
        "null",
        "{}",
        '{"type": 1}',
        '{"text": "no type"}',
        '{"type": "token"}',
        '{"type": "token", "text": 5}',
        '{"type": "token", "text": null}',
        '{"type": "reasoning"}',
        '{"type": "usage", "prompt_tokens": "12"}',
        '{"type": "usage", "prompt_tokens": -1}',
        '{"type": "usage", "prompt_tokens": true}',
        '{"type": "finish"}',
        '{"type": "error", "message": "m", "retry_after": "soon"}',
        '{"type": "citations"}',
        '{"type": "citations", "citations": {"id": "1"}}',
        '{"type": "citations", "citations": ["1"]}',
        '{"type": "citations", "citations": [{"title": "t", "url": "u"}]}',
        '{"type": "citations", "citations": [{"id": true, "title": "t", "url": "u"}]}',
        '{"type": "citations", "citations": [{"id": 1.5, "title": "t", "url": "u"}]}',
        '{"type": "citations", "citations": [{"id": "1", "title": null, "url": "u"}]}',
        '{"type": "citations", "citations": [{"id": "1", "title": "t"}]}',
        '{"type": "error"}',
        '{"type": "error", "message": "m", "retryable": "yes"}',
        '{"type": "error", "message": "m", "retryable": 1}',
        "[" * 100_000,
    ],
)
def test_malformed_data_is_a_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_message(data)
    assert caught.value.user_message == "The server sent a reply this page could not read."


def test_protocol_error_keeps_the_technical_detail() -> None:
    with pytest.raises(ProtocolError, match=r"token\.text is not a string: 5"):
        parse_message('{"type": "token", "text": 5}')


def test_every_stream_error_has_plain_words_and_technical_detail() -> None:
    errors: list[StreamError] = [
        ProtocolError("event data is not JSON"),
        ServerUnreachable("connection refused"),
        ServerFailed(500),
        ServerFailed(None, "expected text/event-stream"),
        StreamBroken("gave up after 4 attempts"),
        AnswerRefused("Quota exceeded"),
    ]
    for error in errors:
        assert error.user_message
        assert str(error)
        assert str(error) != error.user_message
        assert "HTTP" not in error.user_message or isinstance(error, ServerFailed)


@pytest.mark.parametrize(
    ("error", "user_message", "detail"),
    [
        (
            ServerUnreachable(),
            "Could not reach the server. Check your connection and try again.",
            "Could not reach the server. Check your connection and try again.",
        ),
        (ServerFailed(503), "The server ran into a problem (HTTP 503).", "HTTP 503"),
        (ServerFailed(None), "The server ran into a problem.", "The server ran into a problem."),
        (
            StreamBroken("dropped 4 times"),
            "The connection dropped in the middle of the answer and could not be resumed.",
            "dropped 4 times",
        ),
        (
            AnswerRefused("Quota exceeded"),
            "The server refused to answer: Quota exceeded.",
            "answer refused: Quota exceeded",
        ),
        (
            AnswerRefused("HTTP 404 Not Found"),
            "The server refused to answer: HTTP 404 Not Found.",
            "answer refused: HTTP 404 Not Found",
        ),
        (
            AnswerRefused("That is not allowed."),
            "The server refused to answer: That is not allowed.",
            "answer refused: That is not allowed.",
        ),
    ],
)
def test_error_messages(error: StreamError, user_message: str, detail: str) -> None:
    assert error.user_message == user_message
    assert str(error) == detail
    assert isinstance(error, StreamError)


def test_errors_keep_their_data() -> None:
    assert ServerFailed(502).status == 502
    assert ServerFailed(None).status is None
    assert AnswerRefused("no").reason == "no"


def test_messages_are_frozen_and_hashable() -> None:
    citations = Citations((Citation("1", "t", "u"),))
    assert hash(citations) == hash(Citations((Citation("1", "t", "u"),)))
    with pytest.raises(AttributeError):
        citations.citations = ()  # type: ignore[misc]
