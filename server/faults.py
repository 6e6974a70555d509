"""Fault injection for tests: the `fault` query parameter makes the server misbehave on purpose.

Off unless `Settings.faults` is true. The parameter is a comma-separated list of
`kind:arg` items; see `parse_faults` for the kinds.
"""

from __future__ import annotations

import enum
import math
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from starlette.responses import JSONResponse, Response

from server.answerers import Sleep, aclose, paced
from server.events import AnswerEvent, ServerError, Token

OVERLOADED = ServerError("The model is overloaded.", retryable=False)
#: What `garbage:N` sends: an event whose data is not JSON.
GARBAGE_FRAME = "data: {not json\n\n"
#: How many request ids the attempt counts are kept for.
MAX_RECORDS = 10_000


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
class ConnectionFaults:
    """The faults that act on one connection's stream, for its rid's record."""

    plan: FaultPlan
    record: RidRecord

    def after_event(self, n: int) -> Action:
        """What to do right after event `n` was sent (0: before the first event)."""
        for kind, action in (("drop", Action.DROP), ("stall", Action.STALL)):
            if getattr(self.plan, kind) == n and self.record.fire_once(kind):
                return action
        if self.plan.garbage == n and self.record.fire_once("garbage"):
            return Action.GARBAGE
        return Action.GO_ON


def faulty_source(
    plan: FaultPlan, source: AsyncIterator[AnswerEvent], sleep: Sleep
) -> AsyncIterator[AnswerEvent]:
    """The answerer's events with the `error:` and `pace:` faults of `plan` applied."""
    if plan.error is not None:
        source = _fail_after(source, plan.error)
    if plan.pace is not None:
        source = paced(source, plan.pace, sleep)
    return source


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
