"""server/upstream.py against the scripted model (tests/model_double.py) and hand-made replies."""

from __future__ import annotations

import email.utils
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import anyio
import httpx
import pytest

from server.answerers import aclose
from server.events import (
    AnswerEvent,
    Finish,
    Message,
    Reasoning,
    ServerError,
    Token,
    Usage,
)
from server.settings import REPO_ROOT
from server.upstream import CompletionReader, UpstreamAnswerer
from tests.model_double import Record, create_model_double
from tests.server.conftest import AppFactory, client_for
from tests.server.helpers import answer_text, parse_frames

pytestmark = pytest.mark.anyio

THOUGHT = "Let me think about this step by step."
CUT_OFF = ServerError("The model's answer was cut off.", retryable=True)
TOO_LONG = "The conversation is too long for this model: start a new chat, or ask more briefly."


class Model:
    """An UpstreamAnswerer wired in-process to the model double, and the double's record."""

    def __init__(self, client: httpx.AsyncClient, record: Record, **options: Any) -> None:
        self.answerer = UpstreamAnswerer(
            "http://model/v1/", "test-model", "sk-test", client, **options
        )
        self.record = record

    async def ask(
        self, question: str, history: Sequence[Message] = (), *, continuing: bool = False
    ) -> list[AnswerEvent]:
        return merged(
            [e async for e in self.answerer.answer(question, history, continuing=continuing)]
        )


@pytest.fixture
async def model() -> AsyncIterator[Callable[..., Model]]:
    clients: list[httpx.AsyncClient] = []

    def make(**options: Any) -> Model:
        double = create_model_double()
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=double)))
        return Model(clients[-1], double.state.record, **options)

    yield make
    for client in clients:
        await client.aclose()


def merged(events: Sequence[AnswerEvent]) -> list[AnswerEvent]:
    """`events` with runs of tokens, and of reasoning, joined: chunking is the model's affair."""
    joined: list[AnswerEvent] = []
    for event in events:
        last = joined[-1] if joined else None
        if isinstance(event, Token) and isinstance(last, Token):
            joined[-1] = Token(last.text + event.text)
        elif isinstance(event, Reasoning) and isinstance(last, Reasoning):
            joined[-1] = Reasoning(last.text + event.text)
        else:
            joined.append(event)
    return joined


SCENARIOS: dict[str, list[AnswerEvent]] = {
    "hello": [Token("I received 1 messages.")],
    "scenario=reasoning-content": [Reasoning(THOUGHT), Token("The answer is **42**.")],
    "scenario=reasoning-field": [Reasoning(THOUGHT), Token("The answer is **42**.")],
    "scenario=think-tags": [Reasoning(THOUGHT), Token("The answer is **42**.")],
    "scenario=silence seconds=0.01": [Token("Sorry for the wait: here it is.")],
    "scenario=length": [Token("The first part of a long answer, which"), Finish("length")],
    "scenario=content-filter": [Token("Part of an answer"), Finish("content-filter")],
    "scenario=cut": [Token("This answer breaks"), CUT_OFF],
    "scenario=usage": [Token("Counted."), Usage(12, 5, 3)],
    "scenario=error-mid-stream": [
        Token("Starting"),
        ServerError("The model reported an error: The model crashed while generating."),
    ],
    "scenario=slow delay=0": [Token("".join(f"word{n} " for n in range(200)))],
    "scenario=rate-limit fail_times=0": [Token("Thanks for waiting.")],
    "scenario=rate-limit retry_after=7": [
        ServerError(
            "The model is busy: Rate limit reached for requests. Please try again later.",
            retryable=True,
            retry_after=7.0,
            code="rate-limit",
        )
    ],
    "scenario=context-length": [
        ServerError(
            "The request (5000 tokens) exceeds the available context size (2048 tokens), try"
            f" increasing it. {TOO_LONG}",
            code="context-length",
        )
    ],
    "scenario=bad-request": [
        ServerError(
            "The model rejected the request: Invalid value for 'temperature': must be between"
            " 0 and 2.",
            code="bad-request",
        )
    ],
    "scenario=unauthorized": [
        ServerError(
            "The model refused the server's credentials (HTTP 401): Incorrect API key provided:"
            " sk-te****st.",
            code="auth",
        )
    ],
}


