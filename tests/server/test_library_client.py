"""streamchat over httpx against the real back end: what the browser resilience tests prove, in
CPython and in seconds.

The back end runs as `python -m server --faults` in a process of its own, so each fault (drop,
stall, `retry:`, `Retry-After`, statuses, error events) reaches the client over a real socket.
Waits are recorded instead of slept (`RecordingSleep`); nothing here measures time.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from streamchat import AnswerState, HttpxTransport, StreamingAnswer, StreamRequest, stream_query
from streamchat.client import Item, Reconnecting
from streamchat.protocol import (
    AnswerFailed,
    AnswerRefused,
    Citations,
    Done,
    StreamError,
    Token,
)
from streamchat.retry import RetryPolicy
from tests.server.helpers import RecordingSleep

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How does the page resume a dropped stream?"
Method = Literal["POST", "GET"]
METHODS: list[Method] = ["POST", "GET"]


@pytest.fixture(scope="module")
def backend() -> Iterator[str]:
    """The reference back end with fault injection, on a free port; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--pace", "0.004", "--faults"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail("the back end did not start:\n" + log.read().decode("replace"))
                time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            process.wait(10)


@pytest.fixture(scope="module")
def expected(backend: str) -> str:
    """The answer's text as the back end sends it with no fault at all."""
    frames = httpx.get(backend + "api/chat", params={"q": QUESTION, "rid": fresh_rid()}).text
    text = ""
    for line in frames.splitlines():
        if line.startswith("data: {"):
            payload = json.loads(line.removeprefix("data: "))
            if payload["type"] == "token":
                text += payload["text"]
    assert len(text) > 100
    return text


def fresh_rid() -> str:
    return uuid.uuid4().hex


def request_for(backend: str, fault: str, rid: str | None = None) -> StreamRequest:
    return StreamRequest(
        endpoint=f"{backend}api/chat?fault={fault}", question=QUESTION, rid=rid or fresh_rid()
    )


