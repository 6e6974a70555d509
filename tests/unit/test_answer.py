"""streamchat.answer: an answer's state from a scripted transport, and its batched notifications."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from streamchat.answer import AnswerState, StreamingAnswer, call_soon
from streamchat.client import HTTPStatus, Reconnecting, StreamDropped, StreamRequest
from streamchat.protocol import (
    AnswerFailed,
    AnswerRefused,
    Citation,
    Context,
    Ping,
    StreamBroken,
    Token,
    Usage,
)
from streamchat.retry import RetryPolicy
from streamchat.sse import ServerSentEvent

pytestmark = pytest.mark.anyio

REQUEST = StreamRequest(endpoint="https://api.example/sse", question="Why?", rid="rid-1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def event(event_id: str, payload: dict[str, Any] | str) -> ServerSentEvent:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return ServerSentEvent("message", data, event_id)


def token(event_id: str, text: str) -> ServerSentEvent:
    return event(event_id, {"type": "token", "text": text})


DONE = event("", "[DONE]")
SOURCE = {"id": "1", "title": "T", "url": "https://e.example/"}
#: One connection's events, then how it ends: "drop", "hang" or an exception to raise.
Connection = tuple[list[ServerSentEvent], Any]


class ScriptedTransport:
    """Plays one scripted connection per `events` call; records where each resumed from."""

    def __init__(self, *connections: Connection) -> None:
        self.connections = list(connections)
        self.resumed_from: list[str] = []
        self.closed = 0
        self.hanging = asyncio.Event()

    @property
    def retry_ms(self) -> int | None:
        return None

    async def events(
        self, request: StreamRequest, last_event_id: str
    ) -> AsyncIterator[ServerSentEvent | None]:
        sent, then = self.connections[len(self.resumed_from)]
        self.resumed_from.append(last_event_id)
        for item in sent:
            yield item
        if then == "hang":
            self.hanging.set()
            await asyncio.Event().wait()
        elif isinstance(then, Exception):
            raise then

    async def close(self) -> None:
        self.closed += 1


class Frames:
    """A fake requestAnimationFrame: callbacks wait until the test runs a frame."""

    def __init__(self) -> None:
        self.waiting: list[Callable[[], None]] = []

    def __call__(self, callback: Callable[[], None]) -> None:
        self.waiting.append(callback)

    def run(self) -> None:
        waiting, self.waiting = self.waiting, []
        for callback in waiting:
            callback()


def state_of(answer: StreamingAnswer) -> AnswerState:
    # A call, so that the type checker does not narrow the state across awaits.
    return answer.state


async def no_sleep(_seconds: float) -> None:
    pass


OPTIONS: dict[str, Any] = {"sleep": no_sleep, "rng": lambda: 0.5, "now": lambda: 0.0}


async def test_a_complete_answer_ends_done_with_everything_the_server_sent() -> None:
    transport = ScriptedTransport(
        (
            [
                event("1", {"type": "context", "kept_turns": 1, "dropped_turns": 2}),
                event("2", {"type": "reasoning", "text": "Think"}),
                token("3", "Server-sent "),
                token("4", "events [1]."),
                event("5", {"type": "finish", "reason": "length"}),
                event("6", {"type": "usage", "prompt_tokens": 5, "completion_tokens": 3}),
                event("7", {"type": "citations", "citations": [SOURCE]}),
                DONE,
            ],
            "drop",
        )
    )
    answer = StreamingAnswer(schedule=Frames())
    await answer.run(REQUEST, transport, **OPTIONS)
    assert answer.state is AnswerState.DONE
    assert not answer.is_streaming
    assert answer.text == "Server-sent events [1]."
    assert answer.reasoning == "Think"
    assert answer.citations == (Citation("1", "T", "https://e.example/"),)
    assert answer.usage == Usage(5, 3, None)
    assert answer.finish_reason == "length"
    assert answer.context == Context(1, 2)
    assert (answer.error, answer.retries) == (None, 0)
    assert transport.closed >= 1


async def test_a_dropped_connection_is_resumed_and_counted_without_repeating_text() -> None:
    transport = ScriptedTransport(
        ([token("1", "a"), token("2", "b")], StreamDropped("gone")),
        ([token("2", "b"), token("3", "c"), DONE], "drop"),
    )
    seen: list[tuple[AnswerState, str, int]] = []
    answer = StreamingAnswer(schedule=lambda callback: callback())  # every change at once
    answer.subscribe(lambda a: seen.append((a.state, a.text, a.retries)))
    await answer.run(REQUEST, transport, **OPTIONS)
    assert transport.resumed_from == ["", "2"]
    assert (answer.text, answer.retries, answer.state) == ("abc", 1, AnswerState.DONE)
    assert (AnswerState.RECONNECTING, "ab", 1) in seen
    assert seen[0] == (AnswerState.CONNECTING, "", 0)
    assert seen[-1] == (AnswerState.DONE, "abc", 1)
    assert answer.reconnecting is None


async def test_notifications_are_batched_per_frame() -> None:
    frames = Frames()
    transport = ScriptedTransport(([token(str(n), f"w{n} ") for n in range(1, 6)] + [DONE], "drop"))
    calls: list[str] = []
    answer = StreamingAnswer(schedule=frames)
    answer.subscribe(lambda a: calls.append(a.text))
    await answer.run(REQUEST, transport, **OPTIONS)
    assert calls == []  # nothing before the frame
    assert len(frames.waiting) == 1  # however many changes: one frame asked for
    frames.run()
    assert calls == ["w1 w2 w3 w4 w5 "]
    frames.run()
    assert calls == ["w1 w2 w3 w4 w5 "]  # nothing changed since


async def test_unsubscribe_and_flush() -> None:
    frames = Frames()
    answer = StreamingAnswer(schedule=frames)
    first: list[str] = []
    second: list[str] = []
    stop_first = answer.subscribe(lambda a: first.append(a.text))
    answer.subscribe(lambda a: second.append(a.text))
    answer.apply(Token("x"))
    answer.flush()
    stop_first()
    stop_first()  # twice is harmless
    answer.apply(Token("y"))
    frames.run()  # the first frame's callback finds nothing left to say
    answer.flush()
    assert first == ["x"]
    assert second == ["x", "xy"]


async def test_a_broken_subscriber_does_not_starve_the_others() -> None:
    answer = StreamingAnswer(schedule=lambda callback: callback())
    heard: list[str] = []

    def broken(_answer: StreamingAnswer) -> None:
        raise ValueError("broken subscriber")

    answer.subscribe(broken)
    answer.subscribe(lambda a: heard.append(a.text))
    with pytest.raises(ValueError, match="broken subscriber"):
        answer.apply(Token("x"))
    assert heard == ["x"]


async def test_a_server_error_fails_the_answer_and_keeps_the_partial_text() -> None:
    error = event("2", {"type": "error", "message": "The model is overloaded.", "retryable": False})
    transport = ScriptedTransport(([token("1", "partial"), error], "drop"))
    answer = StreamingAnswer()
    await answer.run(REQUEST, transport, **OPTIONS)
    assert answer.state is AnswerState.FAILED
    assert isinstance(answer.error, AnswerFailed)
    assert answer.error.user_message == "The model is overloaded."
    assert answer.text == "partial"


async def test_a_refusal_fails_at_once_without_retrying() -> None:
    transport = ScriptedTransport(([], HTTPStatus(404)))
    answer = StreamingAnswer()
    await answer.run(REQUEST, transport, **OPTIONS)
    assert (answer.state, answer.retries) == (AnswerState.FAILED, 0)
    assert isinstance(answer.error, AnswerRefused)
    assert not answer.error.retry_may_help


async def test_retries_that_never_succeed_end_failed_with_the_count() -> None:
    transport = ScriptedTransport(*[([], HTTPStatus(503))] * 3)
    answer = StreamingAnswer()
    await answer.run(REQUEST, transport, policy=RetryPolicy(max_retries=2), **OPTIONS)
    assert (answer.state, answer.retries) == (AnswerState.FAILED, 2)
    assert len(transport.resumed_from) == 3


async def test_stop_ends_the_answer_stopped_closes_the_connection_and_keeps_the_text() -> None:
    transport = ScriptedTransport(([token("1", "kept ")], "hang"))
    answer = StreamingAnswer()
    task = answer.start(REQUEST, transport, **OPTIONS)
    assert state_of(answer) is AnswerState.CONNECTING
    await transport.hanging.wait()
    assert state_of(answer) is AnswerState.STREAMING
    answer.stop()
    assert state_of(answer) is AnswerState.STOPPED
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (answer.state, answer.text) == (AnswerState.STOPPED, "kept ")
    assert transport.closed >= 1
    answer.stop()  # stopping an ended answer does nothing
    assert answer.state is AnswerState.STOPPED


async def test_messages_that_end_before_done_are_a_broken_stream() -> None:
    async def messages() -> AsyncIterator[Token]:
        yield Token("half")

    answer = StreamingAnswer()
    await answer.consume(messages())
    assert answer.state is AnswerState.FAILED
    assert isinstance(answer.error, StreamBroken)


def test_apply_follows_each_message_kind() -> None:
    answer = StreamingAnswer(schedule=lambda callback: None)
    answer.apply(Reconnecting(1, 3, 1.0, "dropped"))
    assert (answer.state, answer.retries, answer.is_streaming) == (
        AnswerState.RECONNECTING,
        1,
        True,
    )
    answer.apply(Ping())  # the connection is back
    assert answer.state is AnswerState.STREAMING
    assert answer.reconnecting is None
    assert answer.heartbeats == 1


def test_the_default_scheduler_runs_at_once_without_a_loop() -> None:
    calls: list[int] = []
    call_soon(lambda: calls.append(1))
    assert calls == [1]


async def test_the_default_scheduler_waits_for_the_loop() -> None:
    answer = StreamingAnswer()
    heard: list[str] = []
    answer.subscribe(lambda a: heard.append(a.text))
    answer.apply(Token("a"))
    answer.apply(Token("b"))
    assert heard == []
    await asyncio.sleep(0)
    assert heard == ["ab"]


@pytest.mark.parametrize("state", list(AnswerState))
def test_every_state_is_active_or_final_or_idle(state: AnswerState) -> None:
    assert [state.is_active, state.is_final, state is AnswerState.IDLE].count(True) == 1