@pytest.mark.parametrize(("question", "expected"), SCENARIOS.items())
async def test_each_scenario_gives_its_events_from_one_request(
    model: Callable[..., Model], question: str, expected: list[AnswerEvent]
) -> None:
    double = model()
    assert await double.ask(question) == expected
    assert len(double.record.requests) == 1


async def test_the_request_is_openai_shaped(model: Callable[..., Model]) -> None:
    double = model()
    history: list[Message] = [
        {"role": "user", "content": "Before"},
        {"role": "assistant", "content": "Answer before"},
    ]
    assert await double.ask("Hi?", history) == [Token("I received 3 messages.")]
    assert double.record.requests == [
        {
            "model": "test-model",
            "messages": [*history, {"role": "user", "content": "Hi?"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ]


async def test_system_prompt_temperature_and_max_tokens_are_sent(
    model: Callable[..., Model],
) -> None:
    double = model(system_prompt="Be brief.", temperature=0.2, max_tokens=256)
    assert await double.ask("Hi?") == [Token("I received 2 messages.")]
    (body,) = double.record.requests
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
    ]
    assert (body["temperature"], body["max_tokens"]) == (0.2, 256)


async def test_a_zero_temperature_is_sent_and_unset_options_are_not(
    model: Callable[..., Model],
) -> None:
    double = model(temperature=0.0)
    await double.ask("Hi?")
    (body,) = double.record.requests
    assert body["temperature"] == 0.0
    assert "max_tokens" not in body


async def test_continuing_sends_the_partial_answer_last_and_no_question(
    model: Callable[..., Model],
) -> None:
    double = model(system_prompt="Be brief.")
    first = await double.ask("scenario=length")
    assert first[-1] == Finish("length")
    partial = answer_text_of(first)
    history: list[Message] = [
        {"role": "user", "content": "scenario=length"},
        {"role": "assistant", "content": partial},
    ]
    assert await double.ask("ignored", history, continuing=True) == [Token(" goes on to the end.")]
    assert len(double.record.requests) == 2
    assert double.record.requests[1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        *history,
    ]


def answer_text_of(events: Sequence[AnswerEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, Token))


async def test_each_attempt_is_one_request_and_a_rate_limit_clears(
    model: Callable[..., Model],
) -> None:
    double = model()
    question = "scenario=rate-limit retry_after=2 fail_times=2"
    first, second, third = [await double.ask(question) for _ in range(3)]
    for failed in (first, second):
        assert len(failed) == 1
        assert isinstance(failed[0], ServerError)
        assert (failed[0].retryable, failed[0].retry_after, failed[0].code) == (
            True,
            2.0,
            "rate-limit",
        )
    assert third == [Token("Thanks for waiting.")]
    assert len(double.record.requests) == 3


# Hand-made replies, for what the double does not script: headers, odd bodies, broken transports.


def answerer_with(
    handler: Callable[[httpx.Request], httpx.Response],
    api_key: str | None = "sk-test",
    now: float = 0.0,
) -> UpstreamAnswerer:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return UpstreamAnswerer("http://upstream/v1", "m", api_key, client, now=lambda: now)


async def collect(answerer: UpstreamAnswerer) -> list[AnswerEvent]:
    return [event async for event in answerer.answer("Hi?", [])]


def replying(
    status: int, content: bytes | str = b"", headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=content)

    return handler


@pytest.mark.parametrize("api_key", ["sk-test", None])
async def test_the_key_is_sent_as_a_bearer_token_when_there_is_one(api_key: str | None) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"data: [DONE]\n\n")

    assert await collect(answerer_with(handler, api_key)) == []
    assert seen[0].url == "http://upstream/v1/chat/completions"
    assert seen[0].headers.get("authorization") == (f"Bearer {api_key}" if api_key else None)


OPENAI_CONTEXT: dict[str, dict[str, str]] = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages"
        " resulted in 9000 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
VLLM_CONTEXT = {
    "object": "error",
    "message": "This model's maximum context length is 4096 tokens. However, you requested"
    " 5000 tokens (4000 in the messages, 1000 in the completion)",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
ANTHROPIC_OVERLOADED = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
}


#: Error bodies in the shapes real servers use → the error the page shows.
ERROR_REPLIES: dict[str, tuple[int, object, ServerError]] = {
    "plain text": (
        403,
        "Forbidden",
        ServerError(
            "The model refused the server's credentials (HTTP 403): Forbidden.", code="auth"
        ),
    ),
    "top-level message": (
        503,
        {"message": "Service Unavailable"},
        ServerError("The model is busy: Service Unavailable.", True, None, "rate-limit"),
    ),
    "anthropic overloaded": (
        529,
        ANTHROPIC_OVERLOADED,
        ServerError("The model is busy: Overloaded.", True, None, "rate-limit"),
    ),
    "a proxy's html page": (
        502,
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        ServerError("The model failed (HTTP 502).", True),
    ),
    "error as a string": (
        500,
        {"error": "boom"},
        ServerError("The model failed (HTTP 500): boom.", True),
    ),
    "no body": (408, "", ServerError("The model failed (HTTP 408).", True)),
    "openai context length": (
        400,
        OPENAI_CONTEXT,
        ServerError(f"{OPENAI_CONTEXT['error']['message']} {TOO_LONG}", code="context-length"),
    ),
    "vllm context length": (
        400,
        VLLM_CONTEXT,
        ServerError(f"{VLLM_CONTEXT['message']}. {TOO_LONG}", code="context-length"),
    ),
    "too large without a word": (
        413,
        "",
        ServerError("The model rejected the request (HTTP 413).", code="bad-request"),
    ),
    "fastapi validation": (
        422,
        {"detail": [{"loc": ["body"], "msg": "Field required", "type": "missing"}]},
        ServerError("The model rejected the request: Field required.", code="bad-request"),
    ),
    "fastapi detail": (
        404,
        {"detail": "Not Found"},
        ServerError("The model rejected the request: Not Found.", code="bad-request"),
    ),
    "control characters": (
        400,
        {"error": {"message": "bad\n\x1b[31m  thing\x00"}},
        ServerError("The model rejected the request: bad [31m thing.", code="bad-request"),
    ),
    "long plain text": (
        400,
        "x" * 301,
        ServerError("The model rejected the request (HTTP 400).", code="bad-request"),
    ),
}


@pytest.mark.parametrize(("status", "body", "expected"), ERROR_REPLIES.values(), ids=ERROR_REPLIES)
async def test_an_error_status_is_told_in_the_models_words(
    status: int, body: object, expected: ServerError
) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    assert await collect(answerer_with(replying(status, content))) == [expected]


async def test_a_long_message_is_capped() -> None:
    body = json.dumps({"error": {"message": "word " * 500}})
    (error,) = await collect(answerer_with(replying(400, body)))
    assert isinstance(error, ServerError)
    message = error.message.removeprefix("The model rejected the request: ")
    assert len(message) <= 300
    assert message.endswith("…")


async def test_only_the_start_of_a_huge_error_body_is_read() -> None:
    async def endless() -> AsyncIterator[bytes]:
        yield b'{"error": {"message": "' + b"x" * 10_000
        raise AssertionError("read beyond the first chunk")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=endless())

    assert await collect(answerer_with(handler)) == [
        ServerError("The model failed (HTTP 500).", True)
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("100000", 300.0),  # capped: the page would otherwise wait a day
        (email.utils.formatdate(1_000_045, usegmt=True), 45.0),
        ("soon", None),
    ],
)
async def test_retry_after_is_passed_on_in_seconds(value: str, expected: float | None) -> None:
    handler = replying(429, "", {"Retry-After": value})
    (error,) = await collect(answerer_with(handler, now=1_000_000))
    assert isinstance(error, ServerError)
    assert (error.retry_after, error.code, error.retryable) == (expected, "rate-limit", True)


