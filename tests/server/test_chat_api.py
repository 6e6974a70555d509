"""/api/chat through the ASGI app: the wire protocol of contract §1, errors and resuming."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlencode

import pytest

from server.events import AnswerEvent, Message, ServerError, Token
from tests.server.conftest import AppFactory, client_for
from tests.server.helpers import (
    Frame,
    LiveRequest,
    ScriptedAnswerer,
    answer_text,
    events,
    parse_frames,
)

pytestmark = pytest.mark.anyio

QUESTION = "How do server-sent events reconnect?"


def assert_protocol(frames: list[Frame]) -> None:
    """retry first; ids 1..n; tokens, then at most one citations event; [DONE] last, no id."""
    assert frames[0].kind == "retry"
    stream = events(frames)
    assert stream[-1] == Frame("event", "[DONE]", None)
    numbered = stream[:-1]
    assert [f.id for f in numbered] == [str(n) for n in range(1, len(numbered) + 1)]
    types = [f.json["type"] for f in numbered]
    assert "citations" not in types[:-1]
    assert set(types[:-1]) <= {"token"}


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_an_answer_streams_tokens_citations_and_done(
    make_app: AppFactory, method: str
) -> None:
    app = make_app()
    async with client_for(app) as client:
        if method == "GET":
            response = await client.get("/api/chat", params={"q": QUESTION, "rid": "r1"})
        else:
            body = {"question": QUESTION, "rid": "r1", "history": []}
            response = await client.post("/api/chat", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    frames = parse_frames(response.text)
    assert frames[0] == Frame("retry", "1000")
    assert_protocol(frames)

    markdown = answer_text(frames)
    assert markdown.startswith("The browser's `EventSource` reconnects by itself")
    assert "\n\n" in markdown  # two paragraphs
    citations = events(frames)[-2].json["citations"]
    assert {c["id"] for c in citations} == set(re.findall(r"\[(\d+)\]", markdown))
    assert citations[0]["url"].startswith("https://")


async def test_non_ascii_text_arrives_intact(make_app: AppFactory) -> None:
    text = "Ünïcode — “quotes” 😀"
    app = make_app(answerer=ScriptedAnswerer([Token(text)]))
    async with client_for(app) as client:
        response = await client.get("/api/chat", params={"q": f"{text}?", "rid": "u"})
    assert answer_text(parse_frames(response.text)) == text


@pytest.mark.parametrize("how", ["header", "query"])
async def test_a_resume_sends_exactly_the_rest(make_app: AppFactory, how: str) -> None:
    app = make_app()
    async with client_for(app) as client:
        whole = parse_frames(
            (await client.get("/api/chat", params={"q": QUESTION, "rid": "a"})).text
        )

    # The first connection goes away after 5 events...
    async with LiveRequest(app, "/api/chat?" + urlencode({"q": QUESTION, "rid": "b"})) as first:
        await first.wait_until(lambda r: r.event_count >= 5)
    head = first.frames
    last_id = events(head)[-1].id
    assert last_id is not None

    # ...and the next one resumes after the last event it saw.
    async with client_for(app) as client:
        params = {"q": QUESTION, "rid": "b"}
        headers = {}
        if how == "header":
            headers["Last-Event-ID"] = last_id
        else:
            params["last_event_id"] = last_id
        rest = parse_frames((await client.get("/api/chat", params=params, headers=headers)).text)

    assert events(rest)[0].id == str(int(last_id) + 1)
    assert answer_text(head) + answer_text(rest) == answer_text(whole)
    ids = [f.id for f in events(head) + events(rest) if f.id]
    assert ids == [str(n) for n in range(1, len(ids) + 1)]
    assert events(rest)[-1].data == "[DONE]"


async def test_the_header_wins_over_the_query_parameter(make_app: AppFactory) -> None:
    app = make_app(answerer=ScriptedAnswerer())
    async with client_for(app) as client:
        await client.get("/api/chat", params={"q": "q", "rid": "r"})
        response = await client.get(
            "/api/chat",
            params={"q": "q", "rid": "r", "last_event_id": "1"},
            headers={"Last-Event-ID": "3"},
        )
    assert [f.id for f in events(parse_frames(response.text))] == ["4", None]


async def test_a_post_resumes_with_the_last_event_id_header(make_app: AppFactory) -> None:
    app = make_app(answerer=ScriptedAnswerer())
    body = {"question": "q", "rid": "r", "history": []}
    async with client_for(app) as client:
        await client.post("/api/chat", json=body)
        response = await client.post("/api/chat", json=body, headers={"Last-Event-ID": "2"})
    assert answer_text(parse_frames(response.text)) == "themselves [1]."


async def test_two_readers_of_one_rid_see_the_same_events(make_app: AppFactory) -> None:
    answerer = ScriptedAnswerer([Token(f"{n} ") for n in range(50)])
    app = make_app(answerer=answerer)
    async with client_for(app) as client:
        one, two = await asyncio.gather(
            client.get("/api/chat", params={"q": "q", "rid": "shared"}),
            client.get("/api/chat", params={"q": "q", "rid": "shared"}),
        )
    assert one.text == two.text
    assert answer_text(parse_frames(one.text)) == "".join(f"{n} " for n in range(50))
    assert answerer.started == 1
    assert answerer.produced == 50  # generated once, not once per reader


async def test_the_same_rid_with_another_question_is_a_conflict(make_app: AppFactory) -> None:
    app = make_app(answerer=ScriptedAnswerer())
    async with client_for(app) as client:
        await client.get("/api/chat", params={"q": "first", "rid": "r"})
        response = await client.get("/api/chat", params={"q": "second", "rid": "r"})
    assert response.status_code == 409
    assert "error" in response.json()


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"rid": "r"}, {}),
        ({"q": "  ", "rid": "r"}, {}),
        ({"q": "q"}, {}),
        ({"q": "q", "rid": ""}, {}),
        ({"q": "q", "rid": "has space"}, {}),
        ({"q": "q", "rid": "x" * 65}, {}),
        ({"q": "q", "rid": "dot.ted"}, {}),
        ({"q": "q", "rid": "r", "last_event_id": "-1"}, {}),
        ({"q": "q", "rid": "r"}, {"Last-Event-ID": "abc"}),
        ({"q": "x" * 4001, "rid": "r"}, {}),
    ],
)
async def test_a_bad_get_is_a_400_json_error(
    make_app: AppFactory, params: dict[str, str], headers: dict[str, str]
) -> None:
    app = make_app()
    async with client_for(app) as client:
        response = await client.get("/api/chat", params=params, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'"question"',
        json.dumps({"question": "q"}).encode(),
        json.dumps({"rid": "r"}).encode(),
        json.dumps({"question": 3, "rid": "r"}).encode(),
        json.dumps({"question": "q", "rid": "r", "history": {}}).encode(),
        json.dumps(
            {"question": "q", "rid": "r", "history": [{"role": "system", "content": "x"}]}
        ).encode(),
        json.dumps({"question": "q", "rid": "r", "history": [{"role": "user"}]}).encode(),
        b"\xff\xfe",
    ],
)
async def test_a_bad_post_is_a_400_json_error(make_app: AppFactory, body: bytes) -> None:
    app = make_app()
    async with client_for(app) as client:
        response = await client.post(
            "/api/chat", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]


async def test_resuming_an_answer_the_server_no_longer_has_says_so(make_app: AppFactory) -> None:
    app = make_app()
    async with client_for(app) as client:
        response = await client.get(
            "/api/chat", params={"q": "q", "rid": "gone"}, headers={"Last-Event-ID": "5"}
        )
    assert response.status_code == 200
    error = events(parse_frames(response.text))
    assert len(error) == 1
    assert error[0].json["type"] == "error"
    assert error[0].json["retryable"] is False


async def test_a_failed_answer_ends_after_its_error_and_then_answers_204(
    make_app: AppFactory,
) -> None:
    answerer = ScriptedAnswerer([Token("partial "), ServerError("Upstream broke.")])
    app = make_app(answerer=answerer)
    async with client_for(app) as client:
        first = await client.get("/api/chat", params={"q": "q", "rid": "r"})
        again = await client.get(
            "/api/chat", params={"q": "q", "rid": "r"}, headers={"Last-Event-ID": "2"}
        )
    stream = events(parse_frames(first.text))
    assert stream[-1].json == {"type": "error", "message": "Upstream broke.", "retryable": False}
    assert all(f.data != "[DONE]" for f in stream)
    assert again.status_code == 204


async def test_too_many_answers_being_read_is_a_503_with_retry_after(
    make_app: AppFactory,
) -> None:
    app = make_app(answerer=ScriptedAnswerer(forever=True), max_answers=1)
    async with LiveRequest(app, "/api/chat?q=q&rid=a") as reading, client_for(app) as client:
        await reading.wait_until(lambda r: r.event_count >= 1)
        response = await client.get("/api/chat", params={"q": "q", "rid": "b"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"


async def test_a_heartbeat_event_fills_the_silence(make_app: AppFactory) -> None:
    # An event, not a `: ping` comment, so that a native EventSource delivers it too; with no
    # id, so it never moves the point a resume starts from.
    app = make_app(answerer=ScriptedAnswerer(gate=asyncio.Event()), ping_interval=0.005)
    async with LiveRequest(app, "/api/chat?q=q&rid=r") as request:
        await request.wait_until(lambda r: Frame("event", '{"type":"ping"}') in r.frames)
    heartbeats = [f for f in request.frames if f.kind == "event"]
    assert heartbeats
    assert all(f.data == '{"type":"ping"}' and f.id is None for f in heartbeats)


async def test_delete_needs_a_valid_rid_and_is_idempotent(make_app: AppFactory) -> None:
    app = make_app()
    async with client_for(app) as client:
        assert (await client.delete("/api/chat", params={"rid": "nobody"})).status_code == 204
        assert (await client.delete("/api/chat", params={"rid": "no good"})).status_code == 400
        assert (await client.delete("/api/chat")).status_code == 400


async def test_healthz(make_app: AppFactory) -> None:
    app = make_app()
    async with client_for(app) as client:
        response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "answers": 0}


async def test_other_methods_are_not_allowed(make_app: AppFactory) -> None:
    app = make_app()
    async with client_for(app) as client:
        assert (await client.put("/api/chat")).status_code == 405


async def test_head_sends_the_headers_and_generates_nothing(make_app: AppFactory) -> None:
    answerer = ScriptedAnswerer()
    app = make_app(answerer=answerer)
    async with client_for(app) as client:
        response = await client.head("/api/chat", params={"q": "q", "rid": "r"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert answerer.started == 0


async def test_a_body_over_the_limit_is_refused(make_app: AppFactory) -> None:
    app = make_app(max_body_bytes=100)
    body = {"question": "q" * 200, "rid": "r", "history": []}
    async with client_for(app) as client:
        response = await client.post("/api/chat", json=body)
    assert response.status_code == 413


class FlakyAnswerer:
    """Fails retryably on its first answer (after `tokens_first` tokens), then succeeds."""

    def __init__(self, tokens_first: int = 0) -> None:
        self.tokens_first = tokens_first
        self.calls = 0

    async def answer(
        self, question: str, history: Sequence[Message], *, continuing: bool = False
    ) -> AsyncIterator[AnswerEvent]:
        self.calls += 1
        if self.calls == 1:
            for n in range(self.tokens_first):
                yield Token(f"early{n} ")
            yield ServerError("The model failed (HTTP 503).", retryable=True)
            return
        yield Token("second ")
        yield Token("try")


async def test_a_retry_after_a_retryable_error_tries_again(make_app: AppFactory) -> None:
    answerer = FlakyAnswerer()
    app = make_app(answerer=answerer)
    async with client_for(app) as client:
        failed = await client.get("/api/chat", params={"q": "q", "rid": "r"})
        error = events(parse_frames(failed.text))
        assert [(f.id, f.json["retryable"]) for f in error] == [("1", True)]
        retried = await client.get(
            "/api/chat", params={"q": "q", "rid": "r"}, headers={"Last-Event-ID": "1"}
        )
    frames = parse_frames(retried.text)
    assert [f.id for f in events(frames)] == ["2", "3", None]
    assert answer_text(frames) == "second try"
    assert answerer.calls == 2


async def test_a_retry_after_text_was_sent_cannot_resume(make_app: AppFactory) -> None:
    app = make_app(answerer=FlakyAnswerer(tokens_first=2))
    async with client_for(app) as client:
        await client.get("/api/chat", params={"q": "q", "rid": "r"})
        retried = await client.get(
            "/api/chat", params={"q": "q", "rid": "r"}, headers={"Last-Event-ID": "3"}
        )
    (error,) = events(parse_frames(retried.text))
    assert error.id is None
    assert error.json["retryable"] is False
    assert "cannot be resumed" in error.json["message"]
