"""server/store/redis/ against a real Redis: instances in this process, sharing its answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.app import create_app
from server.auth import TokenAuthority
from server.events import AnswerEvent, Message, ServerError, Token
from server.settings import Settings
from server.store.redis.generation import SHUT_DOWN
from server.store.redis.layout import Keys
from server.store.redis.store import ORPHANED
from server.store.types import ABANDONED, EXPIRED, TOO_LONG
from tests.server.conftest import client_for
from tests.server.helpers import Frame, LiveRequest, answer_text, events, parse_frames
from tests.server.redis_harness import RedisProcess, free_port

pytestmark = pytest.mark.anyio

StartInstance = Callable[..., Awaitable[Starlette]]


class Attempts:
    """Each answer() plays the next script (the last one again when they run out): its events
    `pace` seconds apart. A None in a script waits there for ever, like a model that thinks."""

    def __init__(self, *scripts: Sequence[AnswerEvent | None], pace: float = 0.0) -> None:
        self.scripts = scripts
        self.pace = pace
        self.started = 0
        self.closed = 0
        self.all_closed = asyncio.Event()

    async def answer(
        self, question: str, history: Sequence[Message], *, continuing: bool = False
    ) -> AsyncIterator[AnswerEvent]:
        script = self.scripts[min(self.started, len(self.scripts) - 1)]
        self.started += 1
        try:
            for event in script:
                if event is None:
                    await asyncio.Event().wait()
                    continue
                if self.pace:
                    await asyncio.sleep(self.pace)
                yield event
        finally:
            self.closed += 1
            if self.closed == self.started:
                self.all_closed.set()


def tokens(count: int) -> list[AnswerEvent | None]:
    return [Token(f"t{n} ") for n in range(count)]


@pytest.fixture(scope="session")
def redis_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    process = RedisProcess(tmp_path_factory.mktemp("redis"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def redis_url(redis_process: RedisProcess) -> str:
    with redis_process.client() as client:
        client.flushall()
    return redis_process.url


@pytest.fixture
async def start_instance(redis_url: str, tmp_path: Path) -> AsyncIterator[StartInstance]:
    """Starts apps on the test's Redis, lifespan included; `app.state.shutdown()` ends one."""
    stacks: list[AsyncExitStack] = []

    async def start(**overrides: Any) -> Starlette:
        values: dict[str, Any] = {
            "root": tmp_path,
            "store": redis_url,
            # Long enough for a loaded test machine never to miss a renewal.
            "lease_seconds": 3.0,
            "reader_grace": 5.0,
        }
        values.update(overrides)
        app = create_app(Settings(**values))
        stack = AsyncExitStack()
        await stack.enter_async_context(app.router.lifespan_context(app))
        stacks.append(stack)
        app.state.shutdown = stack.aclose
        return app

    yield start
    for stack in reversed(stacks):
        await stack.aclose()


async def get(app: Starlette, rid: str, last_event_id: int | None = None) -> httpx.Response:
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    async with client_for(app) as client:
        return await client.get("/api/chat", params={"q": "q", "rid": rid}, headers=headers)


def event_json(frames: Sequence[Frame]) -> list[Any]:
    return [f.json if f.data != "[DONE]" else "[DONE]" for f in events(frames)]


async def test_readers_on_two_instances_get_the_same_events_generated_once(
    start_instance: StartInstance,
) -> None:
    answerer = Attempts(tokens(30), pace=0.005)
    a = await start_instance(answerer=answerer)
    b = await start_instance(answerer=answerer)
    async with LiveRequest(a, "/api/chat?q=q&rid=r") as first:
        await first.wait_until(lambda r: r.event_count >= 1)
        async with LiveRequest(b, "/api/chat?q=q&rid=r") as second:
            await first.wait_until(lambda r: r.complete)
            await second.wait_until(lambda r: r.complete)
    assert first.frames == second.frames
    assert answer_text(first.frames) == "".join(f"t{n} " for n in range(30))
    assert [f.id for f in events(first.frames)] == [str(n) for n in range(1, 31)] + [None]
    assert events(first.frames)[-1].data == "[DONE]"
    assert answerer.started == 1


async def test_a_resume_on_another_instance_continues_after_last_event_id(
    start_instance: StartInstance,
) -> None:
    answerer = Attempts(tokens(20), pace=0.005)
    a = await start_instance(answerer=answerer)
    b = await start_instance(answerer=answerer)
    async with LiveRequest(a, "/api/chat?q=q&rid=r") as first:
        await first.wait_until(lambda r: r.event_count >= 5)
    seen = events(first.frames)
    resumed = parse_frames((await get(b, "r", last_event_id=int(seen[-1].id or 0))).text)
    assert answer_text(seen) + answer_text(resumed) == "".join(f"t{n} " for n in range(20))
    assert events(resumed)[0].id == str(int(seen[-1].id or 0) + 1)
    assert answerer.started == 1


