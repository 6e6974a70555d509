"""Sign-in on the page: an access token from a token provider or the host, and a fresh ticket
for every EventSource opened (docs/security.md, "Sign-in").

Pure: the browser shell (app/browser/auth.py) does the fetches and hands them in as
functions, so the rules (when to ask for a token, when to retry a refusal, what a reply
means) run and are tested in CPython.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from urllib.parse import urljoin

from streamchat.client import HTTPStatus, StreamRequest, Transport, TransportError
from streamchat.protocol import ProtocolError, ServerError, StreamError, parse_message
from streamchat.sse import ServerSentEvent

__all__ = [
    "ProvidedToken",
    "SignInFailed",
    "SignedTransport",
    "TokenSource",
    "is_usable_token",
    "parse_ticket_reply",
    "parse_token_reply",
    "refresh_after",
    "ticket_url",
]

#: Longest token or ticket the page sends (the reference back end refuses longer ones).
MAX_TOKEN_CHARS = 4096
#: Asks the provider for a token.
Provider = Callable[[], Awaitable["ProvidedToken"]]
#: POSTs to the ticket URL with the token (None: without one); the ticket, or raises a
#: TransportError (HTTPStatus with code "auth" for a refused token).
TicketAsker = Callable[[str, str | None], Awaitable[str]]


class SignInFailed(StreamError):
    """The page's token provider gave no usable token: not signed in, down, or broken."""

    def __init__(self, reason: str) -> None:
        self.user_message = f"Could not sign in: {reason}"
        super().__init__(self.user_message)


@dataclass(frozen=True)
class ProvidedToken:
    """A token provider's reply: the token, and for how many seconds it is valid (None: the
    provider did not say, so it is used until the back end refuses it)."""

    token: str
    expires_in: float | None = None