class Run:
    """One answer streamed through `HttpxTransport`: what came, and what was waited for."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.error: StreamError | None = None
        self.sleep = RecordingSleep()
        self.responses: list[httpx.Response] = []

    @property
    def text(self) -> str:
        return "".join(item.text for item in self.items if isinstance(item, Token))

    @property
    def reconnects(self) -> list[Reconnecting]:
        return [item for item in self.items if isinstance(item, Reconnecting)]


@asynccontextmanager
async def recording_client(run: Run) -> AsyncIterator[httpx.AsyncClient]:
    async def record(response: httpx.Response) -> None:
        run.responses.append(response)

    async with httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, read=None), event_hooks={"response": [record]}
    ) as client:
        yield client


async def stream(
    request: StreamRequest,
    *,
    method: Method = "POST",
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008
) -> Run:
    run = Run()
    async with recording_client(run) as client:
        transport = HttpxTransport(client, method=method)
        try:
            async for item in stream_query(request, transport, policy=policy, sleep=run.sleep):
                run.items.append(item)
        except StreamError as error:
            run.error = error
    return run


def attempts(backend: str, rid: str) -> Any:
    return httpx.get(backend + "api/_faults/attempts", params={"rid": rid}).json()


@pytest.mark.parametrize("method", METHODS)
async def test_a_complete_answer_with_its_citations(
    backend: str, expected: str, method: Method
) -> None:
    run = await stream(request_for(backend, ""), method=method)
    assert run.error is None
    assert run.text == expected
    assert isinstance(run.items[-1], Done)
    assert any(isinstance(item, Citations) and item.citations for item in run.items)
    assert run.reconnects == []


@pytest.mark.parametrize("method", METHODS)
async def test_a_dropped_connection_resumes_without_duplicated_or_lost_text(
    backend: str, expected: str, method: Method
) -> None:
    request = request_for(backend, "drop:6")
    run = await stream(request, method=method)
    assert run.error is None
    assert run.text == expected
    assert len(run.reconnects) == 1
    assert attempts(backend, request.rid) == {"attempts": 2, "last_event_ids": [None, 6]}


async def test_the_servers_retry_hint_is_a_floor_for_the_wait(backend: str, expected: str) -> None:
    run = await stream(request_for(backend, "retry:2500,drop:4"))
    assert run.text == expected
    assert len(run.sleep.calls) == 1
    assert run.sleep.calls[0] >= 2.5


async def test_retry_after_is_waited_for_then_the_answer_comes(backend: str, expected: str) -> None:
    request = request_for(backend, "status:503:1,retry-after:7")
    run = await stream(request)
    assert run.text == expected
    assert len(run.sleep.calls) == 1
    assert run.sleep.calls[0] >= 7
    assert attempts(backend, request.rid)["attempts"] == 2


@pytest.mark.parametrize(("status", "words"), [(204, "no answer"), (404, "HTTP 404"), (403, "")])
async def test_a_204_or_a_4xx_is_never_retried(backend: str, status: int, words: str) -> None:
    request = request_for(backend, f"status:{status}")
    run = await stream(request)
    assert isinstance(run.error, AnswerRefused | AnswerFailed)
    assert not run.error.retry_may_help
    assert words in run.error.user_message
    assert run.sleep.calls == []
    assert attempts(backend, request.rid)["attempts"] == 1


async def test_a_server_error_every_time_is_tried_four_times(backend: str) -> None:
    request = request_for(backend, "status:500")
    run = await stream(request)
    # The back end said why in its JSON body: its words are the message.
    assert isinstance(run.error, AnswerFailed)
    assert "HTTP 500" in run.error.user_message
    assert run.error.retry_may_help
    assert len(run.reconnects) == 3
    assert attempts(backend, request.rid)["attempts"] == 4


async def test_a_stalled_connection_is_reopened_and_resumed(backend: str, expected: str) -> None:
    request = request_for(backend, "stall:3")
    run = await stream(request, policy=RetryPolicy(stall_timeout=2.0))
    assert run.error is None
    assert run.text == expected
    assert [r.reason for r in run.reconnects] == ["stalled"]
    assert attempts(backend, request.rid)["last_event_ids"] == [None, 3]


async def test_an_error_event_fails_the_answer_and_keeps_its_text(
    backend: str, expected: str
) -> None:
    run = await stream(request_for(backend, "error:4"))
    assert isinstance(run.error, AnswerFailed)
    assert "overloaded" in run.error.user_message
    assert run.text
    assert expected.startswith(run.text)


async def test_stop_closes_the_connection_and_keeps_the_text(backend: str, expected: str) -> None:
    run = Run()
    answer = StreamingAnswer()
    some_text = asyncio.Event()
    answer.subscribe(lambda a: some_text.set() if a.text else None)
    async with recording_client(run) as client:
        task = answer.start(request_for(backend, "pace:0.2"), HttpxTransport(client))
        await some_text.wait()
        answer.stop()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert answer.state is AnswerState.STOPPED
        assert run.responses
        assert all(response.is_closed for response in run.responses)
    kept = answer.text
    assert kept
    assert expected.startswith(kept)
    assert len(kept) < len(expected)


async def test_streaming_answer_survives_a_drop_over_get(backend: str, expected: str) -> None:
    heard: list[AnswerState] = []
    answer = StreamingAnswer()
    answer.subscribe(lambda a: heard.append(a.state))
    sleep = RecordingSleep()
    await answer.run(request_for(backend, "drop:3"), HttpxTransport(method="GET"), sleep=sleep)
    answer.flush()
    assert (answer.state, answer.retries, answer.error) == (AnswerState.DONE, 1, None)
    assert answer.text == expected
    assert answer.citations
    assert AnswerState.RECONNECTING in heard
    assert heard[-1] is AnswerState.DONE
