"""Streams one answer over any transport, retrying and resuming it without repeating a word."""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import quote, urlencode

from streamchat.protocol import (
    AnswerFailed,
    AnswerRefused,
    Citations,
    Context,
    Done,
    Finish,
    Message,
    Ping,
    ProtocolError,
    Reasoning,
    ServerError,
    ServerFailed,
    ServerUnreachable,
    StreamBroken,
    StreamError,
    Token,
    Usage,
    load_json,
    parse_message,
)
from streamchat.retry import RetryPolicy, is_retryable_status, retry_delay
from streamchat.sse import ServerSentEvent

__all__ = [
    "BadContentType",
    "ConnectionFailed",
    "Cursor",
    "HTTPStatus",
    "HistoryItem",
    "Reconnecting",
    "StreamDropped",
    "StreamRequest",
    "Transport",
    "TransportError",
    "error_message",
    "get_url",
    "post_body",
    "stream_query",
]


@dataclass(frozen=True)
class HistoryItem:
    """One earlier turn of the conversation, sent so the back end can answer in context."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class StreamRequest:
    """What to ask and where; `rid` names the answer, so every retry resumes the same one."""

    endpoint: str
    question: str
    rid: str
    history: tuple[HistoryItem, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # e.g. (("Authorization", "Bearer x"),)
    #: The rid of the previous answer in this conversation: over GET, which has no body, the
    #: back end finds the earlier turns from it.
    parent: str = ""
    #: Continue the answer `parent` (cut off by the model) rather than answer anew.
    continuing: bool = False
    #: With sign-in, over GET: the one-time ticket for this connection (app/auth.py).
    ticket: str = ""


def get_url(request: StreamRequest, last_event_id: str = "") -> str:
    """The EventSource URL: `endpoint?q=…&rid=…[&parent=…][&continue=1]`, plus
    `&last_event_id=n` when resuming and `&ticket=…` with sign-in."""
    params = [("q", request.question), ("rid", request.rid)]
    if request.parent:
        params.append(("parent", request.parent))
    if request.continuing:
        params.append(("continue", "1"))
    if last_event_id:
        params.append(("last_event_id", last_event_id))
    if request.ticket:
        params.append(("ticket", request.ticket))
    query = urlencode(params, quote_via=quote)
    base, hash_mark, fragment = request.endpoint.partition("#")
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return f"{base}{separator}{query}{hash_mark}{fragment}"


def post_body(request: StreamRequest) -> str:
    """The fetch transport's JSON body: `{"question", "rid", "history"[, "parent", "continue"]}`."""
    history = [{"role": item.role, "content": item.content} for item in request.history]
    body: dict[str, object] = {"question": request.question, "rid": request.rid, "history": history}
    if request.parent:
        body["parent"] = request.parent
    if request.continuing:
        body["continue"] = True
    return json.dumps(body)


def error_message(body: str) -> str:
    """The reason in an error reply's JSON body (`{"error": "..."}`), or "" when it has none."""
    try:
        document = load_json(body)  # depth checked first: the body is anyone's
    except ValueError:
        return ""
    reason = document.get("error") if isinstance(document, dict) else None
    return reason.strip()[:500] if isinstance(reason, str) else ""


class TransportError(Exception):
    """A transport's report of why a connection failed or ended early."""


class ConnectionFailed(TransportError):
    """No response at all: the network failed or the server could not be reached. Retried."""


class StreamDropped(TransportError):
    """The stream broke off, or errored, before `[DONE]`. Retried."""


class HTTPStatus(TransportError):
    """A reply other than 200. Retried only for a 5xx, 408 or 429.

    `retry_after` is the delay in seconds the server asked for (`Retry-After`), if any;
    `message` the reason its body gave (a JSON `{"error": "..."}`), and `code` its kind.
    """

    def __init__(
        self,
        status: int,
        retry_after: float | None = None,
        message: str = "",
        code: str | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}" + (f": {message}" if message else ""))
        self.status = status
        self.retry_after = retry_after
        self.message = message
        self.code = code


class BadContentType(TransportError):
    """A 200 reply that is not `text/event-stream` (a proxy's HTML page, say). Never retried."""

    def __init__(self, content_type: str) -> None:
        super().__init__(f"expected text/event-stream, got {content_type!r}")
        self.content_type = content_type


class Transport(Protocol):
    """One way of opening the event stream (EventSource, fetch, or a test double)."""

    def events(
        self, request: StreamRequest, last_event_id: str
    ) -> AsyncIterator[ServerSentEvent | None]:
        """Open one connection, resuming after `last_event_id` when it is not empty.

        Yields the connection's events; may also yield None when bytes arrived that completed
        no event (a `: ping` comment), which proves the connection alive. Raises
        TransportError subclasses, and ends normally only when the server closed the stream.
        """
        ...

    @property
    def retry_ms(self) -> int | None:
        """The server's `retry:` as last seen, in milliseconds, or None."""
        ...

    async def close(self) -> None:
        """Abort the current connection at once. Idempotent; `events` may be called again."""
        ...


