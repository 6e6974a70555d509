"""server/upstream.py against a fake OpenAI-compatible upstream, a real Starlette app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from server.events import AnswerEvent, Message, ServerError, Token
from server.upstream import UpstreamAnswerer, parse_chunk
from tests.server.conftest import AppFactory, client_for
from tests.server.helpers import answer_text, parse_frames

pytestmark = pytest.mark.anyio


class FakeUpstream:
    """Streams a fixed reply in OpenAI's chunk format, or fails as told; records requests."""

    def __init__(self, status: int = 200, finish: bool = True) -> None:
        self.status = status
        self.finish = finish
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])]
        )

    async def complete(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.json()))
        if self.status != 200:
            return JSONResponse({"error": {"message": "secret detail"}}, status_code=self.status)
        return StreamingResponse(self.chunks(), media_type="text/event-stream")

    async def chunks(self) -> AsyncIterator[str]:
        yield _chunk({"role": "assistant"})  # the first chunk has no content
        for text in ["Hello", ", ", "wörld"]:
            yield _chunk({"content": text})
        yield ": keep-alive\n\n"
        yield 'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\n'
        if self.finish:
            yield "data: [DONE]\n\n"


def _chunk(delta: dict[str, str]) -> str:
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta}]})}\n\n"


def answerer_for(upstream: FakeUpstream, api_key: str | None = "sk-test") -> UpstreamAnswerer:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=upstream.app))
    return UpstreamAnswerer("http://upstream/v1/", "test-model", api_key, client)


async def collect(
    answerer: UpstreamAnswerer, history: list[Message] | None = None
) -> list[AnswerEvent]:
    return [event async for event in answerer.answer("Hi?", history or [])]


async def test_deltas_become_tokens_and_the_request_is_openai_shaped() -> None:
    upstream = FakeUpstream()
    history: list[Message] = [
        {"role": "user", "content": "Before"},
        {"role": "assistant", "content": "Answer before"},
    ]
    events = await collect(answerer_for(upstream), history)
    assert events == [Token("Hello"), Token(", "), Token("wörld")]
    headers, body = upstream.requests[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert body == {
        "model": "test-model",
        "stream": True,
        "messages": [*history, {"role": "user", "content": "Hi?"}],
    }


async def test_without_a_key_no_authorization_is_sent() -> None:
    upstream = FakeUpstream()
    await collect(answerer_for(upstream, api_key=None))
    assert "authorization" not in upstream.requests[0][0]


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (400, False), (401, False), (429, True)]
)
async def test_an_upstream_error_status_becomes_one_plain_error_event(
    status: int, retryable: bool
) -> None:
    events = await collect(answerer_for(FakeUpstream(status=status)))
    assert len(events) == 1
    error = events[0]
    assert isinstance(error, ServerError)
    assert error.retryable is retryable
    assert "secret" not in error.message


async def test_an_unreachable_upstream_is_a_retryable_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    events = await collect(UpstreamAnswerer("http://upstream/v1", "m", None, client))
    assert events == [ServerError("Could not reach the model.", retryable=True)]


async def test_a_stream_without_done_is_reported_as_cut_off() -> None:
    events = await collect(answerer_for(FakeUpstream(finish=False)))
    assert events[:3] == [Token("Hello"), Token(", "), Token("wörld")]
    assert events[3] == ServerError("The model's answer was cut off.", retryable=True)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"choices": [{"delta": {"content": "x"}}]}', Token("x")),
        ('{"choices": [{"delta": {"content": ""}}]}', None),
        ('{"choices": []}', None),
        ("[1, 2]", None),
        ('{"error": {"message": "boom"}}', ServerError("The model reported an error.")),
        ("{not json", ServerError("The model sent a malformed answer.", retryable=True)),
    ],
)
def test_parse_chunk(data: str, expected: AnswerEvent | None) -> None:
    assert parse_chunk(data) == expected


async def test_the_app_forwards_the_post_history_to_the_upstream(make_app: AppFactory) -> None:
    upstream = FakeUpstream()
    app = make_app(answerer=answerer_for(upstream))
    history = [{"role": "user", "content": "Earlier"}, {"role": "assistant", "content": "Yes"}]
    async with client_for(app) as client:
        response = await client.post(
            "/api/chat", json={"question": "Hi?", "rid": "up1", "history": history}
        )
    frames = parse_frames(response.text)
    assert answer_text(frames) == "Hello, wörld"
    assert frames[-1].data == "[DONE]"
    assert upstream.requests[0][1]["messages"] == [*history, {"role": "user", "content": "Hi?"}]
