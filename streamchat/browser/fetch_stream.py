"""`fetch` + `ReadableStream` (POST with a JSON body and headers), decoded by `streamchat.sse`.

`pyscript.fetch` can neither stream nor abort, so this uses `js.fetch` with an
AbortController and reads the body with `getReader()`. Unlike a native EventSource it sees
the HTTP status and `Retry-After`, so it can refuse to retry a 204 or a 4xx.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from streamchat.browser.frames import TimeSlices
from streamchat.client import (
    BadContentType,
    ConnectionFailed,
    HTTPStatus,
    StreamDropped,
    StreamRequest,
    error_message,
    post_body,
)
from streamchat.retry import parse_retry_after
from streamchat.sse import ServerSentEvent, SSEDecoder


class FetchTransport:
    """POST `{endpoint}` with `{"question", "rid", "history"}` and stream the response body."""

    def __init__(self) -> None:
        self._controller: Any = None
        self._retry_ms: int | None = None

    @property
    def retry_ms(self) -> int | None:
        return self._retry_ms

    async def events(
        self, request: StreamRequest, last_event_id: str
    ) -> AsyncIterator[ServerSentEvent | None]:
        controller = self._controller = js.AbortController.new()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        headers.update(dict(request.headers))
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        options = {
            "method": "POST",
            "body": post_body(request),
            "headers": headers,
            "signal": controller.signal,
            "cache": "no-store",
        }
        try:
            response = await js.fetch(
                request.endpoint, to_js(options, dict_converter=js.Object.fromEntries)
            )
        except JsException as exc:
            raise ConnectionFailed(f"fetch failed: {exc}") from exc
        if response.status != 200:
            retry_after = parse_retry_after(_header(response, "Retry-After"), time.time())
            message = await _error_message(response)
            code = _header(response, "X-Error-Code")
            raise HTTPStatus(int(response.status), retry_after, message, code)
        content_type = _header(response, "Content-Type") or ""
        if content_type.split(";")[0].strip().lower() != "text/event-stream":
            raise BadContentType(content_type)
        reader = response.body.getReader()
        decoder = SSEDecoder()
        decoder.last_event_id = last_event_id
        slices = TimeSlices()
        try:
            while True:
                try:
                    chunk = await reader.read()
                    slices.restart()
                except JsException as exc:
                    raise StreamDropped(f"the response body broke off: {exc}") from exc
                if chunk.done:
                    return
                events = decoder.feed(chunk.value.to_bytes())
                if decoder.retry is not None:
                    self._retry_ms = decoder.retry
                if not events:
                    # Bytes arrived (a ping, half an event): the stream is alive.
                    yield None
                for event in events:
                    await slices.pause()  # a large chunk (a backlog) in several tasks
                    yield event
        finally:
            controller.abort()

    async def close(self) -> None:
        if self._controller is not None:
            self._controller.abort()
            self._controller = None


async def _error_message(response: Any) -> str:
    """The reason a JSON error body gives (`{"error": "..."}`), or ""."""
    content_type = _header(response, "Content-Type") or ""
    if "json" not in content_type:
        return ""
    try:
        return error_message(str(await response.text()))
    except JsException:
        return ""


def _header(response: Any, name: str) -> str | None:
    # Headers.get() returns JS null for a missing header, which Pyodide gives us as
    # `jsnull`, not None: falsy, but without any str method.
    value = response.headers.get(name)
    return str(value) if value else None
