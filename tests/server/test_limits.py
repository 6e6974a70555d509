"""Fair shares: per-client limits, the reader grace, the upstream pool, byte caps, slow readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.__main__ import parse_args, settings_from
from server.events import AnswerEvent, Message, Reasoning, ServerError, Token
from server.limits import ClientLimits, capped, cut_off_message
from server.store.types import ABANDONED
from tests.model_double import create_model_double
from tests.server.conftest import AppFactory
from tests.server.helpers import (
    FakeClock,
    LiveRequest,
    ScriptedAnswerer,
    answer_text,
    events,
    parse_frames,
)
from tests.server.test_lifecycle import serving

pytestmark = pytest.mark.anyio

EVENT_STREAM = {"Accept": "text/event-stream"}


def client_at(app: Starlette, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


# Per-client limits ------------------------------------------------------------------------


def test_questions_per_minute_are_a_bucket_that_refills(clock: FakeClock) -> None:
    limits = ClientLimits(streams=0, per_minute=6, clock=clock)
    for _ in range(6):
        assert limits.admit("a", question=True) is None
        limits.release("a")
    refusal = limits.admit("a", question=True)
    assert refusal is not None
    assert refusal.retry_after == 10  # one question every 10 s
    assert refusal.message == "You are sending questions too quickly; try again in 10 s."
    assert limits.admit("b", question=True) is None  # another client is not affected
    assert limits.admit("a", question=False) is None  # a resume is not a new question
    clock.advance(10)
    assert limits.admit("a", question=True) is None


def test_streams_at_once_are_counted_until_released(clock: FakeClock) -> None:
    limits = ClientLimits(streams=2, per_minute=0, clock=clock)
    assert limits.admit("a", question=True) is None
    assert limits.admit("a", question=False) is None
    refusal = limits.admit("a", question=False)
    assert refusal is not None
    assert "2 answers streaming at once" in refusal.message
    limits.release("a")
    assert limits.admit("a", question=True) is None
    assert limits.open_streams("a") == 2


async def test_one_client_flooding_is_refused_while_another_is_served(
    make_app: AppFactory,
) -> None:
    app = make_app(answerer=ScriptedAnswerer(), client_questions_per_minute=20)
    async with client_at(app, "10.0.0.1") as flooder, client_at(app, "10.0.0.2") as other:
        statuses = [
            (await flooder.get("/api/chat", params={"q": "q", "rid": f"f{n}"})).status_code
            for n in range(25)
        ]
        refused = await flooder.get("/api/chat", params={"q": "q", "rid": "again"})
        served = await other.get("/api/chat", params={"q": "q", "rid": "o1"})
    # More answers than the store keeps (max_answers is not the limit: finished ones go).
    assert statuses == [200] * 20 + [429] * 5
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "3"
    assert refused.headers["x-error-code"] == "rate-limit"
    assert refused.json() == {"error": "You are sending questions too quickly; try again in 3 s."}
    assert served.status_code == 200
    assert (
        answer_text(parse_frames(served.text)) == "Server-sent events reconnect by themselves [1]."
    )


async def test_an_eventsource_is_told_to_wait_in_an_error_event(make_app: AppFactory) -> None:
    app = make_app(answerer=ScriptedAnswerer(), client_questions_per_minute=1)
    async with client_at(app, "10.0.0.1") as client:
        await client.get("/api/chat", params={"q": "q", "rid": "a"}, headers=EVENT_STREAM)
        response = await client.get(
            "/api/chat", params={"q": "q", "rid": "b"}, headers=EVENT_STREAM
        )
    assert response.status_code == 200  # an EventSource cannot read a 429
    assert [f.json for f in events(parse_frames(response.text))] == [
        {
            "type": "error",
            "message": "You are sending questions too quickly; try again in 60 s.",
            "retryable": True,
            "retry_after": 60,
            "code": "rate-limit",
        }
    ]


async def test_streams_at_once_are_limited_per_client_and_freed_when_they_end(
    make_app: AppFactory,
) -> None:
    app = make_app(answerer=ScriptedAnswerer(forever=True), client_streams=2)
    async with (
        LiveRequest(app, "/api/chat?q=q&rid=a") as first,
        LiveRequest(app, "/api/chat?q=q&rid=b") as second,
    ):
        await first.wait_until(lambda r: r.event_count >= 1)
        await second.wait_until(lambda r: r.event_count >= 1)
        async with client_at(app, "127.0.0.1") as same, client_at(app, "10.0.0.9") as other:
            refused = await same.post("/api/chat", json={"question": "q", "rid": "c"})
            assert refused.status_code == 429
            assert "2 answers streaming at once" in refused.json()["error"]
            # Another client streams meanwhile (its answer ends, as ScriptedAnswerer's do not:
            # a HEAD request has headers only).
            served = await other.head("/api/chat", params={"q": "q", "rid": "d"})
            assert served.status_code == 200
        second.hang_up()
        await second.ended()
        async with LiveRequest(app, "/api/chat?q=q&rid=c") as third:
            await third.wait_until(lambda r: r.event_count >= 1)


async def test_finished_answers_are_forgotten_before_anyone_is_refused(
    make_app: AppFactory,
) -> None:
    app = make_app(answerer=ScriptedAnswerer(), max_answers=3, client_questions_per_minute=0)
    async with client_at(app, "10.0.0.1") as client:
        for n in range(10):
            response = await client.get("/api/chat", params={"q": "q", "rid": f"r{n}"})
            assert response.status_code == 200
    assert len(app.state.answers) == 3


# Leaving frees everything -------------------------------------------------------------------


async def test_an_answer_nobody_reads_is_stopped_after_the_grace_and_says_so(
    make_app: AppFactory, clock: FakeClock
) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=answerer, reader_grace=15)
    async with LiveRequest(app, "/api/chat?q=q&rid=r") as request:
        await request.wait_until(lambda r: r.event_count >= 3)
    await settle()
    clock.advance(14)
    await app.state.answers.sweep()
    assert answerer.closed == 0  # a reload within the grace resumes it

    clock.advance(1)
    await app.state.answers.sweep()
    assert answerer.closed == 1
    seen = request.event_count
    async with client_at(app, "127.0.0.1") as client:
        resumed = await client.get(
            "/api/chat", params={"q": "q", "rid": "r"}, headers={"Last-Event-ID": str(seen)}
        )
    last = events(parse_frames(resumed.text))[-1]
    assert last.json == {"type": "error", "message": ABANDONED, "retryable": False}


async def test_a_reader_within_the_grace_keeps_the_answer_going(
    make_app: AppFactory, clock: FakeClock
) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=answerer, reader_grace=15)
    async with LiveRequest(app, "/api/chat?q=q&rid=r") as request:
        await request.wait_until(lambda r: r.event_count >= 2)
    clock.advance(10)
    await app.state.answers.sweep()
    async with LiveRequest(app, "/api/chat?q=q&rid=r&last_event_id=2") as again:
        await again.wait_until(lambda r: r.event_count >= 2)
        clock.advance(60)
        await app.state.answers.sweep()  # read all along: neither abandoned nor expired
        await again.wait_until(lambda r: r.event_count >= 4)
    assert answerer.closed == 0


async def test_when_every_connection_is_taken_the_longest_abandoned_answer_makes_room(
    make_app: AppFactory, clock: FakeClock
) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=answerer, upstream_connections=2)
    for rid in ("older", "newer"):
        async with LiveRequest(app, f"/api/chat?q=q&rid={rid}") as request:
            await request.wait_until(lambda r: r.event_count >= 1)
        clock.advance(1)
    async with LiveRequest(app, "/api/chat?q=q&rid=new") as request:
        await request.wait_until(lambda r: r.event_count >= 1)
        answers = app.state.answers
        assert answers.get("older").events[-1] == ServerError(ABANDONED, retryable=False)
        assert not answers.get("newer").finished
        assert answers.running == 2


async def test_when_every_connection_serves_a_reader_a_new_answer_is_a_503_not_a_hang(
    make_app: AppFactory,
) -> None:
    app = make_app(answerer=ScriptedAnswerer(forever=True), upstream_connections=1)
    async with LiveRequest(app, "/api/chat?q=q&rid=a") as reading:
        await reading.wait_until(lambda r: r.event_count >= 1)
        async with client_at(app, "10.0.0.2") as client:
            refused = await client.post("/api/chat", json={"question": "q", "rid": "b"})
            as_event = await client.get(
                "/api/chat", params={"q": "q", "rid": "c"}, headers=EVENT_STREAM
            )
            # A second reader of the answer under way needs no connection of its own.
            joined = await client.head("/api/chat", params={"q": "q", "rid": "a"})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["x-error-code"] == "busy"
    assert [f.json for f in events(parse_frames(as_event.text))] == [
        {
            "type": "error",
            "message": "The server is answering as many questions as it can; try again in 5 s.",
            "retryable": True,
            "retry_after": 5,
            "code": "busy",
        }
    ]
    assert joined.status_code == 200


async def test_a_hundred_abandoned_model_answers_leave_no_upstream_connection_open(
    make_app: AppFactory, clock: FakeClock
) -> None:
    double = create_model_double()
    record = double.state.record
    async with serving(double) as model_url:
        app = make_app(
            upstream_url=f"{model_url}/v1",
            model="double",
            reader_grace=15,
            client_streams=0,
            client_questions_per_minute=0,
        )
        question = "scenario=slow delay=0.5"
        requests = [LiveRequest(app, f"/api/chat?q={question}&rid=r{n}") for n in range(100)]
        for request in requests:
            await request.__aenter__()
        await asyncio.gather(
            *(r.wait_until(lambda r: r.event_count >= 1, within=15) for r in requests)
        )
        for request in requests:
            await request.__aexit__(None, None, None)
        await settle()
        assert len(record.requests) == 100
        assert record.abandoned == 0  # within the grace, a reload could still resume them

        clock.advance(15)
        await app.state.answers.sweep()
        async with asyncio.timeout(5):
            while record.abandoned < 100:  # noqa: ASYNC110 - the double has only a count
                await asyncio.sleep(0.02)
        pool: Any = app.state.upstream_client._transport._pool
        assert len(pool.connections) == 0
        assert len(record.requests) - record.abandoned == 0


# The byte cap and slow readers --------------------------------------------------------------


async def source(*texts: AnswerEvent) -> AsyncIterator[AnswerEvent]:
    for event in texts:
        yield event


async def test_an_answer_is_cut_off_at_its_byte_cap_and_says_so_honestly() -> None:
    capped_events = [
        e async for e in capped(source(Reasoning("ab"), Token("cdé"), Token("é" * 800)), 1024)
    ]
    assert capped_events[:2] == [Reasoning("ab"), Token("cdé")]
    head = capped_events[2]
    assert isinstance(head, Token)
    assert len(head.text.encode()) <= 1024 - 2 - 4
    assert capped_events[3] == ServerError("The answer was cut off at 1 KB.", code="too-long")
    assert cut_off_message(1_048_576) == "The answer was cut off at 1,024 KB."


async def test_the_app_caps_each_answer(make_app: AppFactory) -> None:
    class Chatty:
        async def answer(
            self, question: str, history: Sequence[Message], *, continuing: bool = False
        ) -> AsyncIterator[AnswerEvent]:
            while True:
                yield Token("x" * 1000)

    app = make_app(answerer=Chatty(), max_answer_bytes=4096)
    async with client_at(app, "10.0.0.1") as client:
        response = await client.get("/api/chat", params={"q": "q", "rid": "r"})
    frames = events(parse_frames(response.text))
    assert len(answer_text(frames)) == 4096
    assert frames[-1].json["message"] == "The answer was cut off at 4 KB."


async def test_a_reader_that_stops_reading_is_disconnected(make_app: AppFactory) -> None:
    app = make_app(answerer=ScriptedAnswerer(forever=True), write_timeout=0.05)
    bodies = 0
    stuck = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # never disconnects: it just stops reading
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal bodies
        if message["type"] == "http.response.body":
            bodies += 1
            if bodies >= 3:
                stuck.set()
                await asyncio.Event().wait()  # the socket's buffer is full, forever

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/chat",
        "raw_path": b"/api/chat",
        "query_string": b"q=q&rid=r",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    async with asyncio.timeout(2):
        await app(scope, receive, send)
    assert stuck.is_set()
    assert app.state.answers.get("r").readers == 0


def test_the_limits_are_flags_with_their_defaults_in_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    defaults = settings_from(parse_args([]), {})
    assert (defaults.reader_grace, defaults.upstream_connections) == (15.0, 100)
    assert (defaults.client_streams, defaults.client_questions_per_minute) == (10, 60)
    assert (defaults.max_answer_bytes, defaults.write_timeout) == (1_048_576, 30.0)
    assert defaults.require_token is None
    flags = [
        *("--reader-grace", "5", "--upstream-connections", "8", "--client-streams", "2"),
        *("--client-questions", "6", "--max-answer-bytes", "4096", "--write-timeout", "3"),
        *("--require-token", "env:CHAT_SECRET", "--img-src", "https://img.example.org/"),
    ]
    settings = settings_from(parse_args(flags, {"CHAT_SECRET": "s" * 32}), {})
    assert settings.reader_grace == 5
    assert settings.upstream_connections == 8
    assert (settings.client_streams, settings.client_questions_per_minute) == (2, 6)
    assert (settings.max_answer_bytes, settings.write_timeout) == (4096, 3)
    assert settings.require_token == "s" * 32
    assert settings.img_origins == ("https://img.example.org",)
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    shown = capsys.readouterr().out
    for flag in ("--reader-grace", "--upstream-connections", "--client-questions"):
        assert flag in shown
    with pytest.raises(SystemExit):
        parse_args(["--require-token", "short"])
    assert "at least 16 characters" in capsys.readouterr().err
