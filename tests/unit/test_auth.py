"""app.auth: the page's access tokens, tickets for EventSource, and one retry after a refusal."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable
from urllib.parse import parse_qs, urlsplit

import pytest

from app.auth import (
    ProvidedToken,
    SignedTransport,
    SignInFailed,
    TokenSource,
    is_usable_token,
    parse_ticket_reply,
    parse_token_reply,
    refresh_after,
    ticket_url,
)
from streamchat.client import HTTPStatus, StreamRequest, get_url, stream_query
from streamchat.protocol import AnswerFailed, Done, ProtocolError, StreamError, Token
from streamchat.retry import RetryPolicy
from streamchat.sse import ServerSentEvent
from tests.unit.test_client import Attempt, FakeTransport, done, token

pytestmark = pytest.mark.anyio
REQUEST = StreamRequest(endpoint="https://api.example/api/chat?x=1", question="Why?", rid="r1")
EXPIRED = "The access token has expired; please sign in again."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def auth_event(message: str = "This ticket has been used already; ask for a new one.") -> Attempt:
    payload = {"type": "error", "message": message, "retryable": False, "code": "auth"}
    return Attempt([ServerSentEvent("message", json.dumps(payload), "")], "end")


def refused(message: str = EXPIRED) -> Attempt:
    return Attempt([], HTTPStatus(401, None, message, "auth"))


def answer(*words: str) -> Attempt:
    return Attempt([*(token(str(i), w) for i, w in enumerate(words, 1)), done()], "end")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Provider:
    """A token provider that hands out `tokens` in turn (the last one again when they run out),
    or raises what it is given."""

    def __init__(self, *tokens: str | Exception, expires_in: float | None = 600) -> None:
        self.tokens = list(tokens)
        self.expires_in = expires_in
        self.calls = 0

    async def __call__(self) -> ProvidedToken:
        reply = self.tokens[min(self.calls, len(self.tokens) - 1)]
        self.calls += 1
        await asyncio.sleep(0)
        if isinstance(reply, Exception):
            raise reply
        return ProvidedToken(reply, self.expires_in)


class Tickets:
    """The back end's `POST /api/ticket`: a new ticket each time, or the refusals scripted."""

    def __init__(self, *refusals: HTTPStatus, inner: FakeTransport | None = None) -> None:
        self.refusals = list(refusals)
        self.asked: list[tuple[str, str | None]] = []
        self.inner = inner
        self.closed_before: list[int] = []  # the inner transport's close() calls at each ask

    async def __call__(self, url: str, token: str | None) -> str:
        self.asked.append((url, token))
        self.closed_before.append(self.inner.close_calls if self.inner else 0)
        if self.refusals:
            raise self.refusals.pop(0)
        return f"ticket-{len(self.asked)}"


async def answer_over(transport: SignedTransport) -> tuple[str, StreamError | None]:
    """The text `stream_query` got through `transport`, and the error it ended with."""

    async def sleep(_delay: float) -> None:
        pass

    async def wait_for(
        awaitable: Awaitable[ServerSentEvent | None], _seconds: float
    ) -> ServerSentEvent | None:
        return await awaitable

    text = ""
    try:
        async for item in stream_query(
            REQUEST,
            transport,
            policy=RetryPolicy(),
            sleep=sleep,
            rng=random.Random(1).random,
            now=lambda: 0.0,
            wait_for=wait_for,
        ):
            if isinstance(item, Token):
                text += item.text
            elif isinstance(item, Done):
                break
    except StreamError as error:
        return text, error
    return text, None


def authorization(request: StreamRequest) -> list[str]:
    return [value for name, value in request.headers if name == "Authorization"]


# Replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"token": "a.b.c", "expires_in": 600}', ProvidedToken("a.b.c", 600.0)),
        ('{"token": "a.b.c", "expires_in": "90"}', ProvidedToken("a.b.c", 90.0)),
        ('{"token": "a.b.c"}', ProvidedToken("a.b.c", None)),
        ('{"token": "a.b.c", "expires_in": true}', ProvidedToken("a.b.c", None)),
        ('{"token": "a.b.c", "expires_in": -5}', ProvidedToken("a.b.c", None)),
    ],
)
def test_a_providers_token_and_its_lifetime_are_read(body: str, expected: ProvidedToken) -> None:
    assert parse_token_reply(200, body) == expected


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, '{"error": "You are not signed in"}', "Could not sign in: You are not signed in."),
        (500, "<h1>Oops</h1>", "Could not sign in: the sign-in service answered HTTP 500."),
        (200, "<html>login</html>", "Could not sign in: the sign-in service sent no usable"),
        (200, '{"token": ""}', "sent no usable access token"),
        (200, '{"token": "has a space"}', "sent no usable access token"),
        (200, '{"token": 42}', "sent no usable access token"),
        (200, '["a.b.c"]', "sent no usable access token"),
    ],
)
def test_a_provider_that_gives_no_token_says_why(status: int, body: str, message: str) -> None:
    with pytest.raises(SignInFailed) as caught:
        parse_token_reply(status, body)
    assert message in caught.value.user_message
    assert caught.value.retry_may_help


def test_tokens_must_fit_a_header_as_they_are() -> None:
    assert is_usable_token("eyJ.eyJ.sig-_")
    for bad in ["", "a b", "a\nb", "tökén", "x" * 4097, None, 42]:
        assert not is_usable_token(bad), bad


def test_a_ticket_reply_is_read_or_refused() -> None:
    assert parse_ticket_reply('{"ticket": "t.k.t", "expires_in": 30}') == "t.k.t"
    for body in ["{}", "nope", '{"ticket": null}']:
        with pytest.raises(ProtocolError):
            parse_ticket_reply(body)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("api/chat", "api/ticket"),
        ("/api/chat?fault=drop:3", "/api/ticket"),
        ("https://api.example/api/chat#x", "https://api.example/api/ticket"),
        ("https://api.example/v2/api/chat", "https://api.example/v2/api/ticket"),
    ],
)
def test_tickets_are_asked_for_beside_the_chat_endpoint(endpoint: str, expected: str) -> None:
    assert ticket_url(endpoint) == expected


def test_a_ticket_goes_last_in_the_eventsource_url_and_only_when_there_is_one() -> None:
    assert "ticket" not in get_url(REQUEST, "3")
    url = get_url(StreamRequest("api/chat", "q", "r1", ticket="t.k-t"), "3")
    assert url == "api/chat?q=q&rid=r1&last_event_id=3&ticket=t.k-t"


def test_tokens_are_renewed_shortly_before_they_expire() -> None:
    assert refresh_after(600) == 540  # a minute early
    assert refresh_after(30) == 24  # a fifth of its life early
    assert refresh_after(0) == 0
    assert refresh_after(-3) == 0


# The token source ------------------------------------------------------------------------


async def test_without_a_provider_or_a_set_token_nothing_is_configured() -> None:
    tokens = TokenSource(now=Clock())
    assert not tokens.configured
    assert await tokens.token() is None
    tokens.set("a.b.c")
    assert tokens.configured
    assert await tokens.token() == "a.b.c"
    tokens.set(None)
    assert not tokens.configured
    with pytest.raises(ValueError, match="visible ASCII"):
        tokens.set("a b")


async def test_a_providers_token_is_kept_until_shortly_before_it_expires() -> None:
    clock, provider = Clock(), Provider("one", "two", expires_in=100)
    tokens = TokenSource(provider, now=clock)
    assert tokens.configured
    assert tokens.cached() is None
    assert await tokens.token() == "one"
    clock.now += 79
    assert await tokens.token() == "one"
    assert tokens.cached() == "one"
    clock.now += 1  # 20 s before it expires
    assert tokens.cached() is None
    assert await tokens.token() == "two"
    assert provider.calls == 2


async def test_requests_that_need_a_token_at_once_share_one_provider_request() -> None:
    provider = Provider("one")
    tokens = TokenSource(provider, now=Clock())
    assert list(await asyncio.gather(tokens.token(), tokens.token(), tokens.token())) == ["one"] * 3
    assert provider.calls == 1


async def test_a_stop_while_waiting_for_the_provider_does_not_fail_the_others() -> None:
    tokens = TokenSource(Provider("one"), now=Clock())
    stopped = asyncio.ensure_future(tokens.token())
    other = asyncio.ensure_future(tokens.token())
    await asyncio.sleep(0)
    stopped.cancel()
    assert await other == "one"