async def test_a_stop_on_another_instance_closes_the_answerer_within_a_second(
    start_instance: StartInstance,
) -> None:
    answerer = Attempts([Token("a "), None])  # then silence, like an upstream still thinking
    a = await start_instance(answerer=answerer)
    b = await start_instance(answerer=answerer)
    async with LiveRequest(a, "/api/chat?q=q&rid=r") as reader:
        await reader.wait_until(lambda r: r.event_count >= 1)
        async with client_for(b) as client:
            response = await client.delete("/api/chat", params={"rid": "r"})
        assert response.status_code == 204
        async with asyncio.timeout(1):
            await answerer.all_closed.wait()
        await reader.ended()
    assert reader.complete
    assert event_json(reader.frames) == [{"type": "token", "text": "a "}]  # no [DONE]
    assert (await get(b, "r", last_event_id=1)).status_code == 204  # nothing more will come
    assert answerer.started == 1


async def test_an_answer_nobody_reads_is_stopped_after_the_grace_period(
    start_instance: StartInstance,
) -> None:
    answerer = Attempts(tokens(10_000), pace=0.01)
    a = await start_instance(answerer=answerer, reader_grace=0.3)
    async with LiveRequest(a, "/api/chat?q=q&rid=r") as reader:
        await reader.wait_until(lambda r: r.event_count >= 3)
    async with asyncio.timeout(4):  # the grace, then the next renewal (a third of the lease)
        await answerer.all_closed.wait()
    resumed = events(parse_frames((await get(a, "r", last_event_id=3)).text))
    assert resumed[-1].json == {"type": "error", "message": ABANDONED, "retryable": False}
    assert 3 < len(resumed) < 400  # it did go on a little while, for a reconnect to find


async def test_a_reader_waiting_through_a_long_silence_keeps_the_answer_going(
    start_instance: StartInstance,
) -> None:
    answerer = Attempts([Token("after a long think")], pace=1.0)  # silent for 3 grace periods
    app = await start_instance(answerer=answerer, reader_grace=0.3, lease_seconds=1.5)
    received = parse_frames((await get(app, "r")).text)
    assert answer_text(received) == "after a long think"
    assert events(received)[-1].data == "[DONE]"


async def test_readers_end_the_answer_with_an_error_when_its_generator_lost_the_lease(
    start_instance: StartInstance, redis_process: RedisProcess
) -> None:
    answerer = Attempts(tokens(10_000), pace=0.01)
    a = await start_instance(answerer=answerer)
    b = await start_instance(answerer=answerer)
    async with (
        LiveRequest(a, "/api/chat?q=q&rid=r"),
        LiveRequest(b, "/api/chat?q=q&rid=r") as reader,
    ):
        await reader.wait_until(lambda r: r.event_count >= 3)
        with redis_process.client() as redis:  # as if A had paused for longer than its lease
            redis.delete(Keys.of("r").lease)
        async with asyncio.timeout(1):
            await answerer.all_closed.wait()  # A's next write found the lease gone
        await reader.wait_until(lambda r: r.complete, within=2)
    received = events(reader.frames)
    assert received[-1].json == {"type": "error", "message": ORPHANED.message, "retryable": False}
    assert [f.id for f in received] == [str(n) for n in range(1, len(received) + 1)]
    assert answerer.started == 1


async def test_a_retryable_failure_without_text_is_retried_on_any_instance(
    start_instance: StartInstance,
) -> None:
    overloaded = ServerError("busy", retryable=True)
    answerer = Attempts([overloaded], [Token("fine")])
    a = await start_instance(answerer=answerer)
    b = await start_instance(answerer=answerer)
    first = parse_frames((await get(a, "r")).text)
    assert event_json(first) == [{"type": "error", "message": "busy", "retryable": True}]
    again = events(parse_frames((await get(b, "r", last_event_id=1)).text))
    assert [(f.id, f.data) for f in again] == [
        ("2", '{"type":"token","text":"fine"}'),
        (None, "[DONE]"),
    ]
    assert answerer.started == 2


async def test_shutdown_ends_its_answers_with_an_error_that_a_resume_can_retry(
    start_instance: StartInstance,
) -> None:
    answerer = Attempts([None], [Token("after the deploy")])
    a = await start_instance(answerer=answerer)
    b = await start_instance(answerer=answerer)
    async with LiveRequest(a, "/api/chat?q=q&rid=r") as on_a:
        await on_a.wait_until(lambda r: r.text.startswith("retry:"))
    async with LiveRequest(b, "/api/chat?q=q&rid=r") as on_b:
        await on_b.wait_until(lambda r: r.text.startswith("retry:"))
        await a.state.shutdown()
        await on_b.wait_until(lambda r: r.complete)
    assert event_json(on_b.frames) == [{"type": "error", "message": SHUT_DOWN, "retryable": True}]
    resumed = parse_frames((await get(b, "r", last_event_id=1)).text)
    assert answer_text(resumed) == "after the deploy"
    assert answerer.started == 2


