"""Fault injection for tests: the `fault` query parameter makes the server misbehave on purpose.

Only `python -m server --faults` serves it: `FaultyChat` is the chat endpoint with the faults
wrapped around each answer, and a route that tells tests what the server saw. The parameter
is a comma-separated list of `kind:arg` items; see `parse_faults` for the kinds.
"""

from __future__ import annotations

import asyncio
import enum
import math
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.answerers import Answerer, Sleep, aclose, paced
from server.app import AS_IS, AnswerWrapper, ChatEndpoint
from server.chat_request import BadRequest, ChatRequest, parse_rid
from server.events import AnswerEvent, ServerError, Token
from server.settings import Settings
from server.store.interface import EventStore

OVERLOADED = ServerError("The model is overloaded.", retryable=False)
#: What `garbage:N` sends: an event whose data is not JSON.
GARBAGE_FRAME = "data: {not json\n\n"
#: How many request ids the attempt counts are kept for.
MAX_RECORDS = 10_000


class FaultyChat(ChatEndpoint):
    """The chat endpoint that honours the `fault` parameter (`--faults`), and says at
    `GET /api/_faults/attempts?rid=…` what it saw of a rid."""

    def __init__(self, settings: Settings, answerer: Answerer, store: EventStore) -> None:
        super().__init__(settings, answerer, store)
        self.fault_log = FaultLog()

    def routes(self) -> list[BaseRoute]:
        return [*super().routes(), Route("/api/_faults/attempts", self.attempts, methods=["GET"])]

    async def attempts(self, request: Request) -> Response:
        try:
            rid = parse_rid(request.query_params.get("rid"))
        except BadRequest as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        record = self.fault_log.get(rid)
        return JSONResponse({"attempts": record.attempts, "last_event_ids": record.last_event_ids})

    async def stream(
        self, chat: ChatRequest, *, as_events: bool = False, wrapper: AnswerWrapper = AS_IS
    ) -> Response:
        try:
            plan = parse_faults(chat.fault or "")
        except FaultSyntaxError as error:
            return JSONResponse({"error": f"Bad fault parameter: {error}"}, status_code=400)
        record = self.fault_log.record(chat.rid, chat.last_event_id)
        injected = early_response(plan, record)
        if injected is not None:
            return injected
        faults = Faults(plan, record, chat.last_event_id or 0, self.settings.sleep)
        return await super().stream(chat, as_events=as_events, wrapper=faults)


class FaultSyntaxError(ValueError):
    """The `fault` parameter does not follow the grammar."""


@dataclass(frozen=True)
class FaultPlan:
    """The faults one request asks for; all None means none."""

    #: Close the stream right after event N, the first time it is sent for this rid.
    drop: int | None = None
    #: Answer this HTTP status instead of a stream, to every request or the first K.
    status: int | None = None
    status_times: int | None = None
    #: With `status`: a Retry-After header, in seconds.
    retry_after: int | None = None
    #: After event N the answer fails with "The model is overloaded." (stored, so resumable).
    error: int | None = None
    #: After event N send nothing at all, not even pings, until the client goes away (once).
    stall: int | None = None
    #: The stream's `retry:` value, in milliseconds.
    retry_ms: int | None = None
    #: Answer 200 with this content type and a small valid event stream.
    content_type: str | None = None
    #: Wait this many more seconds before each token.
    pace: float | None = None
    #: After event N send an event whose data is not JSON (once).
    garbage: int | None = None
    #: Answer with the question itself, in tokens of N characters (for rendering tests).
    echo: int | None = None


NO_FAULTS = FaultPlan()


def parse_faults(spec: str) -> FaultPlan:
    """Reads `kind:arg,...`, e.g. `drop:3`, `status:503:2,retry-after:1`, `pace:0.2`.

    A kind given twice keeps its last value; an unknown kind or a bad argument is an error,
    so that a typo in a test fails loudly instead of testing nothing.
    """
    plan = NO_FAULTS
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kind, _, arg = item.partition(":")
        kind = kind.strip().lower()
        if kind == "drop":
            plan = replace(plan, drop=_count(item, arg))
        elif kind == "error":
            plan = replace(plan, error=_count(item, arg))
        elif kind == "stall":
            plan = replace(plan, stall=_count(item, arg))
        elif kind == "garbage":
            plan = replace(plan, garbage=_count(item, arg))
        elif kind == "echo":
            plan = replace(plan, echo=max(1, _count(item, arg)))
        elif kind == "status":
            code_text, _, times = arg.partition(":")
            code = _count(item, code_text)
            if not 200 <= code <= 599:
                raise FaultSyntaxError(f"{item!r}: the status must be 200 to 599")
            plan = replace(plan, status=code, status_times=_count(item, times) if times else None)
        elif kind == "retry-after":
            plan = replace(plan, retry_after=_count(item, arg))
        elif kind == "retry":
            plan = replace(plan, retry_ms=_count(item, arg))
        elif kind == "type":
            if not arg or not arg.isascii() or not arg.isprintable():
                raise FaultSyntaxError(f"{item!r}: needs a content type")
            plan = replace(plan, content_type=arg)
        elif kind == "pace":
            plan = replace(plan, pace=_seconds(item, arg))
        else:
            raise FaultSyntaxError(f"{item!r}: unknown fault kind {kind!r}")
    if plan.retry_after is not None and plan.status is None:
        raise FaultSyntaxError("retry-after:S only goes with status:CODE")
    return plan


