"""One answer streaming into its view: a `StreamingAnswer`, and the page's subscriber to it.

The answer's state is the library's `StreamingAnswer` (streamchat/answer.py), fed by
`stream_query`; everything the page shows follows from it. It notifies at once, per message:
the text goes to a sink that renders it once per animation frame (app/browser/render_sink.py),
and the status line counts words as they arrive, even while the page is hidden and renders
nothing. `TurnRecord` (app/answer_turn.py) keeps the conversation's `Turn` in step with it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]

from app.answer_turn import Mode, TurnRecord, request_for
from app.browser.auth import SignIn
from app.browser.dom import AnswerView
from app.browser.events import answer_changed, answer_started
from app.browser.render_sink import IncrementalSink, NaiveSink
from app.browser.stop import request_stop
from app.chat import STILL_WAITING_AFTER, Conversation, Turn, thought_text
from app.config import Config
from app.progress import Progress
from streamchat.answer import StreamingAnswer
from streamchat.browser.mount import transport_named
from streamchat.client import Cursor, Reconnecting
from streamchat.retry import RetryPolicy

Announce = Callable[[str], None]


class LiveAnswer:
    """Streams `turn`'s answer into `view`; `on_end(self)` runs once when it has ended (done,
    stopped or failed) and is shown as such."""

    def __init__(
        self,
        conversation: Conversation,
        turn: Turn,
        view: AnswerView,
        mode: Mode,
        *,
        config: Config,
        sign_in: SignIn,
        on_change: Callable[[], None],
        announce: Announce,
        on_end: Callable[[LiveAnswer], None],
    ) -> None:
        self.turn, self.view, self.mode = turn, view, mode
        self._config, self._sign_in = config, sign_in
        self._announce, self._on_end, self._on_change = announce, on_end, on_change
        resuming = mode == "resume"
        self.rid = turn.rid if resuming else secrets.token_urlsafe(12)
        self._request = request_for(
            conversation,
            turn,
            endpoint=config.endpoint,
            rid=self.rid,
            mode=mode,
            with_history=config.transport == "fetch",
        )
        self._cursor = Cursor(turn.last_event_id if resuming else "")
        turn.rid, turn.last_event_id = self.rid, self._cursor.last_event_id
        self.record = TurnRecord(turn, mode)
        sink_type = NaiveSink if config.render == "naive" else IncrementalSink
        self._sink = sink_type(
            view.box,
            measure=config.measure,
            on_change=self._shown,
            initial=turn.answer if mode != "new" else "",
        )
        self._progress = Progress(time.monotonic())
        self._thinking = _Thinking(view, turn, on_change)
        # The page's sinks batch and pace the rendering themselves: the answer notifies at once.
        self.answer = StreamingAnswer(schedule=_at_once)
        self.answer.subscribe(self._follow)
        self._seen_text = self._seen_reasoning = 0
        self._reconnecting: Reconnecting | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ended = False

    def start(self) -> None:
        self.view.set_meta("Connecting…")
        self._announce("Continuing the answer…" if self.mode != "new" else "Answering…")
        self._ticker = asyncio.ensure_future(self._tick())
        transport = self._sign_in.wrap(transport_named(self._config.transport))
        self._task = self.answer.start(
            self._request,
            transport,
            policy=RetryPolicy(stall_timeout=self._config.stall_timeout),
            sleep=asyncio.sleep,
            rng=random.random,
            now=time.monotonic,
            cursor=self._cursor,
        )
        self._task.add_done_callback(self._on_task_end)
        answer_started(self.turn)

    def stop(self) -> None:
        """Stop it: the connection is closed, the text so far stays, and the back end is told
        (so it can free the answer at once)."""
        if not self._ended:
            self.answer.stop()
            request_stop(self._config.endpoint, self.rid, self._sign_in)

    async def finished(self) -> None:
        """Wait until its connection is closed."""
        if self._task is not None:
            await asyncio.wait({self._task})

    # The subscriber --------------------------------------------------------------------

    def _follow(self, answer: StreamingAnswer) -> None:
        if self._ended:
            return
        now = time.monotonic()
        note = self.record.update(answer, self._cursor.last_event_id)
        text = answer.text[self._seen_text :]
        if text:
            self._seen_text = len(answer.text)
            if self._progress.first_token_at is None:
                self.view.set_meta("")  # no longer "Connecting…"; the ticker says the rest
            self._progress.token(now, text)
            self._thinking.end(now, collapse=True)
            self._sink.add(text)
        reasoning = answer.reasoning[self._seen_reasoning :]
        if reasoning:
            self._seen_reasoning = len(answer.reasoning)
            self._progress.thinking(now)
            self._thinking.add(reasoning, now)
        if answer.heartbeats:
            self._progress.alive = True
        if note:
            self.view.show_note(note)
            self._announce(note)
        if answer.reconnecting is not None and answer.reconnecting is not self._reconnecting:
            self._progress.retry(answer.reconnecting, now)
            status = self._progress.retry_text(now)
            self.view.set_meta(status)
            self._announce(status)
        self._reconnecting = answer.reconnecting
        if answer.state.is_final:
            self._end(self.record.end(answer))

    def _shown(self) -> None:
        """A frame rendered more of the answer."""
        self._on_change()
        answer_changed(self.turn)

    def _on_task_end(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is None:
            return
        js.console.error(f"streamchat: unexpected error: {error!r}")
        if not self._ended:
            # A bug in the page must not leave an answer spinning: keep the text, say so.
            self._end(self.record.fail("Something went wrong in this page showing the answer."))

    def _end(self, status: str) -> None:
        self._ended = True
        if self._ticker is not None:
            self._ticker.cancel()
        turn, view = self.turn, self.view
        if turn.state == "done":
            self._sink.finish({c.id: view.source_anchor(c.id) for c in turn.citations})
        else:
            self._sink.finish()
        if turn.state == "error":
            view.set_meta("")
        self._announce(status)
        turn.answer = self._sink.text
        self._sink.close()
        self._thinking.close(time.monotonic())
        self._on_end(self)
        if turn.state == "done":
            view.set_meta(self._progress.summary(time.monotonic(), turn.usage))
        self._on_change()

    async def _tick(self) -> None:
        """Once a second: the answer's phase, and a single announcement if it is slow."""
        announced = False
        progress = self._progress
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if progress.retrying is not None:
                self.view.set_meta(progress.retry_text(now))
                continue
            self.view.set_meta(progress.text(now))
            if not announced and progress.waiting_for(now) >= STILL_WAITING_AFTER:
                announced = True
                if progress.alive or progress.thinking_since is not None:
                    self._announce("The model is still working on it…")
                else:
                    self._announce("Still waiting for the server…")


class _Thinking:
    """The answer's "Thinking" section: streams live, then folds away when the answer starts."""

    def __init__(self, view: AnswerView, turn: Turn, on_change: Callable[[], None]) -> None:
        self._view = view
        self._turn = turn
        self._initial = turn.reasoning  # a continued answer's earlier thinking, shown again
        self._on_change = on_change
        self._sink: IncrementalSink | None = None
        self._started: float | None = None
        self._ended = False

    def add(self, text: str, now: float) -> None:
        if self._sink is None:
            self._started = now
            self._sink = IncrementalSink(
                self._view.reasoning_box(), on_change=self._on_change, initial=self._initial
            )
        self._sink.add(text)

    def end(self, now: float, *, collapse: bool) -> None:
        """The model stopped thinking (its answer began, or the answer ended)."""
        if self._sink is None or self._ended or self._started is None:
            return
        self._ended = True
        self._sink.finish()
        self._turn.thought_for = now - self._started
        self._view.end_reasoning(thought_text(self._turn.thought_for), collapse=collapse)

    def close(self, now: float) -> None:
        self.end(now, collapse=False)
        if self._sink is not None:
            self._sink.close()


def _at_once(callback: Callable[[], None]) -> Any:
    callback()