async def test_with_a_flush_interval_events_are_written_in_batches(
    start_instance: StartInstance,
) -> None:
    app = await start_instance(answerer=Attempts(tokens(40), pace=0.005), flush_interval=0.05)
    commands = app.state.store.commands
    appends = 0
    append = commands.append

    async def counted(*args: Any, **kwargs: Any) -> str:
        nonlocal appends
        appends += 1
        return str(await append(*args, **kwargs))

    commands.append = counted
    received = parse_frames((await get(app, "r")).text)
    assert answer_text(received) == "".join(f"t{n} " for n in range(40))
    assert appends <= 10  # 40 tokens in 0.2 s or more, one write per 50 ms at most


async def test_a_resume_of_an_unknown_answer_gets_the_expired_error(
    start_instance: StartInstance,
) -> None:
    app = await start_instance(answerer=Attempts(tokens(3)))
    response = await get(app, "never-started", last_event_id=4)
    assert event_json(parse_frames(response.text)) == [
        {"type": "error", "message": EXPIRED.message, "retryable": False}
    ]


async def test_a_rid_with_another_question_conflicts_on_any_instance(
    start_instance: StartInstance,
) -> None:
    answerer = Attempts(tokens(3))
    a = await start_instance(answerer=answerer)
    b = await start_instance(answerer=answerer)
    assert (await get(a, "r")).status_code == 200
    async with client_for(b) as client:
        response = await client.get("/api/chat", params={"q": "another", "rid": "r"})
    assert response.status_code == 409


async def test_events_per_answer_are_capped(start_instance: StartInstance) -> None:
    app = await start_instance(answerer=Attempts(tokens(100)), max_events=5)
    received = events(parse_frames((await get(app, "r")).text))
    assert len(received) == 6
    assert received[-1].json == {"type": "error", "message": TOO_LONG.message, "retryable": False}


async def test_an_answer_is_kept_for_keep_seconds_after_it_ends_and_leaves_no_lease(
    start_instance: StartInstance, redis_process: RedisProcess
) -> None:
    app = await start_instance(answerer=Attempts(tokens(3)), keep_seconds=60)
    await get(app, "r")
    keys = Keys.of("r")
    with redis_process.client() as redis:
        assert 55_000 < redis.pttl(keys.events) <= 60_000
        assert redis.exists(keys.lease) == 0
        assert redis.xlen(keys.events) == 1 + 3 + 1  # the question, the events, the ending


async def test_without_redis_a_request_is_a_503_and_the_instance_keeps_running(
    tmp_path: Path,
) -> None:
    app = create_app(Settings(root=tmp_path, store=f"redis://127.0.0.1:{free_port()}/0"))
    async with app.router.lifespan_context(app):
        response = await get(app, "r")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        async with client_for(app) as client:
            assert (await client.delete("/api/chat", params={"rid": "r"})).status_code == 503
            assert (await client.get("/healthz")).status_code == 200


async def test_redis_out_of_memory_is_a_503_said_once_in_the_log(
    start_instance: StartInstance,
    redis_process: RedisProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = await start_instance(answerer=Attempts(tokens(3)))
    with redis_process.client() as redis:
        redis.config_set("maxmemory", 1)  # every write is refused: "OOM command not allowed"
        try:
            responses = [await get(app, f"r{n}") for n in range(3)]
        finally:
            redis.config_set("maxmemory", 0)
    assert [(r.status_code, r.headers["retry-after"]) for r in responses] == [(503, "10")] * 3
    said = [r for r in caplog.records if "out of memory" in r.getMessage()]
    assert len(said) == 1
    assert said[0].exc_info is None  # a line, not a traceback per request
    assert (await get(app, "after")).status_code == 200


async def test_a_ticket_spent_on_one_instance_is_spent_on_every_instance(
    start_instance: StartInstance,
) -> None:
    secret = "a-secret-shared-by-the-instances"
    first = await start_instance(answerer=Attempts(tokens(2)), require_token=secret)
    second = await start_instance(answerer=Attempts(tokens(2)), require_token=secret)
    token = TokenAuthority(secret).issue("alice", 600)
    async with client_for(first) as client:
        response = await client.post("/api/ticket", headers={"Authorization": f"Bearer {token}"})
        ticket = response.json()["ticket"]
    params = {"q": "q", "rid": "r", "ticket": ticket}
    async with client_for(first) as client:
        used = await client.get("/api/chat", params=params)
    async with client_for(second) as client:
        again = await client.get("/api/chat", params=params)
    assert events(parse_frames(used.text))[-1].data == "[DONE]"
    assert again.status_code == 401
    assert again.json() == {"error": "This ticket has been used already; ask for a new one."}