@dataclass(frozen=True)
class Reconnecting:
    """Yielded before waiting `delay` seconds for retry `attempt` of `max_attempts`.

    `message` is the server's own words when it said why (a busy model), else "".
    """

    attempt: int
    max_attempts: int
    delay: float
    reason: str
    message: str = ""


@dataclass
class Cursor:
    """How far an answer has got: the id of the last event received. Kept with the answer's
    text, it lets a page that was reloaded resume exactly where it left off."""

    last_event_id: str = ""


#: Everything `stream_query` yields.
Item = Token | Reasoning | Citations | Usage | Finish | Context | Ping | Done | Reconnecting


async def stream_query(
    request: StreamRequest,
    transport: Transport,
    *,
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008 (frozen, so one shared default is safe)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
    now: Callable[[], float] = time.monotonic,
    wait_for: WaitFor | None = None,
    cursor: Cursor | None = None,
) -> AsyncGenerator[Item, None]:
    """Yield the answer's messages (Context, Reasoning, Token, Finish, Usage, Citations, then
    Done), with Reconnecting in between, and Ping for each heartbeat: the back end is alive
    and the model still working (every event, heartbeats included, restarts the stall watch).

    A dropped, stalled or failed (5xx, 408, 429, or an error event marked retryable)
    connection is reopened with the same request, resuming after the last event ID seen;
    any event the server sends again (numeric id not above the highest seen) is skipped, so
    no text is shown twice. An answer gets at most `policy.max_retries` retries in all:
    progress does not earn it more, so an answer that keeps breaking ends within a bounded
    time. Then, or at once for a failure that retrying cannot fix, it raises a StreamError.
    The transport is closed however this ends, including when the consumer stops iterating
    (that is how Stop works).

    `sleep`, `rng` and `now` default to `asyncio.sleep`, `random.random` and
    `time.monotonic`; tests pass fakes, so that no test waits for a real back-off.

    `cursor`: starts after its `last_event_id` (a page reloaded mid-answer resumes there) and
    is kept current before each message is yielded, so that it always matches the messages
    the consumer has seen.
    """
    started = now()
    wait_for = wait_for or StallTimer()
    cursor = cursor if cursor is not None else Cursor()
    resume = _Resume(cursor.last_event_id)
    text_started = False  # some text of the answer was shown, so a failure is mid-answer
    retries = 0
    try:
        while True:
            failure: _Failure
            events = transport.events(request, resume.last_event_id)
            resume.new_connection()
            try:
                while True:
                    try:
                        event = await wait_for(anext(events), policy.stall_timeout)
                    except StopAsyncIteration:
                        failure = _Failure("dropped", "the server closed the stream before [DONE]")
                        break
                    except TimeoutError:
                        failure = _Failure("dropped", "stalled")
                        break
                    except TransportError as exc:
                        # The transport has already ended this connection its own way (the
                        # EventSource transport parks a native source that is reconnecting).
                        failure = _failure_from(exc, transport_ended=True)
                        break
                    if event is None:
                        continue
                    message = _message_in(event)
                    if resume.is_resent(event.id, message):
                        continue
                    resume.note(event.id)
                    cursor.last_event_id = resume.last_event_id
                    if message is None:
                        continue
                    text_started = text_started or isinstance(message, Token | Reasoning)
                    if isinstance(message, Done):
                        # Closed before yielding: a consumer that stops at Done without
                        # closing this generator must not leave the connection open.
                        await _close_events(events)
                        await transport.close()
                        yield message
                        return
                    if isinstance(message, ServerError):
                        if not message.retryable:
                            raise AnswerFailed(message, retries + 1)
                        failure = _Failure(
                            "server_error",
                            f"server error: {message.message}",
                            retry_after=message.retry_after,
                            error=message,
                        )
                        break
                    yield message
            finally:
                await _close_events(events)
            if not failure.transport_ended:
                # Ends a connection that is still open, after a stall or a retryable error.
                await transport.close()
            if retries >= policy.max_retries:
                raise _give_up(failure, text_started, retries + 1, now() - started)
            retries += 1
            delay = retry_delay(
                policy,
                retries,
                rng,
                server_retry_ms=transport.retry_ms,
                retry_after=failure.retry_after,
            )
            words = failure.error.message if failure.error is not None else ""
            yield Reconnecting(retries, policy.max_retries, delay, failure.reason, words)
            await sleep(delay)
    finally:
        await transport.close()


class StallTimer:
    """`asyncio.wait_for` for a stream's events, with one timer per stall period instead of
    one per event.

    `asyncio.wait_for` arms a timer for every event and cancels it when the event comes: in
    the browser each is a `setTimeout` and a `clearTimeout` through JS interop, thousands a
    minute for a fast model. Here each event only moves the deadline; the one timer, when
    it fires early, re-arms itself at the deadline, and only a deadline that has really
    passed while an event is awaited stalls the stream (`TimeoutError`, as `wait_for`).
    """

    def __init__(self) -> None:
        self._deadline = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Task[object] | None = None
        self._stalled = False

    async def __call__(
        self, awaitable: Awaitable[ServerSentEvent | None], seconds: float
    ) -> ServerSentEvent | None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None, "awaited outside a task"
        self._deadline = loop.time() + seconds
        if self._handle is None:
            self._handle = loop.call_at(self._deadline, self._fire)
        self._waiter, self._stalled = task, False
        cancelling = task.cancelling()
        try:
            return await awaitable
        except asyncio.CancelledError:
            # Ours only when no one else (Stop) asked to cancel the task meanwhile.
            if self._stalled and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            self._waiter, self._stalled = None, False

    def _fire(self) -> None:
        self._handle = None
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._handle = loop.call_at(self._deadline, self._fire)
        elif self._waiter is not None and not self._stalled:
            self._stalled = True
            self._waiter.cancel()


