"""A scripted OpenAI-compatible model server, for tests: `python -m tests.model_double`.

A real tiny model answers, but not on cue: it cannot be told to answer 429 with a
`Retry-After`, to run out of context, to think in `<think>` tags or in `reasoning_content`,
to stay silent for eight seconds, to hit its token limit, to break off or crash mid-answer,
and its words differ from run to run. This server does each of those when the last user
message asks, with `scenario=<name>` and optional `key=value` words (e.g.
"scenario=rate-limit retry_after=2 fail_times=2"), and streams OpenAI's chunks faithfully:
a first chunk with the role, content in pieces of a few characters, a last chunk with the
`finish_reason`, then `data: [DONE]`. It records every request body, in order, for
`GET /calls`; `POST /reset` forgets them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["Call", "Record", "create_model_double", "main"]

THOUGHT = "Let me think about this step by step."
ANSWER = "The answer is **42**."
DONE = "data: [DONE]\n\n"
_PARAM = re.compile(r"([A-Za-z_][\w-]*)=(\S+)")


@dataclass
class Record:
    """What the double has seen: `app.state.record`."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Calls per scenario, so that `fail_times` can fail the first few and then answer.
    calls: Counter[str] = field(default_factory=Counter)
    #: Streams whose client went away before the end (a Stop pressed on the page).
    abandoned: int = 0


@dataclass(frozen=True)
class Call:
    """One request, as a scenario sees it."""

    body: dict[str, Any]
    params: dict[str, str]
    #: This scenario's call number, from 1.
    number: int
    record: Record

    @property
    def model(self) -> str:
        return str(self.body.get("model", "double"))

    @property
    def continuing(self) -> bool:
        """The request continues a partial answer: its last message is the assistant's."""
        messages = self.body.get("messages") or [{}]
        return bool(messages[-1].get("role") == "assistant")

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options") or {}
        return bool(options.get("include_usage"))

    def seconds(self, name: str, default: float) -> float:
        return float(self.params.get(name, default))


Scenario = Callable[[Call], Awaitable[Response]]


def create_model_double() -> Starlette:
    """The double's app; its record of requests is `app.state.record`."""
    record = Record()

    async def complete(request: Request) -> Response:
        body = await request.json()
        record.requests.append(body)
        params = _params(body.get("messages", []))
        name = params.pop("scenario", "default")
        record.calls[name] += 1
        scenario = SCENARIOS.get(name)
        if scenario is None:
            return _error(404, f"The model double has no scenario {name!r}.", "not_found")
        return await scenario(Call(body, params, record.calls[name], record))

    async def calls(request: Request) -> Response:
        return JSONResponse(
            {
                "count": len(record.requests),
                "requests": record.requests,
                "abandoned": record.abandoned,
            }
        )

    async def reset(request: Request) -> Response:
        record.requests.clear()
        record.calls.clear()
        record.abandoned = 0
        return Response(status_code=204)

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", complete, methods=["POST"]),
            Route("/calls", calls, methods=["GET"]),
            Route("/reset", reset, methods=["POST"]),
        ]
    )
    app.state.record = record
    return app


# The scenarios: each answers one request the way its name says.


async def _default(call: Call) -> Response:
    # The count shows a test that the whole conversation (system, history, question) arrived.
    count = len(call.body.get("messages", []))
    return _stream(call, re.findall(r"\S+\s*", f"I received {count} messages."))


async def _reasoning_content(call: Call) -> Response:
    return _stream(call, _pieces(ANSWER), reasoning=_pieces(THOUGHT, 8))


async def _reasoning_field(call: Call) -> Response:
    return _stream(call, _pieces(ANSWER), reasoning=_pieces(THOUGHT, 8), reasoning_key="reasoning")


async def _think_tags(call: Call) -> Response:
    # Cut mid-tag on purpose: "<thi" + "nk>", "</" + "think>".
    pieces = ["<thi", "nk>Let me ", "think about ", "this step by step.</", "think>\n", "\nThe "]
    return _stream(call, [*pieces, "answer is ", "**42**."])


async def _silence(call: Call) -> Response:
    await asyncio.sleep(call.seconds("seconds", 8))
    return _stream(call, _pieces("Sorry for the wait: here it is."))


async def _rate_limit(call: Call) -> Response:
    fail_times = call.params.get("fail_times")
    if fail_times is None or call.number <= int(fail_times):
        message = "Rate limit reached for requests. Please try again later."
        retry_after = call.params.get("retry_after", "2")
        return _error(429, message, "rate_limit_error", {"Retry-After": retry_after})
    return _stream(call, _pieces("Thanks for waiting."))


