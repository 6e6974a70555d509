"""`httpx` (CPython) as a `Transport` for `streamchat.client.stream_query`: scripts, servers, tests.

The CPython counterpart of `streamchat.browser.fetch_stream`: it POSTs the JSON body (or, with
`method="GET"`, asks for the EventSource URL), sends `Last-Event-ID` when resuming, sees the
HTTP status and `Retry-After`, and decodes the body with `streamchat.sse`. httpx is an optional
dependency (`pip install streamchat[httpx]`); importing `streamchat` does not need it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Literal

import httpx

from streamchat.client import (
    BadContentType,
    ConnectionFailed,
    HTTPStatus,
    StreamDropped,
    StreamRequest,
    error_message,
    get_url,
    post_body,
)
from streamchat.retry import parse_retry_after
from streamchat.sse import ServerSentEvent, SSEDecoder

__all__ = ["HttpxTransport"]

#: Bytes of an error reply's body read for its reason; the rest is never read.
MAX_ERROR_BODY = 16_384

#: No read timeout: `stream_query` watches for stalls itself (`RetryPolicy.stall_timeout`),
#: and a heartbeat-less wait for a slow model is not a failure of the connection.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, read=None)


class HttpxTransport:
    """Opens each connection with httpx.

    `client`: an `httpx.AsyncClient` to use (its base URL, auth, proxies, or a test's
    `ASGITransport`); it is left open, as it is the caller's. Without one, each connection
    gets a client of its own, closed with the connection.
    `method`: "POST" (the fetch transport's request, with history and headers) or "GET" (the
    EventSource transport's URL, `&last_event_id=n` when resuming).
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        method: Literal["POST", "GET"] = "POST",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client
        self._method = method
        self._timeout = timeout
        self._response: httpx.Response | None = None
        self._retry_ms: int | None = None

    @property
    def retry_ms(self) -> int | None:
        return self._retry_ms

    async def events(
        self, request: StreamRequest, last_event_id: str
    ) -> AsyncIterator[ServerSentEvent | None]:
        owned = self._client is None
        client = self._client or httpx.AsyncClient(timeout=self._timeout)
        try:
            response = await self._open(client, request, last_event_id)
            self._response = response
            try:
                async for event in self._read(response, last_event_id):
                    yield event
            finally:
                self._response = None
                await response.aclose()
        finally:
            if owned:
                await client.aclose()

    async def close(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            await response.aclose()

    async def _open(
        self, client: httpx.AsyncClient, request: StreamRequest, last_event_id: str
    ) -> httpx.Response:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        headers.update(dict(request.headers))
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        if self._method == "GET":
            outgoing = client.build_request("GET", get_url(request, last_event_id), headers=headers)
        else:
            headers["Content-Type"] = "application/json"
            outgoing = client.build_request(
                "POST", request.endpoint, content=post_body(request).encode(), headers=headers
            )
        try:
            return await client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from exc

    async def _read(
        self, response: httpx.Response, last_event_id: str
    ) -> AsyncIterator[ServerSentEvent | None]:
        if response.status_code != 200:
            raise await _status_error(response)
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "text/event-stream":
            raise BadContentType(content_type)
        decoder = SSEDecoder()
        decoder.last_event_id = last_event_id
        chunks = response.aiter_bytes()
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except (httpx.HTTPError, httpx.StreamError) as exc:
                raise StreamDropped(f"the response body broke off: {exc!r}") from exc
            events = decoder.feed(chunk)
            if decoder.retry is not None:
                self._retry_ms = decoder.retry
            if not events:
                yield None  # bytes that completed no event (a ping): the stream is alive
            for event in events:
                yield event


async def _status_error(response: httpx.Response) -> HTTPStatus:
    retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
    message = ""
    if "json" in response.headers.get("Content-Type", ""):
        body = b""
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= MAX_ERROR_BODY:
                    break
        except (httpx.HTTPError, httpx.StreamError):
            pass
        message = error_message(body[:MAX_ERROR_BODY].decode("utf-8", "replace"))
    return HTTPStatus(
        response.status_code, retry_after, message, response.headers.get("X-Error-Code")
    )