WaitFor = Callable[[Awaitable[ServerSentEvent | None], float], Awaitable[ServerSentEvent | None]]

_FailureKind = Literal["unreachable", "dropped", "status", "server_error"]


@dataclass(frozen=True)
class _Failure:
    """Why one connection attempt ended without the answer: a retry is worth a try."""

    kind: _FailureKind
    reason: str
    status: int | None = None
    retry_after: float | None = None
    transport_ended: bool = False
    error: ServerError | None = None  # the server's own report, when it sent one


class _Resume:
    """The stream position to resume from, and the test for events the server sends again."""

    def __init__(self, after: str = "") -> None:
        self.last_event_id = after
        self._highest: int | None = _sequence_number(after)
        self._previous_id: str | None = None

    def new_connection(self) -> None:
        self._previous_id = None

    def is_resent(self, event_id: str, message: Message | None) -> bool:
        """Whether this event was received before, judged by its numeric id.

        Only content (text, reasoning, citations…) is judged: a `[DONE]`, a heartbeat or an
        error with no `id:` line
        of its own carries the previous event's id, and must never be dropped. For the same
        reason an event whose id equals the previous one on this connection is not a resend.
        """
        previous, self._previous_id = self._previous_id, event_id
        number = _sequence_number(event_id)
        return (
            isinstance(message, Token | Reasoning | Citations | Usage | Finish | Context)
            and number is not None
            and self._highest is not None
            and number <= self._highest
            and event_id != previous
        )

    def note(self, event_id: str) -> None:
        """Remember a received event's id as the point to resume after."""
        number = _sequence_number(event_id)
        if number is None:
            if event_id:
                self.last_event_id = event_id
        elif self._highest is None or number > self._highest:
            self._highest = number
            self.last_event_id = event_id


def _sequence_number(event_id: str) -> int | None:
    return int(event_id) if event_id.isascii() and event_id.isdigit() else None


def _message_in(event: ServerSentEvent) -> Message | None:
    # Named event types are not part of the contract; like unknown `type`s, they are skipped.
    if event.event != "message":
        return None
    return parse_message(event.data)


def _failure_from(error: TransportError, *, transport_ended: bool) -> _Failure:
    """The retryable failure a transport reported, or raise the StreamError that ends the answer."""
    if isinstance(error, ConnectionFailed):
        return _Failure(
            "unreachable", f"connection failed: {error}", transport_ended=transport_ended
        )
    if isinstance(error, StreamDropped):
        return _Failure("dropped", f"connection dropped: {error}", transport_ended=transport_ended)
    if isinstance(error, HTTPStatus):
        status = error.status
        if is_retryable_status(status):
            # A back end that said why (a rate limit, a busy model) is quoted, in the wait
            # and in the end: "You are sending questions too quickly; try again in 20 s."
            said = None
            if error.message:
                said = ServerError(error.message, True, error.retry_after, error.code)
            return _Failure(
                "status", f"HTTP {status}", status, error.retry_after, transport_ended, said
            )
        if status == 204:
            raise AnswerRefused("it had no answer to send (HTTP 204)") from error
        if 400 <= status <= 499:
            if error.message:
                # The server said why, in words meant for people: show them as they are.
                refusal = ServerError(error.message, code=error.code or "bad-request")
                raise AnswerFailed(refusal, 1) from error
            raise AnswerRefused(_status_text(status)) from error
        raise ServerFailed(status, f"unexpected {_status_text(status)}") from error
    if isinstance(error, BadContentType):
        raise ProtocolError(str(error)) from error
    return _Failure("dropped", f"transport error: {error!r}", transport_ended=transport_ended)


def _give_up(failure: _Failure, text_started: bool, attempts: int, elapsed: float) -> StreamError:
    detail = f"gave up after {attempts} attempts in {elapsed:.1f} s; last: {failure.reason}"
    if failure.error is not None:
        return AnswerFailed(failure.error, attempts)
    if failure.kind == "status":
        return ServerFailed(failure.status, detail)
    if failure.kind == "unreachable" and not text_started:
        return ServerUnreachable(detail)
    return StreamBroken(detail, mid_answer=text_started)


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


async def _close_events(events: AsyncIterator[ServerSentEvent | None]) -> None:
    # An abandoned async generator would otherwise be finalized whenever the garbage
    # collector gets to it, running the transport's cleanup at some arbitrary later time.
    if isinstance(events, AsyncGenerator):
        with contextlib.suppress(TransportError):
            await events.aclose()