async def _context_length(call: Call) -> Response:
    # llama.cpp's own words and shape for a conversation longer than its context.
    message = (
        "the request (5000 tokens) exceeds the available context size (2048 tokens),"
        " try increasing it"
    )
    return _error(400, message, "exceed_context_size_error", code=400)


async def _bad_request(call: Call) -> Response:
    message = "Invalid value for 'temperature': must be between 0 and 2."
    return _error(400, message, "invalid_request_error")


async def _unauthorized(call: Call) -> Response:
    message = "Incorrect API key provided: sk-te****st."
    return _error(401, message, "invalid_request_error", code="invalid_api_key")


async def _length(call: Call) -> Response:
    if call.continuing:
        return _stream(call, _pieces(" goes on to the end."))
    return _stream(call, _pieces("The first part of a long answer, which"), finish="length")


async def _content_filter(call: Call) -> Response:
    return _stream(call, _pieces("Part of an answer"), finish="content_filter")


async def _cut(call: Call) -> Response:
    return _stream(call, _pieces("This answer breaks"), finish=None, done=False)


async def _usage(call: Call) -> Response:
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
        "completion_tokens_details": {"reasoning_tokens": 3},
    }
    # As OpenAI sends it with `stream_options.include_usage`: a last chunk without choices.
    return _stream(call, ["Counted."], after=[_data({"choices": [], "usage": usage})])


async def _error_mid_stream(call: Call) -> Response:
    error = {"error": {"message": "The model crashed while generating.", "type": "server_error"}}
    return _stream(call, ["Starting"], finish=None, done=False, after=[_data(error)])


async def _slow(call: Call) -> Response:
    delay = call.seconds("delay", 0.1)

    async def words() -> AsyncIterator[str]:
        finished = False
        try:
            yield _chunk(call, {"role": "assistant", "content": ""})
            for number in range(200):
                await asyncio.sleep(delay)
                yield _chunk(call, {"content": f"word{number} "})
            yield _chunk(call, {}, "stop")
            yield DONE
            finished = True
        finally:
            # A client that goes away cancels the stream, and this runs with finished False.
            if not finished:
                call.record.abandoned += 1

    return StreamingResponse(words(), media_type="text/event-stream")


SCENARIOS: dict[str, Scenario] = {
    "default": _default,
    "reasoning-content": _reasoning_content,
    "reasoning-field": _reasoning_field,
    "think-tags": _think_tags,
    "silence": _silence,
    "rate-limit": _rate_limit,
    "context-length": _context_length,
    "bad-request": _bad_request,
    "unauthorized": _unauthorized,
    "length": _length,
    "content-filter": _content_filter,
    "cut": _cut,
    "usage": _usage,
    "error-mid-stream": _error_mid_stream,
    "slow": _slow,
}


def _params(messages: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The `key=value` words of the last user message (a continuation ends with another)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return dict(_PARAM.findall(str(message.get("content", ""))))
    return {}


def _stream(
    call: Call,
    content: Iterable[str],
    *,
    reasoning: Iterable[str] = (),
    reasoning_key: str = "reasoning_content",
    finish: str | None = "stop",
    done: bool = True,
    after: Iterable[str] = (),
) -> StreamingResponse:
    chunks = [_chunk(call, {"role": "assistant", "content": ""})]
    chunks += [_chunk(call, {reasoning_key: text}) for text in reasoning]
    chunks += [_chunk(call, {"content": text}) for text in content]
    if finish is not None:
        chunks.append(_chunk(call, {}, finish))
    chunks += after
    if done:
        chunks.append(DONE)
    return StreamingResponse(iter(chunks), media_type="text/event-stream")


def _chunk(call: Call, delta: dict[str, str], finish: str | None = None) -> str:
    chunk: dict[str, object] = {
        "id": "chatcmpl-double",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": call.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if call.include_usage:
        chunk["usage"] = None  # as OpenAI does in every chunk but the usage chunk
    return _data(chunk)


def _data(payload: object) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _pieces(text: str, size: int = 5) -> list[str]:
    """`text` in pieces of `size` characters, as a model's tokens cut it: anywhere."""
    return [text[start : start + size] for start in range(0, len(text), size)]


def _error(
    status: int,
    message: str,
    kind: str,
    headers: dict[str, str] | None = None,
    *,
    code: str | int | None = None,
) -> Response:
    error: dict[str, object] = {"message": message, "type": kind}
    if code is not None:
        error["code"] = code
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.model_double", description=__doc__)
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    args = parser.parse_args(argv)
    # Bound here, not by uvicorn, so that `--port 0` can print the port it got.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"Serving on http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    config = uvicorn.Config(create_model_double(), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
