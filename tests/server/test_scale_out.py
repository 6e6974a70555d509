"""Two `python -m server` instances over one real Redis: resume anywhere, generate once, survive.

Each test starts its own redis-server and two instances, A and B, as subprocesses on free
ports (`--store redis://…  --faults --pace 0.01`), and talks to them over real HTTP.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from server.store.redis.store import ORPHANED
from server.store.types import EXPIRED
from tests.server.helpers import Frame, answer_text
from tests.server.redis_harness import Instance, RedisProcess, sse_frames

pytestmark = pytest.mark.anyio

#: The echo fault answers with the question itself, so the text to expect is known exactly.
QUESTION = "Resume anywhere: " + " ".join(f"word{n}" for n in range(80))
LEASE = 3.0


@dataclass
class Cluster:
    redis: RedisProcess
    a: Instance
    b: Instance


@contextmanager
def running_cluster(directory: Path, *args: str) -> Iterator[Cluster]:
    """A fresh redis-server and two instances on it, started with `args`."""
    redis = RedisProcess(directory / "redis")
    redis.start()
    a = Instance("a", redis.url, directory, args)
    b = Instance("b", redis.url, directory, args)
    try:
        a.launch()
        b.launch()
        a.wait_ready()
        b.wait_ready()
        yield Cluster(redis, a, b)
    finally:
        a.stop()
        b.stop()
        redis.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path, "--lease-seconds", str(LEASE)) as started:
        yield started


def params(rid: str, fault: str | None = None) -> dict[str, str]:
    return {"q": QUESTION, "rid": rid} | ({"fault": fault} if fault else {})


async def read_events(
    client: httpx.AsyncClient,
    url: str,
    query: dict[str, str],
    last_event_id: str | None = None,
    *,
    count: int | None = None,
) -> list[Frame]:
    """The events of one stream, to its end or (then hanging up) until `count` have come."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else None
    received: list[Frame] = []
    async for frame in sse_frames(client, f"{url}/api/chat", query, headers):
        if frame.kind == "event":
            received.append(frame)
            if len(received) == count:
                break
    return received


def numbered(frames: list[Frame]) -> list[str | None]:
    return [f.id for f in frames if f.data != "[DONE]"]


async def test_a_resume_on_another_instance_continues_exactly_and_is_generated_once(
    cluster: Cluster,
) -> None:
    a, b = cluster.a, cluster.b
    async with httpx.AsyncClient(timeout=10) as client:
        # Cut by the client after 5 events, while A is still generating (80 tokens, 20 ms each).
        first = await read_events(client, a.url, params("r1", "echo:5,pace:0.02"), count=5)
        rest = await read_events(client, b.url, params("r1"), first[-1].id)
    assert answer_text(first + rest) == QUESTION  # nothing lost, nothing twice
    assert numbered(first + rest) == [str(n) for n in range(1, len(first + rest))]
    assert rest[-1].data == "[DONE]"
    assert (a.generations("r1"), b.generations("r1")) == (1, 0)


