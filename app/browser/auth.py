"""Sign-in, the browser's part: `fetch` for the token provider and for tickets, the tokens the
page or the widget's host hand over (`window.streamchat.setToken`, static/boot.js), and the
Stop's keepalive DELETE with the token. The rules are app/auth.py's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found]
    JsException,
    create_once_callable,
    create_proxy,
    to_js,
)

from app.auth import (
    ProvidedToken,
    SignedTransport,
    SignInFailed,
    TokenSource,
    is_usable_token,
    parse_ticket_reply,
    parse_token_reply,
)
from streamchat.browser.eventsource import EventSourceTransport
from streamchat.client import ConnectionFailed, HTTPStatus, Transport, error_message
from streamchat.retry import parse_retry_after


class SignIn:
    """The page's one source of access tokens; `start` it once the configuration is read."""

    def __init__(self) -> None:
        self.tokens = TokenSource(now=time.monotonic)
        self._token_url = ""
        self._receiver: Any = None
        self._pending: set[asyncio.Future[None]] = set()

    def start(self, token_url: str) -> None:
        """Use the provider at `token_url` ("" for none), and take the tokens handed over by
        `window.streamchat.setToken`, including any set while the runtime was loading."""
        self._token_url = token_url
        self.tokens = TokenSource(self._ask_provider if token_url else None, now=time.monotonic)
        self._receiver = create_proxy(self._on_token)
        js.window.streamchatReceiveTokens(self._receiver)

    def wrap(self, transport: Transport) -> Transport:
        """`transport`, sending the token with every request once one is configured."""
        tickets = isinstance(transport, EventSourceTransport)
        return SignedTransport(transport, self.tokens, self._ask_ticket if tickets else None)

    def delete(self, url: str) -> None:
        """DELETE `url` with keepalive (it outlives the page), with the token when signed in.
        Best effort: any failure is ignored."""
        if not self.tokens.configured:
            _keepalive_delete(url, None)
            return
        token = self.tokens.cached()
        if token is not None:
            _keepalive_delete(url, token)
            return
        task = asyncio.ensure_future(self._delete_when_signed_in(url))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _delete_when_signed_in(self, url: str) -> None:
        try:
            token = await self.tokens.token()
        except SignInFailed:
            token = None
        _keepalive_delete(url, token)

    def _on_token(self, value: Any) -> None:
        # JS null arrives as `jsnull` (not None) in recent Pyodide: anything but a string is None.
        token = value if isinstance(value, str) else None
        if token is not None and not is_usable_token(token):
            js.console.warn("streamchat: setToken ignored a token with spaces or non-ASCII text.")
            return
        self.tokens.set(token)

    async def _ask_provider(self) -> ProvidedToken:
        options = {
            "method": "GET",
            "credentials": "same-origin",
            "cache": "no-store",
            "headers": {"Accept": "application/json"},
        }
        try:
            response = await js.fetch(self._token_url, _options(options))
            body = str(await response.text())
        except JsException:
            raise SignInFailed("the sign-in service could not be reached.") from None
        return parse_token_reply(int(response.status), body)

    async def _ask_ticket(self, url: str, token: str | None) -> str:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        options = {"method": "POST", "headers": headers, "cache": "no-store"}
        try:
            response = await js.fetch(url, _options(options))
            body = str(await response.text())
        except JsException as exc:
            raise ConnectionFailed(f"the ticket request failed: {exc}") from exc
        status = int(response.status)
        if status != 200:
            retry_after = parse_retry_after(_header(response, "Retry-After"), time.time())
            code = _header(response, "X-Error-Code")
            raise HTTPStatus(status, retry_after, error_message(body), code)
        return parse_ticket_reply(body)


def _keepalive_delete(url: str, token: str | None) -> None:
    options: dict[str, object] = {"method": "DELETE", "keepalive": True}
    if token is not None:
        options["headers"] = {"Authorization": f"Bearer {token}"}
    js.fetch(url, _options(options)).catch(create_once_callable(lambda _error: None))


def _options(options: Mapping[str, object]) -> Any:
    return to_js(options, dict_converter=js.Object.fromEntries)


def _header(response: Any, name: str) -> str | None:
    value = response.headers.get(name)  # JS null (`jsnull`) when absent: falsy
    return str(value) if value else None