async def test_retry_after_on_a_server_error_is_passed_on_too() -> None:
    (error,) = await collect(answerer_with(replying(502, "", {"Retry-After": "5"})))
    assert error == ServerError("The model failed (HTTP 502).", True, 5.0)


async def test_failures_are_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"error": {"message": "Incorrect API key\n provided"}})
    with caplog.at_level(logging.WARNING, logger="server.upstream"):
        await collect(answerer_with(replying(401, body)))
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "HTTP 401" in record.getMessage()
    assert "Incorrect API key" in record.getMessage()
    assert "sk-test" not in caplog.text


async def test_an_unreachable_upstream_is_a_retryable_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert await collect(answerer_with(refuse)) == [
        ServerError("Could not reach the model.", retryable=True)
    ]


async def test_a_timeout_is_a_retryable_error() -> None:
    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    assert await collect(answerer_with(stall)) == [
        ServerError("The model took too long to answer.", retryable=True)
    ]


async def test_a_connection_lost_mid_answer_is_a_cut_off_answer() -> None:
    async def breaking() -> AsyncIterator[bytes]:
        yield b'data: {"choices": [{"delta": {"content": "<think>Hm"}}]}\n\n'
        raise httpx.RemoteProtocolError("peer closed connection")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=breaking())

    assert await collect(answerer_with(handler)) == [Reasoning("Hm"), CUT_OFF]


