"""Sign-in (server/auth.py): tokens, one-time tickets, and answers bound to their owner."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import httpx
import pytest
from starlette.applications import Starlette

from server.auth import TokenAuthority, Unauthorized
from server.events import event_json
from server.settings import REPO_ROOT
from server.store.types import EXPIRED
from tests.server.conftest import AppFactory
from tests.server.helpers import FakeClock, LiveRequest, ScriptedAnswerer, events, parse_frames

pytestmark = pytest.mark.anyio

SECRET = "test-secret-of-32-characters-xx"
EVENT_STREAM = {"Accept": "text/event-stream"}


class WallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def authority(wall: WallClock) -> TokenAuthority:
    return TokenAuthority(SECRET, wall)


def signed_in(app: Starlette, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


def first_event(response: httpx.Response) -> object:
    return events(parse_frames(response.text))[0].json


# Tokens --------------------------------------------------------------------------------------


def test_a_token_names_its_subject_until_it_expires(
    authority: TokenAuthority, wall: WallClock
) -> None:
    token = authority.issue("alice", ttl=600)
    assert authority.subject(token) == "alice"
    wall.now += 600 + 30  # a little leeway for clocks that differ
    assert authority.subject(token) == "alice"
    wall.now += 1
    with pytest.raises(Unauthorized, match="expired"):
        authority.subject(token)


def _forge(header: dict[str, object], claims: dict[str, object], signature: bytes) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)]
    )


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "a.b.c",
        _forge({"alg": "none"}, {"sub": "alice", "exp": 2e9}, b""),
        _forge({"alg": "HS256"}, {"sub": "alice", "exp": 2e9}, b"x" * 32),
    ],
)
def test_a_forged_or_malformed_token_is_refused(authority: TokenAuthority, token: str) -> None:
    with pytest.raises(Unauthorized):
        authority.subject(token)


def test_a_token_signed_with_another_secret_is_refused(wall: WallClock) -> None:
    token = TokenAuthority("another-secret-entirely-xxxxxxx", wall).issue("alice", 600)
    with pytest.raises(Unauthorized, match="signature"):
        TokenAuthority(SECRET, wall).subject(token)


def test_a_ticket_is_not_a_token_nor_a_token_a_ticket(authority: TokenAuthority) -> None:
    ticket = authority.issue_ticket("alice", 30)
    assert authority.ticket(ticket).subject == "alice"
    with pytest.raises(Unauthorized):
        authority.subject(ticket)
    with pytest.raises(Unauthorized):
        authority.ticket(authority.issue("alice", 600))


def test_the_command_line_issues_a_token_the_server_accepts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.auth", "issue", "--secret", SECRET, "--sub", "alice"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert TokenAuthority(SECRET).subject(result.stdout.strip()) == "alice"


# The API with --require-token ----------------------------------------------------------------


@pytest.fixture
def app(make_app: AppFactory, wall: WallClock) -> Starlette:
    return make_app(answerer=ScriptedAnswerer(), require_token=SECRET, wall_clock=wall)


async def test_without_a_token_the_api_answers_401_and_an_eventsource_an_error_event(
    app: Starlette,
) -> None:
    async with signed_in(app) as client:
        post = await client.post("/api/chat", json={"question": "q", "rid": "r"})
        get = await client.get("/api/chat", params={"q": "q", "rid": "r"}, headers=EVENT_STREAM)
        delete = await client.delete("/api/chat", params={"rid": "r"})
        ticket = await client.post("/api/ticket")
        page = await client.get("/healthz")
    for response in (post, delete, ticket):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["x-error-code"] == "auth"
    assert get.status_code == 200
    assert first_event(get) == {
        "type": "error",
        "message": "Please sign in: this server needs an access token.",
        "retryable": False,
        "code": "auth",
    }
    assert page.status_code == 200  # health checks and the page need no sign-in


async def test_with_a_token_the_api_answers(app: Starlette, authority: TokenAuthority) -> None:
    async with signed_in(app, authority.issue("alice", 600)) as client:
        response = await client.post("/api/chat", json={"question": "q", "rid": "r"})
    assert response.status_code == 200
    assert events(parse_frames(response.text))[-1].data == "[DONE]"


async def test_an_eventsource_uses_a_ticket_once(
    app: Starlette, authority: TokenAuthority, wall: WallClock
) -> None:
    async with signed_in(app, authority.issue("alice", 600)) as client:
        issued = await client.post("/api/ticket")
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert body["expires_in"] == 30
    params = {"q": "q", "rid": "r", "ticket": body["ticket"]}
    async with signed_in(app) as anonymous:
        first = await anonymous.get("/api/chat", params=params, headers=EVENT_STREAM)
        again = await anonymous.get("/api/chat", params=params, headers=EVENT_STREAM)
    assert events(parse_frames(first.text))[-1].data == "[DONE]"
    assert first_event(again) == {
        "type": "error",
        "message": "This ticket has been used already; ask for a new one.",
        "retryable": False,
        "code": "auth",
    }

    async with signed_in(app, authority.issue("alice", 600)) as client:
        late = (await client.post("/api/ticket")).json()["ticket"]
    wall.now += 61
    async with signed_in(app) as anonymous:
        expired = await anonymous.get(
            "/api/chat", params={"q": "q", "rid": "s", "ticket": late}, headers=EVENT_STREAM
        )
    assert "expired" in str(first_event(expired))


async def test_another_subjects_answer_looks_exactly_like_no_answer(
    make_app: AppFactory, wall: WallClock, authority: TokenAuthority
) -> None:
    answerer = ScriptedAnswerer(forever=True)
    app = make_app(answerer=answerer, require_token=SECRET, wall_clock=wall)
    alice = {"Authorization": f"Bearer {authority.issue('alice', 600)}"}
    bob = authority.issue("bob", 600)
    url = "/api/chat?q=q&rid=secret-rid"
    async with LiveRequest(app, url, headers=list(alice.items())) as reading:
        await reading.wait_until(lambda r: r.event_count >= 2)
        async with signed_in(app, bob) as client:
            resume = {"Last-Event-ID": "1"}
            theirs = await client.get(
                "/api/chat", params={"q": "q", "rid": "secret-rid"}, headers=resume
            )
            nobodys = await client.get(
                "/api/chat", params={"q": "q", "rid": "no-such-rid"}, headers=resume
            )
            stop_theirs = await client.delete("/api/chat", params={"rid": "secret-rid"})
            stop_nobodys = await client.delete("/api/chat", params={"rid": "no-such-rid"})
        assert theirs.text == nobodys.text
        assert first_event(theirs) == event_json(EXPIRED)
        assert (stop_theirs.status_code, stop_theirs.json()) == (
            404,
            {"error": "There is no such answer."},
        )
        assert (stop_nobodys.status_code, stop_nobodys.json()) == (
            stop_theirs.status_code,
            stop_theirs.json(),
        )
        assert answerer.closed == 0  # bob stopped nothing
        async with signed_in(app, authority.issue("alice", 600)) as owner:
            assert (
                await owner.delete("/api/chat", params={"rid": "secret-rid"})
            ).status_code == 204
    assert answerer.closed == 1


async def test_a_follow_up_cannot_take_another_subjects_conversation_as_its_parent(
    make_app: AppFactory, wall: WallClock, authority: TokenAuthority
) -> None:
    answerer = ScriptedAnswerer()
    app = make_app(answerer=answerer, require_token=SECRET, wall_clock=wall)
    async with signed_in(app, authority.issue("alice", 600)) as alice:
        await alice.post("/api/chat", json={"question": "alice's secret", "rid": "a1"})
        await alice.post("/api/chat", json={"question": "more", "rid": "a2", "parent": "a1"})
    async with signed_in(app, authority.issue("bob", 600)) as bob:
        await bob.post("/api/chat", json={"question": "and?", "rid": "b1", "parent": "a1"})
    alice_history, bob_history = answerer.histories[1], answerer.histories[2]
    assert alice_history[0] == {"role": "user", "content": "alice's secret"}
    assert all("alice's secret" not in m["content"] for m in bob_history)


async def test_limits_apply_per_subject_when_signed_in(
    make_app: AppFactory, wall: WallClock, authority: TokenAuthority, clock: FakeClock
) -> None:
    app = make_app(
        answerer=ScriptedAnswerer(),
        require_token=SECRET,
        wall_clock=wall,
        client_questions_per_minute=1,
    )
    async with signed_in(app, authority.issue("alice", 600)) as alice:
        assert (
            await alice.post("/api/chat", json={"question": "q", "rid": "a"})
        ).status_code == 200
        assert (
            await alice.post("/api/chat", json={"question": "q", "rid": "b"})
        ).status_code == 429
    async with signed_in(app, authority.issue("bob", 600)) as bob:  # the same address
        assert (await bob.post("/api/chat", json={"question": "q", "rid": "a"})).status_code == 200


async def test_without_require_token_nothing_changes(make_app: AppFactory) -> None:
    app = make_app(answerer=ScriptedAnswerer())
    async with signed_in(app) as client:
        assert (
            await client.post("/api/chat", json={"question": "q", "rid": "r"})
        ).status_code == 200
        assert (await client.delete("/api/chat", params={"rid": "unknown"})).status_code == 204
        assert (await client.post("/api/ticket")).status_code == 404  # no ticket route
