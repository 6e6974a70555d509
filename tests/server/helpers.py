"""Test doubles and tools: fake time, scripted answerers, an SSE reader, a live ASGI request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp

from server.events import AnswerEvent, Citation, Citations, Message, Token


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """A sleep that records its durations and only yields to the event loop."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


class ScriptedAnswerer:
    """Yields `events` (or numbered tokens forever), counting what was pulled and closed.

    With a `gate`, each event waits until the gate is set, so a test decides when tokens come.
    """

    def __init__(
        self,
        events: Sequence[AnswerEvent] | None = None,
        *,
        forever: bool = False,
        gate: asyncio.Event | None = None,
        fail_after: int | None = None,
    ) -> None:
        self.events = list(events) if events is not None else default_events()
        self.forever = forever
        self.gate = gate
        self.fail_after = fail_after
        self.started = 0
        self.produced = 0
        self.closed = 0
        self.histories: list[list[Message]] = []
        self.continuing: list[bool] = []

    async def answer(
        self, question: str, history: Sequence[Message], *, continuing: bool = False
    ) -> AsyncIterator[AnswerEvent]:
        self.started += 1
        self.histories.append(list(history))
        self.continuing.append(continuing)
        try:
            index = 0
            while self.forever or index < len(self.events):
                if self.fail_after is not None and index == self.fail_after:
                    raise RuntimeError("answerer bug")
                if self.gate is not None:
                    await self.gate.wait()
                await asyncio.sleep(0)
                self.produced += 1
                yield self.events[index] if not self.forever else Token(f"t{index} ")
                index += 1
        finally:
            self.closed += 1


def default_events() -> list[AnswerEvent]:
    return [
        Token("Server-sent events "),
        Token("reconnect by "),
        Token("themselves [1]."),
        Citations((Citation("1", "HTML Standard", "https://html.spec.whatwg.org/"),)),
    ]


@dataclass(frozen=True)
class Frame:
    """One block of an event stream, as a test sees it."""

    kind: str  # "event", "comment" or "retry"
    data: str = ""
    id: str | None = None

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.data)


def parse_frames(text: str) -> list[Frame]:
    """Splits a stream written by server.sse into frames (a test parser, not a full one)."""
    frames = []
    for block in text.split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            frames.append(Frame("comment", "\n".join(line[1:].strip() for line in lines)))
        elif lines[0].startswith("retry:"):
            frames.append(Frame("retry", lines[0].removeprefix("retry:").strip()))
        else:
            event_id = None
            data = []
            for line in lines:
                name, _, value = line.partition(": ")
                if name == "id":
                    event_id = value
                elif name == "data":
                    data.append(value)
                else:
                    raise AssertionError(f"unexpected line {line!r}")
            frames.append(Frame("event", "\n".join(data), event_id))
    return frames


def events(frames: Sequence[Frame]) -> list[Frame]:
    return [f for f in frames if f.kind == "event"]


def answer_text(frames: Sequence[Frame]) -> str:
    """The concatenated token texts."""
    return "".join(
        f.json["text"] for f in events(frames) if f.data != "[DONE]" and f.json["type"] == "token"
    )


@dataclass
class LiveRequest:
    """Drives an ASGI app directly, so a test can read a stream as it comes and hang up.

    httpx's ASGITransport buffers whole responses, so it cannot test disconnects.
    """

    app: ASGIApp
    url: str
    method: str = "GET"
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _hang_up: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()

    @property
    def frames(self) -> list[Frame]:
        # Only whole frames: a chunk always ends a frame, but be safe.
        return parse_frames(self.text.rpartition("\n\n")[0] + "\n\n")

    @property
    def event_count(self) -> int:
        return len(events(self.frames))

    async def __aenter__(self) -> LiveRequest:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.hang_up()
        await self.ended()

    def hang_up(self) -> None:
        self._hang_up.set()

    async def ended(self, within: float = 2.0) -> None:
        assert self._task is not None
        async with asyncio.timeout(within):
            await self._task

    async def wait_until(
        self, condition: Callable[[LiveRequest], bool], within: float = 2.0
    ) -> None:
        """Waits until `condition(self)` holds; fails if the response ends first."""
        async with asyncio.timeout(within):
            while not condition(self):
                assert self._task is not None
                if self._task.done():
                    self._task.result()
                    raise AssertionError(f"the response ended first: {self.text!r}")
                await self._changed.wait()

    async def _run(self) -> None:
        path, _, query = self.url.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": self.method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in self.headers],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }
        request_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": self.body, "more_body": False}
            await self._hang_up.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if self._hang_up.is_set():
                raise OSError("the client has gone away")
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.response_headers = {
                    k.decode().lower(): v.decode() for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    self.chunks.append(message["body"])
                if not message.get("more_body", False):
                    self.complete = True
                    self._hang_up.set()  # as a server does once the response is over
            self._notify()

        try:
            await self.app(scope, receive, send)  # type: ignore[arg-type]
        finally:
            self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