async def test_a_set_token_is_used_until_refused_then_the_providers() -> None:
    provider = Provider("provided")
    tokens = TokenSource(provider, now=Clock())
    tokens.set("from-host")
    assert await tokens.token() == "from-host"
    assert provider.calls == 0
    assert await tokens.renew("from-host") == "provided"
    assert await tokens.token() == "provided"
    tokens.set("newer")  # the latest token given wins
    assert await tokens.token() == "newer"


async def test_renewing_finds_a_token_set_meanwhile_without_asking() -> None:
    provider = Provider("provided")
    tokens = TokenSource(provider, now=Clock())
    tokens.set("old")
    tokens.set("new")
    assert await tokens.renew("old") == "new"
    assert provider.calls == 0


async def test_without_a_provider_there_is_nothing_to_renew_with() -> None:
    tokens = TokenSource(now=Clock())
    tokens.set("only")
    assert await tokens.renew("only") is None
    assert await tokens.token() == "only"  # its refusal says why better than "sign in"


async def test_a_provider_that_gives_the_refused_token_again_renews_nothing() -> None:
    tokens = TokenSource(Provider("same"), now=Clock())
    assert await tokens.token() == "same"
    assert await tokens.renew("same") is None


async def test_a_failing_provider_fails_each_request_and_is_asked_afresh_next_time() -> None:
    provider = Provider(SignInFailed("down."), "back")
    tokens = TokenSource(provider, now=Clock())
    with pytest.raises(SignInFailed, match="down"):
        await tokens.token()
    assert await tokens.token() == "back"


# The signed transport --------------------------------------------------------------------


async def test_without_a_token_requests_go_out_as_before() -> None:
    inner, tickets = FakeTransport(answer("Hello")), Tickets()
    text, error = await answer_over(SignedTransport(inner, TokenSource(now=Clock()), tickets))
    assert (text, error) == ("Hello", None)
    assert inner.requests == [REQUEST]
    assert tickets.asked == []


async def test_fetch_sends_the_token_in_a_header() -> None:
    inner, tokens = FakeTransport(answer("Hello")), TokenSource(Provider("tok.en"), now=Clock())
    text, error = await answer_over(SignedTransport(inner, tokens))
    assert (text, error) == ("Hello", None)
    [request] = inner.requests
    assert authorization(request) == ["Bearer tok.en"]
    assert request.ticket == ""
    assert "tok.en" not in get_url(request)


async def test_every_eventsource_connection_gets_a_new_ticket_and_a_drop_is_closed() -> None:
    # Drops after "Hello", then resumes: two connections, two tickets, one token.
    inner = FakeTransport(Attempt([token("1", "Hello ")], "drop"), answer("Hello ", "world"))
    provider, tickets = Provider("tok.en"), Tickets(inner=inner)
    transport = SignedTransport(inner, TokenSource(provider, now=Clock()), tickets)
    text, error = await answer_over(transport)
    assert (text, error) == ("Hello world", None)
    assert tickets.asked == [("https://api.example/api/ticket", "tok.en")] * 2
    assert [r.ticket for r in inner.requests] == ["ticket-1", "ticket-2"]
    assert inner.resumed_from == ["", "1"]
    assert all(authorization(r) == [] for r in inner.requests)
    assert provider.calls == 1
    # Closed at the drop, before the resume: a native EventSource must not reconnect itself.
    assert tickets.closed_before == [0, 1]
    url = get_url(inner.requests[1], "1")
    assert parse_qs(urlsplit(url).query)["ticket"] == ["ticket-2"]
    assert "tok.en" not in url


async def test_a_refused_token_is_renewed_once_and_the_request_repeated() -> None:
    inner, provider = FakeTransport(refused(), answer("Hello")), Provider("old", "new")
    text, error = await answer_over(SignedTransport(inner, TokenSource(provider, now=Clock())))
    assert (text, error) == ("Hello", None)
    assert [authorization(r) for r in inner.requests] == [["Bearer old"], ["Bearer new"]]
    assert provider.calls == 2


async def test_a_second_refusal_stands_in_the_servers_words_without_a_loop() -> None:
    inner, provider = FakeTransport(refused(), refused()), Provider("old", "new", "newer")
    _, error = await answer_over(SignedTransport(inner, TokenSource(provider, now=Clock())))
    assert isinstance(error, AnswerFailed)
    assert error.user_message == EXPIRED
    assert not error.retry_may_help
    assert inner.attempts == 2
    assert provider.calls == 2