def read_all(*data: str, ended: bool = True) -> list[AnswerEvent]:
    """The events for chunks `data`; `ended`: then the stream ended (perhaps without [DONE])."""
    reader = CompletionReader()
    events = [event for item in data for event in ([] if reader.over else reader.read(item))]
    return events + (reader.end() if ended else [])


def chunk(
    delta: dict[str, object] | None = None, finish: str | None = None, **extra: object
) -> str:
    return json.dumps({"choices": [{"delta": delta or {}, "finish_reason": finish}], **extra})


def error(**fields: str) -> str:
    return json.dumps({"error": fields})


#: The `data` of each chunk → the events a reader makes of them.
CHUNKS: dict[str, tuple[list[str], list[AnswerEvent]]] = {
    "content": ([chunk({"content": "x"}), "[DONE]"], [Token("x")]),
    "nothing to say": (
        [chunk({"content": ""}), json.dumps({"choices": []}), "[1, 2]", "[DONE]"],
        [],
    ),
    "finish reason without [DONE]": ([chunk({"content": "x"}, "stop")], [Token("x")]),
    "tool calls": ([chunk({"content": "x"}, "tool_calls"), "[DONE]"], [Token("x")]),
    "neither": ([chunk({"content": "x"})], [Token("x"), CUT_OFF]),
    "both reasoning names": (
        [chunk({"reasoning_content": "a", "reasoning": "a"}), "[DONE]"],
        [Reasoning("a")],
    ),
    "a null reasoning_content": (
        [chunk({"reasoning_content": None, "reasoning": "b"}), "[DONE]"],
        [Reasoning("b")],
    ),
    "reasoning and content at once": (
        [chunk({"reasoning": "r", "content": "c"}), "[DONE]"],
        [Reasoning("r"), Token("c")],
    ),
    "unclosed think": (
        [chunk({"content": "<think>unfinished</th"}), "[DONE]"],
        [Reasoning("unfinished"), Reasoning("</th")],
    ),
    "llama.cpp usage in the last chunk": (
        [
            chunk({"content": "x"}, usage=None),
            chunk(finish="length", usage={"prompt_tokens": 3, "completion_tokens": 1}),
            "[DONE]",
        ],
        [Token("x"), Finish("length"), Usage(3, 1, None)],
    ),
    "odd counts": (
        [chunk(usage={"prompt_tokens": -1, "completion_tokens": True}), "[DONE]"],
        [Usage(None, None, None)],
    ),
    "error mid-stream": (
        [error(message="boom"), chunk({"content": "never"})],
        [ServerError("The model reported an error: boom.")],
    ),
    "rate limit mid-stream": (
        [error(message="too busy", type="rate_limit_error")],
        [ServerError("The model is busy: too busy.", True, None, "rate-limit")],
    ),
    "context mid-stream": (
        [error(message="the request exceeds the available context size", type="x")],
        [
            ServerError(
                f"The request exceeds the available context size. {TOO_LONG}", code="context-length"
            )
        ],
    ),
    "auth mid-stream": (
        [error(type="authentication_error")],
        [ServerError("The model refused the server's credentials.", code="auth")],
    ),
    "malformed": (
        ["{not json"],
        [ServerError("The model sent a malformed answer.", retryable=True)],
    ),
}


