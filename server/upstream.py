"""The model answerer: forwards the question to an OpenAI-compatible streaming endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing

import httpx

from server.answerers import aclose
from server.events import AnswerEvent, Message, ServerError, Token

log = logging.getLogger(__name__)


class UpstreamAnswerer:
    """Streams `POST {url}/chat/completions` and turns each delta into a token event.

    Failures become one error event with a message the user can read; the details (status,
    body) go to the log, since they may name internals the page has no business showing.
    """

    def __init__(
        self, url: str, model: str, api_key: str | None, client: httpx.AsyncClient
    ) -> None:
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self._client = client

    async def answer(self, question: str, history: Sequence[Message]) -> AsyncIterator[AnswerEvent]:
        messages = [{"role": m["role"], "content": m["content"]} for m in history]
        messages.append({"role": "user", "content": question})
        request = {"model": self.model, "messages": messages, "stream": True}
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            async with self._client.stream("POST", self.url, json=request, headers=headers) as resp:
                if resp.status_code >= 400:
                    body = (await resp.aread())[:500]
                    log.warning("upstream answered %s: %r", resp.status_code, body)
                    yield status_error(resp.status_code)
                    return
                # aclosing: leaving the loop early must not leave generators for the GC.
                async with aclosing(_data_fields(resp.aiter_lines())) as fields:
                    async for data in fields:
                        if data == "[DONE]":
                            return
                        event = parse_chunk(data)
                        if event is not None:
                            yield event
                            if isinstance(event, ServerError):
                                return
        except httpx.TimeoutException:
            log.warning("upstream timed out", exc_info=True)
            yield ServerError("The model took too long to answer.", retryable=True)
            return
        except httpx.TransportError:
            log.warning("upstream unreachable", exc_info=True)
            yield ServerError("Could not reach the model.", retryable=True)
            return
        yield ServerError("The model's answer was cut off.", retryable=True)


def status_error(status: int) -> ServerError:
    """The error event for an upstream HTTP error status."""
    if status in (401, 403):
        return ServerError("The model refused the server's credentials.")
    if status in (408, 429):
        # Client errors by number, but they mean "later", so a retry may well succeed.
        return ServerError("The model is busy; try again in a moment.", retryable=True)
    if status < 500:
        return ServerError(f"The model rejected the request (HTTP {status}).")
    return ServerError(f"The model failed (HTTP {status}).", retryable=True)


def parse_chunk(data: str) -> AnswerEvent | None:
    """A token for a chunk with text, an error for an error object, None for anything else."""
    try:
        chunk = json.loads(data)
    except ValueError:
        log.warning("upstream sent malformed JSON: %r", data[:200])
        return ServerError("The model sent a malformed answer.", retryable=True)
    if not isinstance(chunk, dict):
        return None
    if "error" in chunk:
        log.warning("upstream reported an error: %r", chunk["error"])
        return ServerError("The model reported an error.")
    try:
        content = chunk["choices"][0]["delta"]["content"]
    except (KeyError, IndexError, TypeError):
        return None  # role-only first chunk, a final chunk with finish_reason, usage…
    return Token(content) if isinstance(content, str) and content else None


async def _data_fields(lines: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """The `data` of each event in an event stream, given its lines."""
    data: list[str] = []
    try:
        async for line in lines:
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
            elif line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(" ") else value)
        # Lenient where the standard is not: some servers omit the last blank line.
        if data:
            yield "\n".join(data)
    finally:
        await aclose(lines)
