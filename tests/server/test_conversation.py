"""Follow-up questions: the earlier turns reach the model on both transports, bounded."""

from __future__ import annotations

import json

import httpx
import pytest

from server.events import Token
from tests.server.conftest import AppFactory, client_for
from tests.server.helpers import FakeClock, ScriptedAnswerer, events, parse_frames

pytestmark = pytest.mark.anyio

STREAM = {"Accept": "text/event-stream"}


async def ask(client: httpx.AsyncClient, question: str, rid: str, **params: str) -> list[object]:
    response = await client.get(
        "/api/chat", params={"q": question, "rid": rid, **params}, headers=STREAM
    )
    assert response.status_code == 200
    return [f.json if f.data != "[DONE]" else "[DONE]" for f in events(parse_frames(response.text))]


def reply(text: str) -> ScriptedAnswerer:
    return ScriptedAnswerer([Token(text)])


async def test_a_follow_up_over_get_carries_the_earlier_turns(make_app: AppFactory) -> None:
    answerer = reply("Hello, Ada.")
    app = make_app(answerer=answerer)
    async with client_for(app) as client:
        await ask(client, "My name is Ada.", "r1")
        await ask(client, "What is my name?", "r2", parent="r1")
        await ask(client, "And again?", "r3", parent="r2")
    assert answerer.histories[0] == []
    assert answerer.histories[1] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada."},
    ]
    assert len(answerer.histories[2]) == 4


async def test_an_edited_question_branches_from_an_older_parent(make_app: AppFactory) -> None:
    answerer = reply("ok")
    app = make_app(answerer=answerer)
    async with client_for(app) as client:
        await ask(client, "one", "r1")
        await ask(client, "two", "r2", parent="r1")
        await ask(client, "two, edited", "r3", parent="r1")  # replaces "two"
    assert [m["content"] for m in answerer.histories[2]] == ["one", "ok"]


async def test_post_history_wins_and_is_bounded_the_same_way(make_app: AppFactory) -> None:
    answerer = reply("ok")
    app = make_app(answerer=answerer, history_turns=2)
    history = []
    for n in range(5):
        history += [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"a{n}"}]
    async with client_for(app) as client:
        body = {"question": "now?", "rid": "p1", "history": history, "parent": "unknown"}
        response = await client.post("/api/chat", json=body)
    frames = events(parse_frames(response.text))
    assert frames[0].json == {
        "type": "context",
        "kept_turns": 2,
        "dropped_turns": 3,
        "missing": False,
    }
    assert [m["content"] for m in answerer.histories[0]] == ["q3", "a3", "q4", "a4"]


async def test_history_is_bounded_by_characters_oldest_first(make_app: AppFactory) -> None:
    answerer = ScriptedAnswerer([Token("x" * 40)])
    app = make_app(answerer=answerer, history_chars=100)
    async with client_for(app) as client:
        await ask(client, "q" * 10, "r1")
        await ask(client, "q" * 10, "r2", parent="r1")
        third = await ask(client, "q" * 10, "r3", parent="r2")
        fourth = await ask(client, "q" * 10, "r4", parent="r3")
    # Each turn is 50 characters: two fit in 100, so the third question has everything…
    assert third[0] == {"type": "token", "text": "x" * 40}
    assert len(answerer.histories[2]) == 4
    # …and the fourth loses the oldest turn, and is told so.
    assert fourth[0] == {"type": "context", "kept_turns": 2, "dropped_turns": 1, "missing": False}
    assert len(answerer.histories[3]) == 4


async def test_turns_that_expired_are_reported_missing(
    make_app: AppFactory, clock: FakeClock
) -> None:
    answerer = reply("ok")
    app = make_app(answerer=answerer, history_ttl=60.0)
    async with client_for(app) as client:
        await ask(client, "one", "r1")
        clock.advance(61)
        events_ = await ask(client, "two", "r2", parent="r1")
    assert events_[0] == {"type": "context", "kept_turns": 0, "dropped_turns": 0, "missing": True}
    assert answerer.histories[1] == []


async def test_continue_gives_the_model_the_partial_answer_to_go_on_with(
    make_app: AppFactory,
) -> None:
    answerer = ScriptedAnswerer([Token("The first part")])
    app = make_app(answerer=answerer)
    async with client_for(app) as client:
        await ask(client, "Tell me", "r1")
        await ask(client, "Tell me", "r2", parent="r1", **{"continue": "1"})
        await ask(client, "Next?", "r3", parent="r2")
    assert answerer.continuing == [False, True, False]
    assert answerer.histories[1] == [
        {"role": "user", "content": "Tell me"},
        {"role": "assistant", "content": "The first part"},
    ]
    # The continuation is merged into the answer it continued.
    assert answerer.histories[2] == [
        {"role": "user", "content": "Tell me"},
        {"role": "assistant", "content": "The first partThe first part"},
    ]


async def test_a_too_long_question_is_said_in_the_stream_for_eventsource(
    make_app: AppFactory,
) -> None:
    app = make_app(max_question_chars=10)
    async with client_for(app) as client:
        streamed = await ask(client, "x" * 11, "r1")
        plain = await client.get("/api/chat", params={"q": "x" * 11, "rid": "r1"})
        posted = await client.post("/api/chat", json={"question": "x" * 11, "rid": "r1"})
    error = streamed[0]
    assert isinstance(error, dict)
    assert error["code"] == "too-long"
    assert error["retryable"] is False
    assert "longer than 10 characters" in error["message"]
    assert plain.status_code == 400
    assert posted.status_code == 400
    assert posted.headers["x-error-code"] == "too-long"
    assert "longer than 10" in json.loads(posted.text)["error"]