def is_usable_token(value: object) -> bool:
    """Whether `value` can travel in an `Authorization: Bearer` header as it is: visible ASCII,
    no spaces, at most MAX_TOKEN_CHARS (a JWT always is)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_TOKEN_CHARS
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


def parse_token_reply(status: int, body: str) -> ProvidedToken:
    """The token in a provider's reply `{"token": "...", "expires_in": N}`; raises SignInFailed
    with words for the reader (the provider's own `{"error": "..."}` when it gave one)."""
    document = _json_object(body)
    if status != 200:
        said = document.get("error") if document is not None else None
        if isinstance(said, str) and said.strip():
            raise SignInFailed(_sentence(said.strip()[:300]))
        raise SignInFailed(f"the sign-in service answered HTTP {status}.")
    token = document.get("token") if document is not None else None
    if not is_usable_token(token):
        raise SignInFailed("the sign-in service sent no usable access token.")
    assert isinstance(token, str)
    return ProvidedToken(token, _seconds(document.get("expires_in") if document else None))


def parse_ticket_reply(body: str) -> str:
    """The ticket in the back end's `{"ticket": "...", "expires_in": N}`; raises ProtocolError."""
    document = _json_object(body)
    ticket = document.get("ticket") if document is not None else None
    if not is_usable_token(ticket):
        raise ProtocolError(f"the ticket reply has no ticket: {body[:80]!r}")
    assert isinstance(ticket, str)
    return ticket


def ticket_url(endpoint: str) -> str:
    """Where tickets are asked for: `ticket` beside the chat endpoint (`/api/chat` →
    `/api/ticket`, `https://api.example/api/chat?x=1` → `https://api.example/api/ticket`),
    relative to the page when the endpoint is."""
    return urljoin(endpoint.split("#", 1)[0], "ticket")


def refresh_after(expires_in: float) -> float:
    """Seconds after its arrival when a token is renewed before it is used again: shortly
    before it expires (a fifth of its life early, at most a minute), so that a request never
    leaves with a token about to lapse."""
    expires_in = max(0.0, expires_in)
    return expires_in - min(60.0, expires_in / 5)


class TokenSource:
    """The page's access token: the one the page or the widget's host set (`set`), else the
    token provider's, kept until shortly before it expires. The latest token given wins.

    `configured` is False until there is a provider or a set token: then requests go out
    exactly as without sign-in (no header, no tickets).
    """

    def __init__(self, provider: Provider | None = None, *, now: Callable[[], float]) -> None:
        self._provider = provider
        self._now = now
        self._token: str | None = None
        self._renew_at: float | None = None  # None: no known expiry
        self._asking: asyncio.Future[str] | None = None
        self._sets = 0  # how many tokens were set: one set while the provider answers wins

    @property
    def configured(self) -> bool:
        return self._provider is not None or self._token is not None

    def set(self, token: str | None) -> None:
        """A token handed over by the page or the host; None forgets it (signing out)."""
        if token is not None and not is_usable_token(token):
            raise ValueError("an access token is visible ASCII without spaces")
        self._token, self._renew_at = token, None
        self._sets += 1

    def cached(self) -> str | None:
        """The token to send now without asking anyone, if there is one still fresh."""
        if self._renew_at is not None and self._now() >= self._renew_at:
            return None
        return self._token

    async def token(self) -> str | None:
        """The token for a request: the cached one, else the provider's (asked at most once at
        a time, however many requests wait). Without a provider, the set token even if the
        back end refused it before: its refusal says why better than "please sign in"."""
        cached = self.cached()
        if cached is not None or self._provider is None:
            return self._token
        return await self._ask()

    async def renew(self, refused: str | None) -> str | None:
        """After the back end refused `refused`: another token to try, or None if there is
        none (no provider, or it gave the same one again). Raises SignInFailed."""
        current = self.cached()
        if current is not None and current != refused:
            return current  # a newer one came meanwhile (set by the host, or another request's)
        if self._provider is None:
            return None
        self.discard(refused)
        token = await self._ask()
        return token if token != refused else None

    def discard(self, refused: str | None) -> None:
        """Forget a token the back end refused, so that the provider is asked for a new one
        next time. Without a provider it stays: its refusal says why better than "sign in"."""
        if self._provider is not None and refused is not None and self._token == refused:
            self._token, self._renew_at = None, None

    async def _ask(self) -> str:
        if self._asking is None:
            asking = self._asking = asyncio.ensure_future(self._ask_provider(self._sets))
            asking.add_done_callback(lambda _done: setattr(self, "_asking", None))
        # Shielded: a Stop that cancels one waiting request must not cancel the others'.
        return await asyncio.shield(self._asking)

    async def _ask_provider(self, sets: int) -> str:
        assert self._provider is not None
        provided = await self._provider()
        if self._sets != sets and self._token is not None:
            return self._token  # the page or the host set a token meanwhile: the latest wins
        self._token = provided.token
        expires_in = provided.expires_in
        self._renew_at = None if expires_in is None else self._now() + refresh_after(expires_in)
        return provided.token


class SignedTransport:
    """A Transport whose requests carry the page's token: `Authorization: Bearer` (fetch), or,
    for a native EventSource, which cannot send headers, a one-time ticket asked for before
    *every* connection it opens and passed as `&ticket=`.

    A refusal with code `auth` (a 401 of the request or the ticket, or the event stream's
    error event) renews the token and tries once more; a second refusal stands, in the
    server's words. Without a configured token it is the inner transport, unchanged.
    """

    def __init__(
        self, inner: Transport, tokens: TokenSource, ask_ticket: TicketAsker | None = None
    ) -> None:
        self._inner = inner
        self._tokens = tokens
        self._ask_ticket = ask_ticket

    @property
    def retry_ms(self) -> int | None:
        return self._inner.retry_ms

    async def close(self) -> None:
        await self._inner.close()

    async def events(
        self, request: StreamRequest, last_event_id: str
    ) -> AsyncIterator[ServerSentEvent | None]:
        if not self._tokens.configured:
            events = self._inner.events(request, last_event_id)
            try:
                async for event in events:
                    yield event
            finally:
                await _aclose(events)
            return
        token = await self._tokens.token()
        retried = False
        while True:
            refusal: HTTPStatus | ServerSentEvent | None = None
            begun = False  # the answer has begun: no refusal comes now
            try:
                events = self._inner.events(await self._signed(request, token), last_event_id)
                try:
                    async for event in events:
                        if not begun and _is_auth_refusal(event):
                            if not retried:
                                refusal = event
                                break
                            self._tokens.discard(token)
                        begun = begun or event is not None
                        yield event
                finally:
                    await _aclose(events)
            except HTTPStatus as error:
                await self._end_connection()
                if not _is_auth_status(error) or begun:
                    raise
                if retried:
                    self._tokens.discard(token)
                    raise
                refusal = error
            except TransportError:
                await self._end_connection()
                raise
            if refusal is None:
                return
            retried = True
            await self._inner.close()
            renewed = await self._tokens.renew(token)
            if renewed is None and isinstance(refusal, HTTPStatus):
                raise refusal  # the same token would be refused the same way
            # A refused ticket (the stream's error event) is worth one more with a new one,
            # even on the same token.
            token = renewed if renewed is not None else token

    async def _signed(self, request: StreamRequest, token: str | None) -> StreamRequest:
        if self._ask_ticket is not None:
            ticket = await self._ask_ticket(ticket_url(request.endpoint), token)
            return replace(request, ticket=ticket)
        if token is None:
            return request
        return replace(request, headers=(*request.headers, ("Authorization", f"Bearer {token}")))

    async def _end_connection(self) -> None:
        # A native EventSource left to reconnect by itself would reuse its spent ticket: with
        # tickets, a dropped connection is closed, and the next one opened with a new ticket.
        if self._ask_ticket is not None:
            await self._inner.close()


async def _aclose(events: AsyncIterator[ServerSentEvent | None]) -> None:
    # At once, rather than whenever the garbage collector finalizes it (as streamchat.client).
    if isinstance(events, AsyncGenerator):
        with contextlib.suppress(TransportError):
            await events.aclose()


def _is_auth_status(error: HTTPStatus) -> bool:
    # A 401 without `X-Error-Code` too: a back end on another origin may not expose it.
    return error.code == "auth" or (error.status == 401 and error.code is None)


def _is_auth_refusal(event: ServerSentEvent | None) -> bool:
    if event is None or event.event != "message" or '"auth"' not in event.data:
        return False
    try:
        message = parse_message(event.data)
    except ProtocolError:
        return False
    return isinstance(message, ServerError) and message.code == "auth"


def _json_object(body: str) -> dict[str, object] | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _seconds(value: object) -> float | None:
    """`expires_in` as seconds: a number, or a string of digits (some providers send one)."""
    if isinstance(value, str) and value.strip().isdigit():
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."
