"""`mount(element, question)`: stream an answer into any element of any page.

`StreamingAnswer` holds the answer, `StreamRenderer` turns its text into patches, and
`MarkdownBox` applies them, once per animation frame (`FrameScheduler`). The element gets:

- `data-state`: the answer's `AnswerState` value (`connecting`, `streaming`, `reconnecting`,
  `done`, `failed`, `stopped`) and `aria-busy="true"` while it streams;
- a `[data-role=answer-body]` child with the rendered markdown (the element's own, if it
  has one; its content is replaced);
- once done, `ol[data-role=citations]` with the sources that `[n]` markers link to;
- when it fails, `[role=alert]` with the reason in words; the partial text stays above it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import js  # type: ignore[import-not-found]

from streamchat.answer import StreamingAnswer
from streamchat.browser.frames import FrameScheduler
from streamchat.browser.markdown_box import MarkdownBox, element
from streamchat.client import HistoryItem, StreamRequest, Transport
from streamchat.protocol import Citation
from streamchat.render import is_allowed_url
from streamchat.retry import RetryPolicy
from streamchat.stream_render import StreamRenderer

__all__ = ["FrameSchedule", "MountedAnswer", "mount", "transport_named"]

TransportName = Literal["fetch", "eventsource"]
#: The answers still streaming, so that a new answer in the same element replaces its own.
_MOUNTED: list[MountedAnswer] = []
#: Marks the elements mount adds to the target, to remove them when it mounts again.
ADDED = "data-streamchat"


def mount(
    target: Any,
    question: str,
    *,
    endpoint: str = "api/chat",
    transport: TransportName | Transport = "fetch",
    history: Sequence[HistoryItem] = (),
    headers: Mapping[str, str] | None = None,
    rid: str | None = None,
    policy: RetryPolicy = RetryPolicy(),  # noqa: B008 (frozen, so one shared default is safe)
) -> MountedAnswer:
    """Ask `question` at `endpoint` and stream the answer into `target` (an element, or a
    CSS selector for one). Returns at once; the answer streams in a task of its own.

    `transport`: "fetch" (POST, sees HTTP statuses; the default), "eventsource" (GET), or any
    `Transport`. `headers` go with every request (fetch only: an EventSource cannot send any).
    `rid` names the answer on the back end; a random one by default.
    """
    node = js.document.querySelector(target) if isinstance(target, str) else target
    if not node:
        raise ValueError(f"no element to mount the answer in: {target!r}")
    request = StreamRequest(
        endpoint=endpoint,
        question=question,
        rid=rid or uuid.uuid4().hex,
        history=tuple(history),
        headers=tuple((headers or {}).items()),
    )
    chosen = transport_named(transport) if isinstance(transport, str) else transport
    for earlier in [m for m in _MOUNTED if m.node.isSameNode(node)]:
        earlier.detach()  # one answer per element: the new one replaces it
    mounted = MountedAnswer(node, request.rid)
    _MOUNTED.append(mounted)
    mounted.start(request, chosen, policy)
    return mounted


def transport_named(name: TransportName) -> Transport:
    """A new browser transport: "fetch" or "eventsource"."""
    if name == "fetch":
        from streamchat.browser.fetch_stream import FetchTransport

        return FetchTransport()
    if name == "eventsource":
        from streamchat.browser.eventsource import EventSourceTransport
        from streamchat.browser.eventsource_helper import ensure_eventsource_helper

        ensure_eventsource_helper()
        return EventSourceTransport()
    raise ValueError(f"unknown transport {name!r}: 'fetch' or 'eventsource'")


class FrameSchedule:
    """A `StreamingAnswer` scheduler: callbacks run in the next animation frame, together
    (and not while the page is hidden; see `FrameScheduler`)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []
        self._frames = FrameScheduler(self._run)

    def __call__(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)
        self._frames.request()

    def close(self) -> None:
        self._frames.close()

    def _run(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


class MountedAnswer:
    """An answer being streamed into an element: `answer` is its state, `stop()` ends it,
    and `await mounted.finished()` waits for it to end."""

    def __init__(self, node: Any, rid: str) -> None:
        self.node = node
        self._anchor = f"sc-{rid}"
        self._frames = FrameSchedule()
        self.answer = StreamingAnswer(schedule=self._frames)
        self._renderer = StreamRenderer()
        for added in node.querySelectorAll(f":scope > [{ADDED}]"):
            if not added.matches("[data-role=answer-body]"):
                added.remove()  # an earlier answer's sources or alert
        body = node.querySelector("[data-role=answer-body]")
        if not body:
            body = element("div", "answer-body", data_role="answer-body")
            body.setAttribute(ADDED, "")
            node.append(body)
        self._box = MarkdownBox(body)
        self._shown = 0  # characters of the answer's text fed to the renderer
        self._ended = False
        self._task: asyncio.Task[None] | None = None
        self.answer.subscribe(self._show)
        self._show_state()

    def start(self, request: StreamRequest, transport: Transport, policy: RetryPolicy) -> None:
        self._task = self.answer.start(request, transport, policy=policy)
        self._task.add_done_callback(self._on_end)

    def stop(self) -> None:
        """Stop streaming: the connection is closed, the text so far stays."""
        self.answer.stop()

    def detach(self) -> None:
        """Stop streaming and leave the element alone from now on (another answer takes it)."""
        self._ended = True
        self.stop()
        if self in _MOUNTED:
            _MOUNTED.remove(self)

    async def finished(self) -> StreamingAnswer:
        """Wait until the answer has ended (done, failed or stopped) and is shown."""
        if self._task is not None:
            try:
                await asyncio.shield(self._task)
            except asyncio.CancelledError:
                if not self._task.cancelled():
                    raise  # the caller's own task was cancelled, not the answer
        # `_on_end` has run: it was the task's first done callback.
        return self.answer

    def _show(self, answer: StreamingAnswer) -> None:
        if self._ended:
            return
        new_text = answer.text[self._shown :]
        if new_text:
            self._box.apply(self._renderer.feed(new_text))
            self._shown = len(answer.text)
        self._show_state()
        if answer.state.is_final:
            self._ended = True
            anchors = {c.id: f"#{self._source_id(c)}" for c in answer.citations}
            self._box.apply(self._renderer.finish(anchors))
            if answer.citations:
                self.node.append(self._sources(answer.citations))
            if answer.error is not None:
                reason = answer.error.user_message
                alert = element("p", "answer-error", reason, role="alert")
                alert.setAttribute(ADDED, "")
                self.node.append(alert)

    def _on_end(self, _task: asyncio.Task[None]) -> None:
        # The last change is shown now, not in a frame (none comes while the page is hidden);
        # then the frame scheduler's proxies are released. Not from inside a frame: the
        # proxy that is running must outlive its call.
        self.answer.flush()
        self._frames.close()
        if self in _MOUNTED:
            _MOUNTED.remove(self)

    def _show_state(self) -> None:
        state = self.answer.state
        self.node.setAttribute("data-state", state.value)
        if state.is_active:
            self.node.setAttribute("aria-busy", "true")
        else:
            self.node.removeAttribute("aria-busy")

    def _sources(self, citations: Sequence[Citation]) -> Any:
        sources = element("ol", "answer-citations", data_role="citations")
        sources.setAttribute(ADDED, "")
        for citation in citations:
            item = element("li", id=self._source_id(citation))
            if citation.url and is_allowed_url(citation.url):
                link = element("a", text=citation.title or citation.url, href=citation.url)
                link.setAttribute("data-citation", citation.id)
                link.setAttribute("rel", "noopener noreferrer nofollow")
                link.setAttribute("target", "_blank")
                item.append(link)
            else:
                item.textContent = citation.title
            sources.append(item)
        return sources

    def _source_id(self, citation: Citation) -> str:
        return f"{self._anchor}-source-{citation.id}"