@pytest.mark.parametrize(("data", "expected"), CHUNKS.values(), ids=CHUNKS)
def test_completion_reader(data: list[str], expected: list[AnswerEvent]) -> None:
    assert read_all(*data) == expected


async def test_the_app_forwards_the_post_history_to_the_upstream(
    make_app: AppFactory, model: Callable[..., Model]
) -> None:
    double = model()
    app = make_app(answerer=double.answerer)
    history = [{"role": "user", "content": "Earlier"}, {"role": "assistant", "content": "Yes"}]
    async with client_for(app) as client:
        response = await client.post(
            "/api/chat", json={"question": "Hi?", "rid": "up1", "history": history}
        )
    frames = parse_frames(response.text)
    assert answer_text(frames) == "I received 3 messages."
    assert frames[-1].data == "[DONE]"
    assert double.record.requests[0]["messages"] == [*history, {"role": "user", "content": "Hi?"}]


@pytest.fixture
def running_double() -> Iterator[str]:
    """`python -m tests.model_double --port 0`, running; its URL."""
    with subprocess.Popen(
        [sys.executable, "-m", "tests.model_double", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("Serving on http://127.0.0.1:")
            yield line.removeprefix("Serving on ").strip()
        finally:
            process.terminate()
            process.wait(timeout=5)


async def test_the_runnable_double_notices_a_client_that_stops_listening(
    running_double: str,
) -> None:
    async with httpx.AsyncClient(base_url=running_double, timeout=10) as client:
        await listening(client)
        answerer = UpstreamAnswerer(f"{running_double}v1", "m", None, client)
        stream = answerer.answer("scenario=slow delay=0.05", [])
        assert [await anext(stream) for _ in range(2)] == [Token("word0 "), Token("word1 ")]
        await aclose(stream)  # as the answer store does when Stop is pressed
        calls = await abandoned_calls(client)
    assert (calls["count"], calls["abandoned"]) == (1, 1)


async def listening(client: httpx.AsyncClient) -> None:
    # The socket is bound before the line is printed, but uvicorn listens just after.
    for _ in range(200):
        try:
            await client.get("calls")
            return
        except httpx.ConnectError:
            await anyio.sleep(0.02)
    raise AssertionError("the model double never answered")


async def abandoned_calls(client: httpx.AsyncClient) -> dict[str, Any]:
    """The double's /calls once it has noticed the abandoned stream (it polls, so wait)."""
    for _ in range(200):
        calls: dict[str, Any] = (await client.get("calls")).json()
        if calls["abandoned"]:
            return calls
        await anyio.sleep(0.02)
    return calls
