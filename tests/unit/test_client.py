"""streamchat.client: one answer over a scripted transport: retries, resume, stalls, stop."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal
from unittest.mock import patch
from urllib.parse import parse_qs, urlsplit

import pytest

from streamchat.client import (
    BadContentType,
    ConnectionFailed,
    Cursor,
    HistoryItem,
    HTTPStatus,
    Reconnecting,
    StallTimer,
    StreamDropped,
    StreamRequest,
    TransportError,
    get_url,
    post_body,
    stream_query,
)
from streamchat.protocol import (
    AnswerFailed,
    AnswerRefused,
    Citation,
    Citations,
    Context,
    Done,
    Finish,
    Message,
    Ping,
    ProtocolError,
    ServerFailed,
    ServerUnreachable,
    StreamBroken,
    StreamError,
    Token,
    Usage,
)
from streamchat.protocol import Reasoning as ReasoningMessage
from streamchat.retry import RetryPolicy
from streamchat.sse import ServerSentEvent

REQUEST = StreamRequest(endpoint="https://api.example/sse", question="Why?", rid="rid-1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def token(event_id: str, text: str) -> ServerSentEvent:
    return ServerSentEvent("message", json.dumps({"type": "token", "text": text}), event_id)


def done(event_id: str = "") -> ServerSentEvent:
    return ServerSentEvent("message", "[DONE]", event_id)


def error(event_id: str, message: str, retryable: bool) -> ServerSentEvent:
    payload = {"type": "error", "message": message, "retryable": retryable}
    return ServerSentEvent("message", json.dumps(payload), event_id)


Ending = Literal["drop", "end", "hang"] | TransportError


@dataclass
class Attempt:
    """What the fake server does on one connection: send `events`, then end as `then` says."""

    events: list[ServerSentEvent | None] = field(default_factory=list)
    then: Ending = "drop"


def status(code: int, retry_after: float | None = None) -> Attempt:
    return Attempt([], HTTPStatus(code, retry_after))


class FakeTransport:
    """A transport that plays one scripted Attempt per connection and records what it was asked."""

    def __init__(self, *attempts: Attempt, retry_ms: int | None = None) -> None:
        self.script = list(attempts)
        self.resumed_from: list[str] = []
        self.requests: list[StreamRequest] = []
        self.close_calls = 0
        self.hanging = False
        self.hung = asyncio.Event()
        self.connection_cleanups = 0
        self._retry_ms = retry_ms

    @property
    def retry_ms(self) -> int | None:
        return self._retry_ms

    async def events(
        self, request: StreamRequest, last_event_id: str
    ) -> AsyncIterator[ServerSentEvent | None]:
        assert len(self.resumed_from) < len(self.script), "more connections than scripted"
        attempt = self.script[len(self.resumed_from)]
        self.requests.append(request)
        self.resumed_from.append(last_event_id)
        try:
            for event in attempt.events:
                yield event
            if attempt.then == "hang":
                self.hanging = True
                self.hung.set()
                await asyncio.Event().wait()
            elif isinstance(attempt.then, TransportError):
                raise attempt.then
            elif attempt.then == "drop":
                raise StreamDropped("connection reset")
        finally:
            self.hanging = False
            self.connection_cleanups += 1

    async def close(self) -> None:
        self.close_calls += 1

    @property
    def attempts(self) -> int:
        return len(self.resumed_from)


@dataclass
class Run:
    """Everything one stream_query produced, and the waits it asked for."""

    items: list[Message | Reconnecting]
    error: StreamError | None
    delays: list[float]
    stall_timeouts: list[float]

    @property
    def text(self) -> str:
        return "".join(item.text for item in self.items if isinstance(item, Token))

    @property
    def reconnects(self) -> list[Reconnecting]:
        return [item for item in self.items if isinstance(item, Reconnecting)]


async def run(transport: FakeTransport, *, policy: RetryPolicy | None = None, seed: int = 1) -> Run:
    delays: list[float] = []
    stall_timeouts: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    async def wait_for(
        awaitable: Awaitable[ServerSentEvent | None], seconds: float
    ) -> ServerSentEvent | None:
        # A stall without waiting: the moment the transport hangs, the timeout fires.
        stall_timeouts.append(seconds)
        task = asyncio.ensure_future(awaitable)
        while not task.done():
            if transport.hanging:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                raise TimeoutError
            await asyncio.sleep(0)
        return task.result()

    items: list[Message | Reconnecting] = []
    caught: StreamError | None = None
    try:
        async for item in stream_query(
            REQUEST,
            transport,
            policy=policy or RetryPolicy(),
            sleep=sleep,
            rng=random.Random(seed).random,
            now=lambda: 0.0,
            wait_for=wait_for,
        ):
            items.append(item)
    except StreamError as exc:
        caught = exc
    return Run(items, caught, delays, stall_timeouts)


pytestmark = pytest.mark.anyio


async def test_complete_answer() -> None:
    citations = ServerSentEvent(
        "message",
        json.dumps({"type": "citations", "citations": [{"id": "1", "title": "T", "url": "U"}]}),
        "3",
    )
    transport = FakeTransport(
        Attempt([token("1", "Hello "), token("2", "world"), citations, done()])
    )
    result = await run(transport)
    assert result.items == [
        Token("Hello "),
        Token("world"),
        Citations((Citation("1", "T", "U"),)),
        Done(),
    ]
    assert result.error is None
    assert transport.attempts == 1
    assert transport.close_calls >= 1
    assert transport.connection_cleanups == 1
    assert result.stall_timeouts == [30.0] * 4


async def test_resume_skips_resent_events_and_loses_none() -> None:
    transport = FakeTransport(
        Attempt([token("1", "a"), token("2", "b")], "drop"),
        # The back end resends from the start of its buffer instead of after event 2.
        Attempt([token("1", "a"), token("2", "b"), token("3", "c")], "drop"),
        # This one resends just event 3; [DONE] carries no id line, so it repeats "4".
        Attempt([token("3", "c"), token("4", "d"), done("4")]),
    )
    result = await run(transport)
    assert result.error is None
    assert result.text == "abcd"
    assert transport.resumed_from == ["", "2", "3"]
    assert transport.requests == [REQUEST] * 3
    assert result.items[-1] == Done()
    assert [r.attempt for r in result.reconnects] == [1, 2]


async def test_event_without_its_own_id_is_not_a_resend() -> None:
    transport = FakeTransport(
        Attempt([token("1", "a")], "drop"),
        # "c" has no id line, so the decoder gives it the previous event's id.
        Attempt([token("2", "b"), token("2", "c"), done("2")]),
    )
    result = await run(transport)
    assert result.text == "abc"


async def test_done_first_on_a_resumed_connection_is_not_a_resend() -> None:
    # A transport that seeds its decoder with the resume id (as a browser's reconnect does)
    # gives a [DONE] without an id line the id the connection resumed after.
    transport = FakeTransport(
        Attempt([token("1", "a"), token("2", "b")], "drop"), Attempt([done("2")])
    )
    result = await run(transport)
    assert result.error is None
    assert result.items[-1] == Done()
    assert transport.attempts == 2


async def test_resume_point_only_moves_forward() -> None:
    transport = FakeTransport(
        Attempt([token("1", "a"), token("2", "b")], "drop"),
        Attempt([token("1", "a")], "drop"),
        Attempt([token("3", "c"), done()]),
    )
    result = await run(transport)
    assert result.text == "abc"
    assert transport.resumed_from == ["", "2", "2"]


async def test_server_error_every_time_gives_up_after_four_attempts() -> None:
    transport = FakeTransport(*[status(500) for _ in range(5)])
    result = await run(transport)
    assert transport.attempts == 4
    assert isinstance(result.error, ServerFailed)
    assert result.error.status == 500
    assert result.error.user_message == "The server ran into a problem (HTTP 500)."
    assert "4 attempts" in str(result.error)
    assert [(r.attempt, r.max_attempts, r.reason) for r in result.reconnects] == [
        (1, 3, "HTTP 500"),
        (2, 3, "HTTP 500"),
        (3, 3, "HTTP 500"),
    ]
    # Each failed connection was ended by the transport itself; the answer's end closes once.
    assert transport.close_calls == 1


async def test_delays_back_off_about_one_two_four_seconds() -> None:
    transport = FakeTransport(*[Attempt([], ConnectionFailed("refused")) for _ in range(4)])
    result = await run(transport, seed=99)
    assert len(result.delays) == 3
    for delay, nominal in zip(result.delays, [1.0, 2.0, 4.0], strict=True):
        assert nominal * 0.75 <= delay <= nominal * 1.25
    assert [r.delay for r in result.reconnects] == result.delays
    assert isinstance(result.error, ServerUnreachable)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (204, "no answer"),
        (400, "HTTP 400 Bad Request"),
        (401, "HTTP 401 Unauthorized"),
        (404, "HTTP 404 Not Found"),
        (499, "HTTP 499"),
    ],
)
async def test_statuses_that_retrying_cannot_fix_are_not_retried(code: int, words: str) -> None:
    transport = FakeTransport(status(code), status(code))
    result = await run(transport)
    assert transport.attempts == 1
    assert isinstance(result.error, AnswerRefused)
    assert words in result.error.user_message
    assert result.items == []


@pytest.mark.parametrize("code", [408, 429, 502, 503])
async def test_statuses_worth_retrying(code: int) -> None:
    transport = FakeTransport(status(code), Attempt([token("1", "ok"), done()]))
    result = await run(transport)
    assert transport.attempts == 2
    assert result.text == "ok"


async def test_an_unexpected_status_fails_at_once() -> None:
    transport = FakeTransport(status(302), status(302))
    result = await run(transport)
    assert transport.attempts == 1
    assert isinstance(result.error, ServerFailed)
    assert result.error.status == 302


async def test_retry_after_is_honoured() -> None:
    transport = FakeTransport(status(429, retry_after=7.0), Attempt([done()]))
    result = await run(transport)
    assert len(result.delays) == 1
    assert result.delays[0] >= 7.0


async def test_server_retry_ms_is_honoured() -> None:
    transport = FakeTransport(Attempt([token("1", "a")], "drop"), Attempt([done()]), retry_ms=5000)
    result = await run(transport)
    assert len(result.delays) == 1
    assert result.delays[0] >= 5.0


async def test_refused_answer_keeps_the_partial_text() -> None:
    transport = FakeTransport(
        Attempt([token("1", "Part"), token("2", "ial"), error("3", "Quota exceeded", False)]),
        Attempt([done()]),
    )
    result = await run(transport)
    assert result.items == [Token("Part"), Token("ial")]
    assert isinstance(result.error, AnswerFailed)
    assert result.error.user_message == "Quota exceeded"  # the server's own words
    assert result.error.retry_may_help
    assert transport.attempts == 1
    assert transport.close_calls >= 1
    assert transport.connection_cleanups == 1


async def test_retryable_error_event_reconnects() -> None:
    transport = FakeTransport(
        Attempt([token("1", "a"), error("2", "overloaded", True)], "hang"),
        Attempt([token("3", "b"), done()]),
    )
    result = await run(transport)
    assert result.error is None
    assert result.text == "ab"
    assert transport.resumed_from == ["", "2"]
    assert result.reconnects[0].reason == "server error: overloaded"


async def test_retryable_error_event_every_time_is_a_server_failure() -> None:
    transport = FakeTransport(*[Attempt([error("", "overloaded", True)]) for _ in range(4)])
    result = await run(transport)
    assert transport.attempts == 4
    assert isinstance(result.error, AnswerFailed)
    assert result.error.user_message == "overloaded"  # what the server said, not a guess
    assert [r.message for r in result.reconnects] == ["overloaded"] * 3


async def test_stall_reconnects() -> None:
    transport = FakeTransport(
        Attempt([token("1", "a")], "hang"),
        Attempt([token("2", "b"), done()]),
    )
    result = await run(transport, policy=RetryPolicy(stall_timeout=12.5))
    assert result.error is None
    assert result.text == "ab"
    assert result.reconnects[0].reason == "stalled"
    assert transport.resumed_from == ["", "1"]
    assert set(result.stall_timeouts) == {12.5}
    assert transport.connection_cleanups == 2
    # A stalled connection may still be open: closed before the retry, then at [DONE] and end.
    assert transport.close_calls == 3


async def test_keep_alives_are_not_events() -> None:
    transport = FakeTransport(Attempt([None, token("1", "a"), None, None, done()]))
    result = await run(transport)
    assert result.items == [Token("a"), Done()]


async def test_stall_before_any_event_every_time_is_a_broken_stream() -> None:
    transport = FakeTransport(*[Attempt([], "hang") for _ in range(4)])
    result = await run(transport)
    assert transport.attempts == 4
    assert isinstance(result.error, StreamBroken)
    assert [r.reason for r in result.reconnects] == ["stalled"] * 3


async def test_stream_that_ends_without_done_is_a_drop() -> None:
    transport = FakeTransport(Attempt([token("1", "a")], "end"), Attempt([done()]))
    result = await run(transport)
    assert result.items[0] == Token("a")
    assert isinstance(result.items[1], Reconnecting)
    assert "before [DONE]" in result.items[1].reason
    assert result.items[-1] == Done()


async def test_drops_mid_answer_every_time_is_a_broken_stream() -> None:
    transport = FakeTransport(
        Attempt([token("1", "a")], "drop"),
        Attempt([token("2", "b")], "end"),
        Attempt([], ConnectionFailed("offline")),
        Attempt([token("3", "c")], "drop"),
    )
    result = await run(transport)
    assert result.text == "abc"
    assert isinstance(result.error, StreamBroken)
    assert transport.attempts == 4


async def test_unreachable_after_the_answer_started_is_a_broken_stream() -> None:
    transport = FakeTransport(
        Attempt([token("1", "a")], "drop"),
        *[Attempt([], ConnectionFailed("offline")) for _ in range(3)],
    )
    result = await run(transport)
    assert isinstance(result.error, StreamBroken)


async def test_retries_are_counted_per_answer_not_reset_by_progress() -> None:
    transport = FakeTransport(
        *[Attempt([token(str(n), str(n))], "drop") for n in range(1, 6)],
    )
    result = await run(transport)
    assert transport.attempts == 4
    assert result.text == "1234"
    assert isinstance(result.error, StreamBroken)


async def test_zero_retries_means_one_attempt() -> None:
    transport = FakeTransport(status(503), status(503))
    result = await run(transport, policy=RetryPolicy(max_retries=0))
    assert transport.attempts == 1
    assert result.reconnects == []
    assert isinstance(result.error, ServerFailed)


async def test_malformed_payload_fails_at_once_after_earlier_tokens() -> None:
    transport = FakeTransport(
        Attempt([token("1", "ok"), ServerSentEvent("message", "{not json", "2"), done()]),
        Attempt([done()]),
    )
    result = await run(transport)
    assert result.items == [Token("ok")]
    assert isinstance(result.error, ProtocolError)
    assert transport.attempts == 1
    assert transport.close_calls >= 1
    assert transport.connection_cleanups == 1


async def test_wrong_content_type_is_not_retried() -> None:
    transport = FakeTransport(Attempt([], BadContentType("text/html")), Attempt([done()]))
    result = await run(transport)
    assert transport.attempts == 1
    assert isinstance(result.error, ProtocolError)
    assert "text/html" in str(result.error)


async def test_unknown_types_and_named_events_are_skipped() -> None:
    transport = FakeTransport(
        Attempt(
            [
                token("1", "a"),
                ServerSentEvent("message", '{"type": "sparkles", "count": 3}', "2"),
                ServerSentEvent("ping", "{not even json", "3"),
                token("4", "b"),
                done(),
            ]
        )
    )
    result = await run(transport)
    assert result.items == [Token("a"), Token("b"), Done()]


async def test_events_after_done_are_ignored_and_the_transport_is_closed_first() -> None:
    transport = FakeTransport(Attempt([token("1", "a"), done(), token("2", "late")], "hang"))
    stream = stream_query(REQUEST, transport, sleep=_no_sleep, rng=lambda: 0.5, now=lambda: 0.0)
    assert await anext(stream) == Token("a")
    assert await anext(stream) == Done()
    # Closed before Done was handed over, for a consumer that simply stops iterating.
    assert transport.close_calls >= 1
    assert transport.connection_cleanups == 1
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_stopping_the_consumer_closes_the_transport() -> None:
    transport = FakeTransport(Attempt([token("1", "a"), token("2", "b")], "hang"))
    stream = stream_query(REQUEST, transport, sleep=_no_sleep, rng=lambda: 0.5, now=lambda: 0.0)
    assert await anext(stream) == Token("a")
    assert transport.close_calls == 0
    await stream.aclose()
    assert transport.close_calls >= 1
    assert transport.connection_cleanups == 1


async def test_cancelling_the_consumer_closes_the_transport() -> None:
    transport = FakeTransport(Attempt([token("1", "a")], "hang"))
    received: list[Message | Reconnecting] = []

    async def consume() -> None:
        async for item in stream_query(
            REQUEST, transport, sleep=_no_sleep, rng=lambda: 0.5, now=lambda: 0.0
        ):
            received.append(item)

    task = asyncio.ensure_future(consume())
    await transport.hung.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received == [Token("a")]
    assert transport.close_calls >= 1
    assert transport.connection_cleanups == 1


async def test_real_wait_for_turns_a_hang_into_a_stall() -> None:
    transport = FakeTransport(Attempt([token("1", "a")], "hang"), Attempt([done()]))
    items = [
        item
        async for item in stream_query(
            REQUEST,
            transport,
            policy=RetryPolicy(stall_timeout=0.01),
            sleep=_no_sleep,
            rng=lambda: 0.5,
            now=lambda: 0.0,
        )
    ]
    assert items == [Token("a"), Reconnecting(1, 3, 1.0, "stalled"), Done()]
    assert transport.connection_cleanups == 2


async def _no_sleep(_delay: float) -> None:
    return None


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_get_url() -> None:
    url = get_url(REQUEST)
    assert url.startswith("https://api.example/sse?")
    assert query(url) == {"q": ["Why?"], "rid": ["rid-1"]}
    assert query(get_url(REQUEST, "12")) == {
        "q": ["Why?"],
        "rid": ["rid-1"],
        "last_event_id": ["12"],
    }


def test_get_url_encodes_any_question() -> None:
    question = "Où est l'été? a&b=c #1 / 100% + 日本 🙂\nnext line"
    url = get_url(StreamRequest("https://api.example/sse", question, "r/1"))
    assert " " not in url
    assert "+" not in url.split("?", 1)[1]
    assert query(url) == {"q": [question], "rid": ["r/1"]}


@pytest.mark.parametrize(
    ("endpoint", "prefix"),
    [
        ("/sse", "/sse?q="),
        ("/sse?key=k", "/sse?key=k&q="),
        ("/sse?", "/sse?q="),
        ("/sse?key=k&", "/sse?key=k&q="),
    ],
)
def test_get_url_keeps_an_existing_query(endpoint: str, prefix: str) -> None:
    url = get_url(StreamRequest(endpoint, "x", "r"), "5")
    assert url == f"{prefix}x&rid=r&last_event_id=5"


def test_get_url_keeps_the_fragment_last() -> None:
    assert get_url(StreamRequest("/sse?a=1#top", "x", "r")) == "/sse?a=1&q=x&rid=r#top"


def test_post_body() -> None:
    request = StreamRequest(
        "/sse",
        'Et l\'été? "quoted" 🙂',
        "rid-2",
        history=(HistoryItem("user", "Hi"), HistoryItem("assistant", "Hello **there**")),
        headers=(("Authorization", "Bearer x"),),
    )
    assert json.loads(post_body(request)) == {
        "question": 'Et l\'été? "quoted" 🙂',
        "rid": "rid-2",
        "history": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello **there**"},
        ],
    }
    assert "Bearer" not in post_body(request)


def test_post_body_without_history() -> None:
    assert json.loads(post_body(REQUEST)) == {"question": "Why?", "rid": "rid-1", "history": []}


def event(event_id: str, payload: dict[str, object]) -> ServerSentEvent:
    return ServerSentEvent("message", json.dumps(payload), event_id)


PING = ServerSentEvent("message", '{"type": "ping"}', "")


async def test_reasoning_usage_finish_and_context_are_yielded_in_order() -> None:
    transport = FakeTransport(
        Attempt(
            [
                event("1", {"type": "context", "kept_turns": 20, "dropped_turns": 3}),
                event("2", {"type": "reasoning", "text": "Hmm."}),
                token("3", "Cut"),
                event("4", {"type": "finish", "reason": "length"}),
                event("5", {"type": "usage", "prompt_tokens": 9, "completion_tokens": 4}),
                done(),
            ]
        )
    )
    result = await run(transport)
    assert result.items == [
        Context(20, 3),
        ReasoningMessage("Hmm."),
        Token("Cut"),
        Finish("length"),
        Usage(9, 4, None),
        Done(),
    ]


async def test_heartbeats_are_passed_on_and_never_count_as_resent() -> None:
    # Heartbeats carry no id of their own: the previous event's id comes with each of them.
    transport = FakeTransport(Attempt([PING, token("1", "a"), PING, PING, token("2", "b"), done()]))
    result = await run(transport, policy=RetryPolicy(stall_timeout=5.0))
    assert result.items == [Ping(), Token("a"), Ping(), Ping(), Token("b"), Done()]
    assert result.reconnects == []
    assert transport.attempts == 1


async def test_resent_reasoning_is_skipped_after_a_resume() -> None:
    transport = FakeTransport(
        Attempt([event("1", {"type": "reasoning", "text": "A"})], "drop"),
        Attempt([event("1", {"type": "reasoning", "text": "A"}), token("2", "b"), done()]),
    )
    result = await run(transport)
    assert [i for i in result.items if not isinstance(i, Reconnecting)] == [
        ReasoningMessage("A"),
        Token("b"),
        Done(),
    ]


async def test_a_busy_model_is_waited_for_as_long_as_it_asks_and_its_words_are_kept() -> None:
    busy = {"type": "error", "message": "The model is busy: slow down", "retryable": True}
    transport = FakeTransport(
        *[Attempt([event("", {**busy, "retry_after": 20, "code": "rate-limit"})]) for _ in range(4)]
    )
    result = await run(transport)
    assert transport.attempts == 4
    assert all(delay >= 20 for delay in result.delays)
    assert [r.message for r in result.reconnects] == ["The model is busy: slow down"] * 3
    assert isinstance(result.error, AnswerFailed)
    assert result.error.user_message == "The model is busy: slow down"
    assert result.error.retry_may_help


@pytest.mark.parametrize(
    ("code", "may_help"),
    [("auth", False), ("context-length", False), ("too-long", False), (None, True)],
)
async def test_retry_is_offered_only_when_it_can_help(code: str | None, may_help: bool) -> None:
    payload: dict[str, object] = {"type": "error", "message": "No.", "retryable": False}
    if code:
        payload["code"] = code
    result = await run(FakeTransport(Attempt([event("", payload)])))
    assert isinstance(result.error, AnswerFailed)
    assert result.error.retry_may_help is may_help


async def test_a_4xx_with_a_reason_shows_the_reason() -> None:
    transport = FakeTransport(
        Attempt([], HTTPStatus(400, message="The question is too long.", code="too-long"))
    )
    result = await run(transport)
    assert isinstance(result.error, AnswerFailed)
    assert result.error.user_message == "The question is too long."
    assert not result.error.retry_may_help


async def test_drops_before_any_text_are_not_called_mid_answer() -> None:
    transport = FakeTransport(*[Attempt([PING], "drop") for _ in range(4)])
    result = await run(transport)
    assert isinstance(result.error, StreamBroken)
    assert "before the answer began" in result.error.user_message
    transport = FakeTransport(Attempt([token("1", "a")], "drop"), *[Attempt([]) for _ in range(3)])
    result = await run(transport)
    assert isinstance(result.error, StreamBroken)
    assert "in the middle of the answer" in result.error.user_message


def test_the_parent_and_continue_travel_on_both_transports() -> None:
    request = StreamRequest("api/chat", "Go on?", "r2", parent="r1", continuing=True)
    query = parse_qs(urlsplit(get_url(request)).query)
    assert query["parent"] == ["r1"]
    assert query["continue"] == ["1"]
    body = json.loads(post_body(request))
    assert body["parent"] == "r1"
    assert body["continue"] is True
    plain = StreamRequest("api/chat", "Hi", "r1")
    assert "parent" not in get_url(plain)
    assert "parent" not in json.loads(post_body(plain))


async def test_a_reloaded_page_resumes_after_its_cursor_and_keeps_it_current() -> None:
    cursor = Cursor("2")
    transport = FakeTransport(
        Attempt([token("2", "b"), token("3", "c"), event("4", {"type": "reasoning", "text": "r"})]),
        Attempt([token("5", "d"), done()]),
    )
    seen: list[str] = []

    async def consume() -> None:
        async for item in stream_query(
            StreamRequest("api/chat", "q", "r"),
            transport,
            sleep=lambda _s: asyncio.sleep(0),
            rng=lambda: 0.5,
            now=lambda: 0.0,
            cursor=cursor,
        ):
            seen.append(f"{item}@{cursor.last_event_id}")

    await consume()
    assert transport.resumed_from == ["2", "4"]
    assert seen[0] == "Token(text='c')@3"  # event 2, sent again, was skipped
    assert cursor.last_event_id == "5"


async def test_a_rate_limit_with_words_is_waited_for_and_quoted() -> None:
    limited = HTTPStatus(429, 20.0, "You are sending questions too quickly.", "rate-limit")
    transport = FakeTransport(*[Attempt([], limited) for _ in range(4)])
    result = await run(transport)
    assert all(delay >= 20 for delay in result.delays)
    assert [r.message for r in result.reconnects] == ["You are sending questions too quickly."] * 3
    assert isinstance(result.error, AnswerFailed)
    assert result.error.user_message == "You are sending questions too quickly."


async def test_stall_timer_arms_one_timer_for_many_events() -> None:
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    call_at = loop.call_at

    def counting_call_at(when: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        armed.append(when)
        return call_at(when, callback, *args)

    async def event() -> ServerSentEvent:
        await asyncio.sleep(0)
        return ServerSentEvent("message", "{}", "1")

    timer = StallTimer()
    with patch.object(loop, "call_at", counting_call_at):
        for _ in range(500):
            await timer(event(), 30.0)
    assert len(armed) == 1


async def test_stall_timer_stalls_when_nothing_comes() -> None:
    timer = StallTimer()
    await timer(asyncio.sleep(0, None), 0.05)
    with pytest.raises(TimeoutError):
        await timer(asyncio.sleep(10), 0.05)
    # And the timer works again for the next connection.
    with pytest.raises(TimeoutError):
        await timer(asyncio.sleep(10), 0.05)


async def test_stall_timer_lets_a_stop_through() -> None:
    timer = StallTimer()
    task = asyncio.ensure_future(timer(asyncio.sleep(10), 30.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
