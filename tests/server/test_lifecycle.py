"""Answers stop when nobody listens: disconnects, DELETE, expiry, shutdown, a real server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from tests.server.conftest import AppFactory, client_for
from tests.server.helpers import FakeClock, LiveRequest, ScriptedAnswerer, events

pytestmark = pytest.mark.anyio


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_disconnect_stops_generation_and_expiry_closes_the_answerer(
    make_app: AppFactory, clock: FakeClock
) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=answerer, keep_seconds=5)
    async with LiveRequest(app, "/api/chat?q=q&rid=r") as request:
        await request.wait_until(lambda r: r.event_count >= 10)
    assert not request.complete
    await settle()
    produced = answerer.produced
    assert produced <= request.event_count + 1  # at most the one being pulled
    await settle()
    assert answerer.produced == produced  # nothing pulls any more
    assert answerer.closed == 0  # kept for a resume...

    clock.advance(5)
    await app.state.answers.sweep()  # ...until keep_seconds have passed
    assert answerer.closed == 1
    assert len(app.state.answers) == 0


async def test_a_request_sweeps_expired_answers_too(make_app: AppFactory, clock: FakeClock) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=ScriptedAnswerer(), keep_seconds=5)
    app.state.answers.open("old", "q", lambda: answerer.answer("q", []))
    clock.advance(6)
    async with client_for(app) as client:
        await client.get("/api/chat", params={"q": "q", "rid": "new"})
    assert app.state.answers.get("old") is None


async def test_delete_stops_the_answer_at_once(make_app: AppFactory) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=answerer)
    async with LiveRequest(app, "/api/chat?q=q&rid=r") as request:
        await request.wait_until(lambda r: r.event_count >= 3)
        async with client_for(app) as client:
            response = await client.delete("/api/chat", params={"rid": "r"})
        assert response.status_code == 204
        assert answerer.closed == 1  # the answerer's finally has already run
        await request.ended()
    assert request.complete  # the server ended the stream...
    assert events(request.frames)[-1].data != "[DONE]"  # ...without claiming it complete

    async with client_for(app) as client:  # the page asks again after everything it saw
        last = events(request.frames)[-1].id
        again = await client.get(
            "/api/chat", params={"q": "q", "rid": "r"}, headers={"Last-Event-ID": str(last)}
        )
    assert again.status_code == 204


async def test_a_hundred_aborted_streams_leave_no_tasks_and_an_empty_store(
    make_app: AppFactory, clock: FakeClock
) -> None:
    # The gate is never opened: every answerer is stuck inside a pull when its client leaves.
    answerer = ScriptedAnswerer(forever=True, gate=asyncio.Event())
    # One client asks a hundred questions at once: no per-client limit here.
    app = make_app(answerer=answerer, keep_seconds=1, client_questions_per_minute=0)
    before = asyncio.all_tasks()
    for n in range(100):
        async with LiveRequest(app, f"/api/chat?q=q&rid=r{n}") as request:
            await request.wait_until(lambda r: r.text.startswith("retry:"))
            await settle()
    assert len(app.state.answers) == 100
    assert len(asyncio.all_tasks() - before) == 100  # the stuck pulls, until the sweep

    clock.advance(1)
    await app.state.answers.sweep()
    await settle()
    assert len(app.state.answers) == 0
    assert answerer.started == answerer.closed == 100
    assert asyncio.all_tasks() == before


async def test_shutdown_closes_every_answer(make_app: AppFactory) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=answerer)
    async with (
        serving(app) as url,
        httpx.AsyncClient() as client,
        client.stream("GET", f"{url}/api/chat", params={"q": "q", "rid": "r"}) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("id: 3"):
                break
    # Leaving `serving` ran the app's lifespan shutdown.
    assert answerer.closed == 1
    assert len(app.state.answers) == 0


async def test_over_real_http_a_disconnect_stops_generation_within_a_second(
    make_app: AppFactory,
) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=answerer)
    async with serving(app) as url, httpx.AsyncClient() as client:
        async with client.stream(
            "GET", f"{url}/api/chat", params={"q": "q", "rid": "r"}
        ) as response:
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            async for line in response.aiter_lines():
                if line.startswith("id: 5"):
                    break
        # The client has hung up; the server notices and stops pulling.
        async with asyncio.timeout(1):
            # Polling: uvicorn's connection handling has no event to wait on.
            while app.state.answers.get("r").readers:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        produced = answerer.produced
        await asyncio.sleep(0.05)
        assert answerer.produced == produced
        assert answerer.closed == 0  # still kept for a resume


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """Runs `app` under uvicorn on a free port of 127.0.0.1, lifespan included."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers in serve(); that is harmless here, and restored after.
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(5):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