async def test_a_refusal_with_no_other_token_to_try_is_not_repeated() -> None:
    tokens = TokenSource(now=Clock())
    tokens.set("only")
    inner = FakeTransport(refused())
    _, error = await answer_over(SignedTransport(inner, tokens))
    assert isinstance(error, AnswerFailed)
    assert error.user_message == EXPIRED
    assert inner.attempts == 1


async def test_a_refused_ticket_request_is_renewed_once() -> None:
    inner, provider = FakeTransport(answer("Hello")), Provider("old", "new")
    tickets = Tickets(HTTPStatus(401, None, EXPIRED, "auth"))
    transport = SignedTransport(inner, TokenSource(provider, now=Clock()), tickets)
    assert await answer_over(transport) == ("Hello", None)
    assert [token for _url, token in tickets.asked] == ["old", "new"]
    assert inner.requests[0].ticket == "ticket-2"


async def test_a_refused_ticket_in_the_stream_gets_one_more_try_with_a_new_ticket() -> None:
    # No provider: the host's token may be fine; it was the ticket that was refused.
    tokens = TokenSource(now=Clock())
    tokens.set("host.token")
    inner, tickets = FakeTransport(auth_event(), answer("Hello")), Tickets()
    assert await answer_over(SignedTransport(inner, tokens, tickets)) == ("Hello", None)
    assert [r.ticket for r in inner.requests] == ["ticket-1", "ticket-2"]


async def test_a_second_refusal_in_the_stream_ends_the_answer_with_its_message() -> None:
    provider, tickets = Provider("old", "new", "newer"), Tickets()
    inner = FakeTransport(auth_event(EXPIRED), auth_event(EXPIRED))
    transport = SignedTransport(inner, TokenSource(provider, now=Clock()), tickets)
    _, error = await answer_over(transport)
    assert isinstance(error, AnswerFailed)
    assert error.user_message == EXPIRED
    assert inner.attempts == 2
    assert provider.calls == 2
    assert [token for _url, token in tickets.asked] == ["old", "new"]


async def test_other_refusals_are_left_to_the_retry_policy() -> None:
    busy = Attempt([], HTTPStatus(503, 0.5, "The model is busy.", "busy"))
    inner, provider = FakeTransport(busy, answer("Hello")), Provider("tok.en")
    transport = SignedTransport(inner, TokenSource(provider, now=Clock()))
    assert await answer_over(transport) == ("Hello", None)
    assert provider.calls == 1


async def test_a_provider_that_fails_ends_the_answer_with_a_clear_message() -> None:
    provider = Provider(SignInFailed("the sign-in service answered HTTP 500."))
    inner, tickets = FakeTransport(answer("Hello")), Tickets()
    transport = SignedTransport(inner, TokenSource(provider, now=Clock()), tickets)
    _, error = await answer_over(transport)
    assert isinstance(error, SignInFailed)
    assert error.user_message == "Could not sign in: the sign-in service answered HTTP 500."
    assert provider.calls == 1
    assert tickets.asked == []
    assert inner.attempts == 0


async def test_a_token_refused_for_good_is_not_sent_again() -> None:
    inner = FakeTransport(refused(), refused(), answer("Hello"))
    provider = Provider("old", "new", "newest")
    transport = SignedTransport(inner, TokenSource(provider, now=Clock()))
    _, error = await answer_over(transport)
    assert isinstance(error, AnswerFailed)
    assert await answer_over(transport) == ("Hello", None)
    assert [authorization(r) for r in inner.requests] == [
        ["Bearer old"],
        ["Bearer new"],
        ["Bearer newest"],
    ]


async def test_a_plain_401_counts_as_a_refused_token() -> None:
    # A back end on another origin may not expose X-Error-Code to the page.
    plain = Attempt([], HTTPStatus(401, None, "Unauthorized", None))
    inner, provider = FakeTransport(plain, answer("Hello")), Provider("old", "new")
    transport = SignedTransport(inner, TokenSource(provider, now=Clock()))
    assert await answer_over(transport) == ("Hello", None)


async def test_a_token_set_while_the_provider_answers_wins() -> None:
    tokens = TokenSource(Provider("provided"), now=Clock())
    asking = asyncio.ensure_future(tokens.token())
    await asyncio.sleep(0)
    tokens.set("from-host")
    assert await asking == "from-host"
    assert await tokens.token() == "from-host"