async def test_two_readers_on_two_instances_see_the_same_events(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    async with httpx.AsyncClient(timeout=10) as client:
        on_a, on_b = await asyncio.gather(
            read_events(client, a.url, params("r2", "echo:7,pace:0.01")),
            read_events(client, b.url, params("r2", "echo:7,pace:0.01")),
        )
    assert on_a == on_b
    assert answer_text(on_a) == QUESTION
    assert a.generations("r2") + b.generations("r2") == 1


async def test_killing_the_generating_instance_ends_its_readers_with_an_error_within_the_lease(
    cluster: Cluster,
) -> None:
    a, b = cluster.a, cluster.b
    async with httpx.AsyncClient(timeout=20) as client:
        started = await read_events(client, a.url, params("r3", "echo:2,pace:0.1"), count=1)
        received: list[Frame] = []
        killed_at = 0.0
        async for frame in sse_frames(
            client, f"{b.url}/api/chat", params("r3"), {"Last-Event-ID": str(started[-1].id)}
        ):
            if frame.kind != "event":
                continue
            received.append(frame)
            if len(received) == 3:
                a.kill()
                killed_at = time.monotonic()
        noticed_after = time.monotonic() - killed_at
    assert received[-1].json == {"type": "error", "message": ORPHANED.message, "retryable": False}
    # The lease runs out at most LEASE after A's last renewal; readers look once a second
    # (and a loaded test machine may be late by a moment).
    assert noticed_after <= LEASE + 2
    assert numbered(started + received) == [str(n) for n in range(1, len(received) + 2)]
    assert b.generations("r3") == 0  # nobody generated it again


async def test_a_stop_on_either_instance_cancels_the_upstream_call_within_a_second(
    tmp_path: Path,
) -> None:
    async with fake_upstream() as upstream:
        model_args = ("--upstream", upstream.url, "--model", "m", "--lease-seconds", str(LEASE))
        with running_cluster(tmp_path, *model_args) as cluster:
            async with httpx.AsyncClient(timeout=10) as client:
                first = await read_events(client, cluster.a.url, params("r4"), count=3)
                assert upstream.streams == 1
                assert not upstream.closed.is_set()
                stopped_at = time.monotonic()
                response = await client.delete(f"{cluster.b.url}/api/chat", params={"rid": "r4"})
                assert response.status_code == 204
                async with asyncio.timeout(1):
                    await upstream.closed.wait()
                assert upstream.closed_at - stopped_at <= 1.0
                resumed = await client.get(
                    f"{cluster.b.url}/api/chat",
                    params=params("r4"),
                    headers={"Last-Event-ID": "100000"},
                )
            assert resumed.status_code == 204  # stopped: nothing more will come
            assert len(first) == 3


async def test_the_instances_ride_out_a_redis_restart_and_say_so_in_their_logs(
    cluster: Cluster,
) -> None:
    a, b = cluster.a, cluster.b
    async with httpx.AsyncClient(timeout=20) as client:
        started = await read_events(client, a.url, params("r5", "echo:2,pace:0.05"), count=1)
        received: list[Frame] = []
        async for frame in sse_frames(
            client, f"{b.url}/api/chat", params("r5"), {"Last-Event-ID": str(started[-1].id)}
        ):
            if frame.kind == "event":
                received.append(frame)
                if len(received) == 3:
                    # Down for a second, then back without a single key.
                    await asyncio.to_thread(cluster.redis.restart, 1.0)
        # The answer went with Redis's memory: the reader is told so instead of hanging.
        assert received[-1].json == {
            "type": "error",
            "message": EXPIRED.message,
            "retryable": False,
        }
        for instance in (a, b):
            await logged(instance, "Redis at 127.0.0.1")  # the start line names it too
            await logged(instance, "is unreachable")
            await logged(instance, "is reachable again")
            assert instance.alive
            again = await read_events(
                client, instance.url, params(f"new-{instance.name}", "echo:9")
            )
            assert answer_text(again) == QUESTION
            assert again[-1].data == "[DONE]"
    assert "rid r5: generation lost" in a.log


async def logged(instance: Instance, text: str, within: float = 10.0) -> None:
    """Waits until the instance's log says `text`."""
    deadline = time.monotonic() + within
    while text not in instance.log:
        assert time.monotonic() < deadline, (
            f"{instance.name} never logged {text!r}:\n{instance.log}"
        )
        await asyncio.sleep(0.05)


@dataclass
class FakeUpstream:
    """An OpenAI-compatible endpoint that streams a token every 20 ms until the client leaves."""

    url: str = ""
    streams: int = 0
    closed_at: float = 0.0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        while (await receive()).get("more_body"):
            pass
        self.streams += 1
        start: Message = {"type": "http.response.start", "status": 200}
        start["headers"] = [(b"content-type", b"text/event-stream")]
        await send(start)
        gone = asyncio.create_task(_disconnect(receive))
        chunk = b'data: {"choices":[{"delta":{"content":"tok "}}]}\n\n'
        try:
            while not gone.done():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await asyncio.wait({gone}, timeout=0.02)
        except OSError:
            pass
        finally:
            gone.cancel()
            self.closed_at = time.monotonic()
            self.closed.set()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@asynccontextmanager
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    upstream = FakeUpstream()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(upstream, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(5):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
                await asyncio.sleep(0.01)
        upstream.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        yield upstream
    finally:
        server.should_exit = True
        await task
        sock.close()
