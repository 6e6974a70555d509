"""The model answerer: forwards the question to an OpenAI-compatible streaming endpoint.

Real servers differ in where they put things: reasoning comes as `reasoning_content`
(DeepSeek, llama.cpp), `reasoning` (vLLM, OpenRouter) or `<think>` tags in the content (a
model served without a reasoning parser); usage comes in a last chunk with no choices
(OpenAI) or in the last chunk with one (llama.cpp); errors come as a status with a JSON body
in one of several shapes, or as an error object in the middle of the stream. This module
reads all of them, and says failures to the user in the model's own words.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import httpx

from server.answerers import aclose
from server.events import AnswerEvent, Finish, Message, Reasoning, ServerError, Usage
from server.think import ThinkSplitter
from streamchat.retry import parse_retry_after

__all__ = [
    "CompletionReader",
    "ModelError",
    "UpstreamAnswerer",
    "model_error",
    "sanitise",
    "status_error",
    "stream_error",
]

log = logging.getLogger(__name__)

#: Bytes of an error response read at most: enough for any model's message, not a whole page.
ERROR_BODY_LIMIT = 4096
#: Characters of the model's own message shown at most.
MESSAGE_LIMIT = 300
#: The longest `Retry-After` passed on: beyond it the page had better tell the user to wait.
RETRY_AFTER_CAP = 300.0
#: The upstream's finish reasons that mean the answer is not complete, as the page names them.
FINISHES = {"length": "length", "content_filter": "content-filter"}

CUT_OFF = ServerError("The model's answer was cut off.", retryable=True)
BUSY = ServerError(
    "The server is answering as many questions as it can; try again in 5 s.", True, 5, "busy"
)
TOO_LONG_ADVICE = (
    "The conversation is too long for this model: start a new chat, or ask more briefly."
)


class UpstreamAnswerer:
    """Streams `POST {url}/chat/completions` and turns the chunks into answer events.

    One call of `answer` is exactly one upstream request: it never retries by itself, since
    the page's retry policy asks again, and each attempt must be one call a quota counts once.
    """

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None,
        client: httpx.AsyncClient,
        *,
        system_prompt: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._api_key = api_key
        self._client = client
        self._now = now  # Unix time, for a `Retry-After` given as an HTTP date

    def request_body(
        self, question: str, history: Sequence[Message], *, continuing: bool = False
    ) -> dict[str, object]:
        """The JSON body of the upstream request.

        With `continuing`, `history` ends with the assistant's partial answer, which servers
        that support assistant prefill (llama.cpp, DeepSeek, Anthropic-compatible ones)
        continue; no user message follows it, and `question` is not used.
        """
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.extend({"role": m["role"], "content": m["content"]} for m in history)
        if not continuing:
            messages.append({"role": "user", "content": question})
        body: dict[str, object] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body

    async def answer(
        self, question: str, history: Sequence[Message], *, continuing: bool = False
    ) -> AsyncIterator[AnswerEvent]:
        body = self.request_body(question, history, continuing=continuing)
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        reader = CompletionReader()
        answering = False
        try:
            async with self._client.stream("POST", self.url, json=body, headers=headers) as resp:
                if resp.status_code >= 400:
                    yield await self._failure(resp)
                    return
                answering = True
                # aclosing: leaving the loop early must not leave generators for the GC.
                async with aclosing(_data_fields(resp.aiter_lines())) as fields:
                    async for data in fields:
                        for event in reader.read(data):
                            yield event
                        if reader.over:
                            return
            for event in reader.end():
                yield event
        except httpx.PoolTimeout:
            # Every connection of the pool is taken (server/app.py keeps this rare).
            log.warning("no upstream connection was free within the pool timeout")
            for event in reader.fail(BUSY):
                yield event
        except httpx.TimeoutException:
            log.warning("upstream timed out", exc_info=True)
            for event in reader.fail(
                ServerError("The model took too long to answer.", retryable=True)
            ):
                yield event
        except httpx.TransportError:
            log.warning("upstream unreachable or cut off", exc_info=True)
            error = CUT_OFF if answering else ServerError("Could not reach the model.", True)
            for event in reader.fail(error):
                yield event

    async def _failure(self, response: httpx.Response) -> ServerError:
        body = await _read_some(response, ERROR_BODY_LIMIT)
        log.warning(
            "upstream answered HTTP %d: %s",
            response.status_code,
            sanitise(body.decode("utf-8", "replace"), 500),
        )
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._now())
        if retry_after is not None:
            retry_after = min(retry_after, RETRY_AFTER_CAP)
        return status_error(response.status_code, model_error(body), retry_after)


class CompletionReader:
    """What a stream of chat-completion chunks means, one event's `data` at a time (sans-I/O).

    `over` turns true once the answer has ended, completely or not; then nothing more is read.
    """

    def __init__(self) -> None:
        self.over = False
        self._think = ThinkSplitter()
        self._finish: str | None = None
        self._usage: Usage | None = None

    def read(self, data: str) -> list[AnswerEvent]:
        """The events that one chunk's `data` (or the `[DONE]` sentinel) brings."""
        if data == "[DONE]":
            return self._complete()
        try:
            chunk = json.loads(data)
        except ValueError:
            log.warning("upstream sent malformed JSON: %s", sanitise(data, 200))
            return self.fail(ServerError("The model sent a malformed answer.", retryable=True))
        if not isinstance(chunk, dict):
            return []
        if chunk.get("error"):
            log.warning("upstream reported an error mid-stream: %s", sanitise(data, 500))
            return self.fail(stream_error(_error_of(chunk)))
        # OpenAI sends `"usage": null` in every chunk but the one that counts.
        if isinstance(usage := chunk.get("usage"), dict):
            self._usage = _usage(usage)
        choices = chunk.get("choices")
        if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)):
            return []
        events: list[AnswerEvent] = []
        delta = choices[0].get("delta")
        if isinstance(delta, dict):
            # Some servers send both names with the same text: one of them, never both.
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(Reasoning(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                events.extend(self._think.feed(content))
        reason = choices[0].get("finish_reason")
        if isinstance(reason, str) and reason:
            self._finish = reason
        return events

    def end(self) -> list[AnswerEvent]:
        """The last events when the stream ended without `[DONE]`.

        Complete if the model said why it finished (some servers never send `[DONE]`),
        cut off otherwise.
        """
        if self.over:
            return []
        return self._complete() if self._finish is not None else self.fail(CUT_OFF)

    def fail(self, error: ServerError) -> list[AnswerEvent]:
        """The last events when the answer fails: what was held back, then `error`."""
        self.over = True
        return [*self._think.end(), error]

    def _complete(self) -> list[AnswerEvent]:
        self.over = True
        events: list[AnswerEvent] = [*self._think.end()]
        if self._finish in FINISHES:
            events.append(Finish(FINISHES[self._finish]))
        if self._usage is not None:
            events.append(self._usage)
        return events


@dataclass(frozen=True)
class ModelError:
    """What the model said about a failure: its message, and its `type` and `code`."""

    #: Sanitised, for the user; "" when the model said nothing readable.
    message: str = ""
    #: The error's `type` and `code` as one lowercase string, to recognise the failure by.
    kind: str = ""
    #: A numeric `code`, which some servers (llama.cpp) set to the HTTP status.
    status: int | None = None

    @property
    def context_overflow(self) -> bool:
        """Whether the conversation did not fit in the model's context window."""
        return _CONTEXT_OVERFLOW.search(f"{self.kind} {self.message}".lower()) is not None


_CONTEXT_OVERFLOW = re.compile(
    r"context[ _-]?(length|size|window)|exceeds? the (available|model'?s) context"
    r"|maximum context|prompt is too long"
)


def model_error(body: bytes) -> ModelError:
    """The model's error from an error response's (first bytes of) body.

    JSON in the common shapes (`error.message`, `error` as text, `message`, `detail`), else
    the body itself when it is short plain text (not an HTML page from a proxy).
    """
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        return _error_of(payload)
    if isinstance(payload, str):
        text = payload
    plain = sanitise(text, limit=len(text) + 1)
    if len(plain) > MESSAGE_LIMIT or plain.startswith(("<", "{", "[")):
        return ModelError()
    return ModelError(plain)


def status_error(status: int, error: ModelError, retry_after: float | None = None) -> ServerError:
    """The error event for an upstream HTTP error status, in the model's own words."""
    said = error.message
    if status in (401, 403):
        return ServerError(
            _say(f"The model refused the server's credentials (HTTP {status})", said), code="auth"
        )
    if status in (429, 503, 529):
        # 529: Anthropic's "overloaded". All three mean "later", so a retry may well succeed.
        return ServerError(_say("The model is busy", said), True, retry_after, "rate-limit")
    if status == 408 or status >= 500:
        return ServerError(_say(f"The model failed (HTTP {status})", said), True, retry_after)
    if status in (400, 413, 422) and error.context_overflow:
        return _too_long(said)
    if said:
        return ServerError(_say("The model rejected the request", said), code="bad-request")
    return ServerError(f"The model rejected the request (HTTP {status}).", code="bad-request")


def stream_error(error: ModelError) -> ServerError:
    """The error event for an error object the model sent in the middle of its answer."""
    if error.context_overflow:
        return _too_long(error.message)
    if error.status in (401, 403) or "invalid_api_key" in error.kind or "auth" in error.kind:
        return ServerError(
            _say("The model refused the server's credentials", error.message), code="auth"
        )
    if error.status == 429 or "rate_limit" in error.kind or "overloaded" in error.kind:
        return ServerError(_say("The model is busy", error.message), True, code="rate-limit")
    return ServerError(_say("The model reported an error", error.message))


def sanitise(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` on one line, without control characters, at most `limit` characters."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _error_of(payload: dict[str, object]) -> ModelError:
    """The error a JSON error body or mid-stream error object describes."""
    error = payload.get("error")
    fields = error if isinstance(error, dict) else payload
    message: object = fields.get("message")
    if not isinstance(message, str):
        message = error if isinstance(error, str) else payload.get("message")
    if not isinstance(message, str):
        message = _detail(payload.get("detail"))
    kinds = [fields.get("type"), fields.get("code"), payload.get("type")]
    code = fields.get("code")
    return ModelError(
        sanitise(message),
        " ".join(str(kind) for kind in kinds if isinstance(kind, str | int)).lower(),
        code if isinstance(code, int) and not isinstance(code, bool) else None,
    )


def _detail(detail: object) -> str:
    """FastAPI's `detail`: a message, or a list of validation errors each with a `msg`."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        msg = detail[0].get("msg")
        return msg if isinstance(msg, str) else ""
    return ""


def _too_long(said: str) -> ServerError:
    message = (
        f"{_sentence(said[:1].upper() + said[1:])} {TOO_LONG_ADVICE}" if said else TOO_LONG_ADVICE
    )
    return ServerError(message, code="context-length")


def _say(what: str, said: str) -> str:
    """`what`, followed by what the model said about it when it said anything."""
    return f"{what}: {_sentence(said)}" if said else f"{what}."


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def _usage(usage: dict[str, object]) -> Usage:
    details = usage.get("completion_tokens_details")
    return Usage(
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        _count(details.get("reasoning_tokens")) if isinstance(details, dict) else None,
    )


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    """At most about `limit` bytes of the body: an error page may be large, or endless."""
    body = bytearray()
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) >= limit:
                break
    finally:
        await aclose(chunks)
    return bytes(body[:limit])


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
