"""server/faults.py: the `fault` grammar, and each fault as the page would meet it."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette

from server.events import Token
from server.faults import FaultPlan, FaultSyntaxError, parse_faults
from tests.server.conftest import AppFactory, client_for
from tests.server.helpers import (
    Frame,
    LiveRequest,
    RecordingSleep,
    ScriptedAnswerer,
    answer_text,
    events,
    parse_frames,
)

pytestmark = pytest.mark.anyio

EIGHT_TOKENS = [f"w{n} " for n in range(8)]


def faulty_app(make_app: AppFactory, **overrides: object) -> Starlette:
    return make_app(
        faults=True, answerer=ScriptedAnswerer([Token(t) for t in EIGHT_TOKENS]), **overrides
    )


@pytest.mark.parametrize(
    ("spec", "plan"),
    [
        ("", FaultPlan()),
        ("drop:3", FaultPlan(drop=3)),
        ("status:503", FaultPlan(status=503)),
        ("status:503:2, retry-after:7", FaultPlan(status=503, status_times=2, retry_after=7)),
        ("error:0,stall:4,garbage:2", FaultPlan(error=0, stall=4, garbage=2)),
        ("echo:3", FaultPlan(echo=3)),
        ("echo:0", FaultPlan(echo=1)),
        ("retry:250,pace:0.2", FaultPlan(retry_ms=250, pace=0.2)),
        ("type:text/html; charset=utf-8", FaultPlan(content_type="text/html; charset=utf-8")),
        ("drop:1,drop:2", FaultPlan(drop=2)),
    ],
)
def test_parse_faults(spec: str, plan: FaultPlan) -> None:
    assert parse_faults(spec) == plan


@pytest.mark.parametrize(
    "spec",
    [
        "explode:1",
        "drop",
        "drop:x",
        "drop:-1",
        "status:99",
        "status:600",
        "status:503:x",
        "retry-after:1",
        "pace:-1",
        "pace:nan",
        "type:",
        "drop:²",
    ],
)
def test_parse_faults_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(FaultSyntaxError):
        parse_faults(spec)


async def get(
    app: Starlette, fault: str, rid: str = "r", last_event_id: str | None = None
) -> tuple[int, dict[str, str], str]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with client_for(app) as client:
        response = await client.get(
            "/api/chat", params={"q": "q", "rid": rid, "fault": fault}, headers=headers
        )
    return response.status_code, dict(response.headers), response.text


async def attempts(app: Starlette, rid: str = "r") -> dict[str, object]:
    async with client_for(app) as client:
        return (await client.get("/api/_faults/attempts", params={"rid": rid})).json()  # type: ignore[no-any-return]


async def test_drop_closes_after_event_n_once_so_a_resume_completes(make_app: AppFactory) -> None:
    app = faulty_app(make_app)
    _, _, first = await get(app, "drop:3")
    head = parse_frames(first)
    assert [f.id for f in events(head)] == ["1", "2", "3"]
    _, _, second = await get(app, "drop:3", last_event_id="3")
    rest = parse_frames(second)
    assert answer_text(head) + answer_text(rest) == "".join(EIGHT_TOKENS)
    assert events(rest)[-1].data == "[DONE]"
    assert await attempts(app) == {"attempts": 2, "last_event_ids": [None, 3]}


async def test_status_answers_every_request_or_the_first_k(make_app: AppFactory) -> None:
    app = faulty_app(make_app)
    for _ in range(3):
        status, headers, body = await get(app, "status:503,retry-after:2", rid="always")
        assert (status, headers["retry-after"]) == (503, "2")
        assert "503" in body
    statuses = [(await get(app, "status:500:2", rid="twice"))[0] for _ in range(3)]
    assert statuses == [500, 500, 200]
    status, _, body = await get(app, "status:204", rid="empty")
    assert (status, body) == (204, "")


async def test_error_fails_the_answer_after_event_n(make_app: AppFactory) -> None:
    app = faulty_app(make_app)
    _, _, text = await get(app, "error:2")
    stream = events(parse_frames(text))
    assert [f.id for f in stream] == ["1", "2", "3"]
    assert stream[-1].json == {
        "type": "error",
        "message": "The model is overloaded.",
        "retryable": False,
    }
    status, _, _ = await get(app, "error:2", last_event_id="3")
    assert status == 204


async def test_stall_goes_silent_after_event_n_once(make_app: AppFactory) -> None:
    app = faulty_app(make_app, ping_interval=0.001)
    async with LiveRequest(app, "/api/chat?q=q&rid=r&fault=stall:2") as request:
        await request.wait_until(lambda r: r.event_count == 2)
        text = request.text
        await asyncio.sleep(0.05)  # many ping intervals
        assert request.text == text  # not even a ping
    assert not request.complete
    _, _, rest = await get(app, "stall:2", last_event_id="2")  # the stall was once per rid
    assert events(parse_frames(rest))[-1].data == "[DONE]"


async def test_retry_sets_the_reconnection_time(make_app: AppFactory) -> None:
    _, _, text = await get(faulty_app(make_app), "retry:250")
    assert parse_frames(text)[0] == Frame("retry", "250")


async def test_type_answers_with_a_wrong_content_type(make_app: AppFactory) -> None:
    status, headers, _ = await get(faulty_app(make_app), "type:text/html")
    assert status == 200
    assert headers["content-type"].startswith("text/html")


async def test_pace_slows_each_token(make_app: AppFactory, sleep: RecordingSleep) -> None:
    await get(faulty_app(make_app), "pace:0.2")
    assert sleep.calls == [0.2] * len(EIGHT_TOKENS)


async def test_garbage_sends_a_non_json_event_once(make_app: AppFactory) -> None:
    app = faulty_app(make_app)
    _, _, text = await get(app, "garbage:2")
    assert 'id: 2\ndata: {"type":"token","text":"w1 "}\n\ndata: {not json\n\nid: 3\n' in text
    assert text.endswith("data: [DONE]\n\n")
    _, _, again = await get(app, "garbage:2")
    assert "{not json" not in again


async def test_a_bad_fault_spec_is_a_400(make_app: AppFactory) -> None:
    status, _, _ = await get(faulty_app(make_app), "explode:1")
    assert status == 400


async def test_faults_are_ignored_when_off(make_app: AppFactory) -> None:
    app = make_app(answerer=ScriptedAnswerer())
    status, _, text = await get(app, "status:503,drop:1,explode:1")
    assert status == 200
    assert events(parse_frames(text))[-1].data == "[DONE]"
    async with client_for(app) as client:
        assert (await client.get("/api/_faults/attempts", params={"rid": "r"})).status_code == 404


async def test_faults_at_zero_act_before_the_first_event(make_app: AppFactory) -> None:
    app = faulty_app(make_app)
    _, _, dropped = await get(app, "drop:0", rid="d")
    assert parse_frames(dropped) == [Frame("retry", "1000")]
    _, _, failed = await get(app, "error:0", rid="e")
    assert [f.json["type"] for f in events(parse_frames(failed))] == ["error"]


async def test_echo_answers_with_the_question_in_tokens_of_n_characters(
    make_app: AppFactory,
) -> None:
    question = "<script>alert(1)</script> **bold"
    async with client_for(faulty_app(make_app)) as client:
        response = await client.get(
            "/api/chat", params={"q": question, "rid": "e", "fault": "echo:4"}
        )
    frames = parse_frames(response.text)
    tokens = [f for f in events(frames) if f.data != "[DONE]" and f.json["type"] == "token"]
    assert [len(f.json["text"]) for f in tokens] == [4] * 8
    assert answer_text(frames) == question
    assert response.text.endswith("data: [DONE]\n\n")