@dataclass
class RidRecord:
    """What the server saw of one request id: for tests to ask, and for once-only faults."""

    attempts: int = 0
    last_event_ids: list[int | None] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)

    def fire_once(self, kind: str) -> bool:
        """True the first time it is asked for `kind`, False ever after."""
        if kind in self.fired:
            return False
        self.fired.add(kind)
        return True


class FaultLog:
    """The records of the most recent request ids."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self._records: OrderedDict[str, RidRecord] = OrderedDict()
        self._max_records = max_records

    def record(self, rid: str, last_event_id: int | None) -> RidRecord:
        """Counts one more request for `rid`."""
        entry = self._records.pop(rid, None) or RidRecord()
        entry.attempts += 1
        entry.last_event_ids.append(last_event_id)
        self._records[rid] = entry
        while len(self._records) > self._max_records:
            self._records.popitem(last=False)
        return entry

    def get(self, rid: str) -> RidRecord:
        return self._records.get(rid) or RidRecord()


def early_response(plan: FaultPlan, record: RidRecord) -> Response | None:
    """The response that replaces the stream for `status:` and `type:` faults, if any."""
    limit = plan.status_times
    if plan.status is not None and (limit is None or record.attempts <= limit):
        headers = {} if plan.retry_after is None else {"Retry-After": str(plan.retry_after)}
        if plan.status in (204, 304):
            return Response(status_code=plan.status, headers=headers)
        body = {"error": f"Injected fault: HTTP {plan.status}."}
        return JSONResponse(body, status_code=plan.status, headers=headers)
    if plan.content_type is not None:
        # A valid stream under the wrong type: a page that ignores the type would show it.
        body_text = 'data: {"type":"token","text":"wrong content type"}\n\ndata: [DONE]\n\n'
        return Response(body_text, headers={"Content-Type": plan.content_type})
    return None


class Action(enum.Enum):
    """What the stream does after sending an event."""

    GO_ON = "go on"
    DROP = "drop"
    STALL = "stall"
    GARBAGE = "garbage"


@dataclass
class Faults(AnswerWrapper):
    """The faults of `plan` around one request's answer, for its rid's `record`."""

    plan: FaultPlan
    record: RidRecord
    #: The last event the client has (its Last-Event-ID; 0: none).
    after: int
    sleep: Sleep

    def answerer(
        self, chat: ChatRequest, answer: Callable[[], AsyncIterator[AnswerEvent]]
    ) -> AsyncIterator[AnswerEvent]:
        if self.plan.echo is None:
            return answer()
        return echo(chat.question, self.plan.echo)

    def events(self, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
        """The answerer's events with the `error:` and `pace:` faults applied."""
        if self.plan.error is not None:
            events = _fail_after(events, self.plan.error)
        if self.plan.pace is not None:
            events = paced(events, self.plan.pace, self.sleep)
        return events

    def retry_ms(self, retry_ms: int) -> int:
        return retry_ms if self.plan.retry_ms is None else self.plan.retry_ms

    async def frames(self, frames: AsyncGenerator[str, None]) -> AsyncGenerator[str, None]:
        """`frames` with the `drop:`, `stall:` and `garbage:` faults, which act right after
        an event is sent; "after event 0" is right after the `retry:` frame."""
        async with aclosing(frames):
            first = True
            async for frame in frames:
                yield frame
                number = (0 if self.after == 0 else None) if first else _event_number(frame)
                first = False
                action = Action.GO_ON if number is None else self.after_event(number)
                if action is Action.DROP:
                    return
                if action is Action.GARBAGE:
                    yield GARBAGE_FRAME
                elif action is Action.STALL:
                    await asyncio.Event().wait()  # silence until the disconnect cancels us

    def after_event(self, n: int) -> Action:
        """What to do right after event `n` was sent (0: before the first event)."""
        for kind, action in (("drop", Action.DROP), ("stall", Action.STALL)):
            if getattr(self.plan, kind) == n and self.record.fire_once(kind):
                return action
        if self.plan.garbage == n and self.record.fire_once("garbage"):
            return Action.GARBAGE
        return Action.GO_ON


async def echo(question: str, size: int) -> AsyncIterator[AnswerEvent]:
    """The `echo:N` answerer: the question itself as the answer, N characters a token."""
    for start in range(0, len(question), size):
        yield Token(question[start : start + size])


async def _fail_after(source: AsyncIterator[AnswerEvent], n: int) -> AsyncIterator[AnswerEvent]:
    try:
        sent = 0
        while sent < n:
            try:
                event = await anext(source)
            except StopAsyncIteration:
                return
            yield event
            sent += 1
        yield OVERLOADED
    finally:
        await aclose(source)


def _event_number(frame: str) -> int | None:
    """The id of an event frame (server/streaming.py numbers every event); None for others."""
    match = re.match(r"id: ([0-9]+)\n", frame)
    return int(match.group(1)) if match else None


def _count(item: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text.strip()):
        raise FaultSyntaxError(f"{item!r}: expected a whole number, got {text!r}")
    return int(text)


def _seconds(item: str, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise FaultSyntaxError(f"{item!r}: expected seconds, got {text!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise FaultSyntaxError(f"{item!r}: seconds must be 0 or more")
    return seconds
