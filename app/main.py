"""Entry point run by PyScript: wires the form, the transports, the renderer and the DOM."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_once_callable, create_proxy  # type: ignore[import-not-found]

from app.browser.dom import AnswerView, ScrollFollower, query
from app.browser.eventsource import EventSourceTransport
from app.browser.fetch_stream import FetchTransport
from app.browser.render_sink import IncrementalSink, NaiveSink
from app.chat import (
    STILL_WAITING_AFTER,
    Conversation,
    Turn,
    completion_status,
    progress_text,
    reconnect_status,
    speed_text,
)
from app.client import Reconnecting, StreamRequest, stream_query
from app.config import Config, ConfigError, load_config
from app.protocol import Citation, Citations, Done, StreamError, Token
from app.render import render_markdown
from app.retry import RetryPolicy
from app.stream_render import StreamRenderer

root = js.document.documentElement
Sink = IncrementalSink | NaiveSink
STORAGE_KEY = "streamchat:conversation"


class ChatPage:
    """The page's one controller: at most one answer streams at a time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.policy = RetryPolicy(stall_timeout=config.stall_timeout)
        self.conversation = Conversation()
        self.views: list[AnswerView] = []
        self.form = query("form[data-role=ask]")
        self.textarea = query("textarea[name=question]", self.form)
        self.stop_button = query("button[data-action=stop]")
        self.clear_button = query("button[data-action=clear]")
        self.answers = query("[data-role=answers]")
        self.status = query("[data-role=status]")
        self.pending_note = query("[data-role=pending]")
        self.scroll = ScrollFollower(query("#conversation"), query("[data-action=jump-to-latest]"))
        self.current: asyncio.Task[None] | None = None
        self.current_rid = ""
        self.editing: int | None = None
        self._copies: set[asyncio.Future[None]] = set()
        self._proxies = [
            self._listen(self.form, "submit", self._on_submit),
            self._listen(self.textarea, "keydown", self._on_keydown),
            self._listen(self.stop_button, "click", lambda _e: self.stop()),
            self._listen(self.clear_button, "click", lambda _e: self.clear()),
            self._listen(js.document, "keydown", self._on_document_key),
            self._listen(self.answers, "click", self._on_answer_click),
            self._listen(js.window, "pagehide", lambda _e: self._save()),
        ]

    def _listen(self, target: Any, kind: str, handler: Any) -> Any:
        proxy = create_proxy(handler)
        target.addEventListener(kind, proxy)
        return proxy

    # Events -----------------------------------------------------------------

    def _on_submit(self, event: Any) -> None:
        event.preventDefault()
        question = str(self.textarea.value).strip()
        if not question or self.current is not None:
            return
        self.textarea.value = ""
        if self.editing is not None:
            self._truncate(self.editing)
            self._end_edit()
        self.ask(question)

    def _on_keydown(self, event: Any) -> None:
        if event.key == "Enter" and not event.shiftKey and not event.isComposing:
            event.preventDefault()
            self.form.requestSubmit()

    def _on_document_key(self, event: Any) -> None:
        if event.key != "Escape":
            return
        if self.current is not None:
            event.preventDefault()  # used here: an embedding widget must not also close
            self.stop()
        elif self.editing is not None:
            event.preventDefault()
            self.textarea.value = ""
            self._end_edit()

    def _on_answer_click(self, event: Any) -> None:
        button = event.target.closest("button[data-action]")
        if button is None:
            return
        action = str(button.dataset.action)
        if action == "copy-code":
            code = button.closest(".code-block").querySelector("pre")
            self._copy(code.textContent, button)
            return
        index = self._turn_index(button)
        if index is None:
            return
        if action == "copy-answer":
            self._copy(self.conversation.turns[index].answer, button)
        elif action in ("regenerate", "retry") and self.current is None:
            question = self.conversation.turns[index].question
            self._truncate(index)
            self.ask(question)
        elif action == "edit-question" and self.current is None:
            self.editing = index
            self.textarea.value = self.conversation.turns[index].question
            self.pending_note.textContent = (
                "Editing a question: sending replaces it and every answer after it. Escape cancels."
            )
            self.pending_note.hidden = False
            self.textarea.focus()

    def _turn_index(self, button: Any) -> int | None:
        turn = button.closest("li.turn")
        for index, view in enumerate(self.views):
            if view.turn == turn:
                return index
        return None

    def _copy(self, text: str, button: Any) -> None:
        # Kept until done: the event loop holds tasks only weakly.
        task = asyncio.ensure_future(self._write_clipboard(text, button))
        self._copies.add(task)
        task.add_done_callback(self._copies.discard)

    async def _write_clipboard(self, text: str, button: Any) -> None:
        # The clipboard may refuse (no permission, page not focused): say so, don't pretend.
        try:
            await js.navigator.clipboard.writeText(text)
        except Exception:
            button.textContent = "Copy failed"
            self._announce("Could not copy: the browser did not allow it.")
            return
        button.textContent = "Copied"

    # Conversation -------------------------------------------------------------

    def ask(self, question: str) -> None:
        if self.views:
            self.views[-1].hide_regenerate()
        turn = self.conversation.ask(question)
        view = self._add_view(question)
        self.scroll.jump()
        task = self.current = asyncio.ensure_future(self._answer(turn, view))
        task.add_done_callback(lambda done: self._stopped_before_start(done, turn, view))

    def _stopped_before_start(
        self, task: asyncio.Future[None], turn: Turn, view: AnswerView
    ) -> None:
        # A task cancelled before its first step never runs its own clean-up: Stop pressed
        # right after sending must still end the answer as stopped, not leave it spinning.
        if not task.cancelled() or view.state != "streaming":
            return
        turn.state = "stopped"
        self._finish_view(view, turn, last=True)
        self._announce("Answer stopped.")
        if self.current is task:
            self.current = None
            self._busy(False)
        self._save()

    def stop(self) -> None:
        if self.current is not None:
            self.current.cancel()
            self._cancel_on_server(self.current_rid)

    def clear(self) -> None:
        if self.current is not None:
            self.stop()
        self._truncate(0)
        self._end_edit()
        self._announce("Conversation cleared.")
        self.textarea.focus()

    def restore(self, stored: str | None) -> None:
        """Show the conversation kept in sessionStorage, as it was when the page went away."""
        self.conversation = Conversation.loads(stored)
        for index, turn in enumerate(self.conversation.turns):
            view = self._add_view(turn.question)
            renderer = StreamRenderer()
            view.apply(renderer.feed(turn.answer))
            view.apply(renderer.finish({c.id: view.source_anchor(c.id) for c in turn.citations}))
            self._finish_view(view, turn, last=index == len(self.conversation.turns) - 1)
        self.scroll.jump()

    def _add_view(self, question: str) -> AnswerView:
        view = AnswerView(self.answers, question, len(self.views) + 1)
        self.views.append(view)
        self.clear_button.hidden = False
        return view

    def _finish_view(self, view: AnswerView, turn: Turn, *, last: bool) -> None:
        if turn.citations:
            view.show_citations(turn.citations)
        view.set_state(turn.state)
        if turn.state == "error":
            view.show_alert(turn.error)
        elif turn.state == "stopped":
            view.set_meta("Stopped.")
        view.show_actions(can_regenerate=last)

    def _truncate(self, index: int) -> None:
        self.conversation.truncate(index)
        for view in self.views[index:]:
            view.remove()
        del self.views[index:]
        self.clear_button.hidden = not self.views
        if self.views:
            self.views[-1].show_actions(can_regenerate=True)
        self._save()

    def _end_edit(self) -> None:
        self.editing = None
        self.pending_note.hidden = True

    def _save(self) -> None:
        try:
            js.sessionStorage.setItem(STORAGE_KEY, self.conversation.dumps())
        except Exception as error:  # storage full or blocked: the page works without it
            js.console.warn(f"streamchat: could not keep the conversation: {error!r}")

    def _cancel_on_server(self, rid: str) -> None:
        # Best effort: closing the connection already stops the reference back end; this
        # tells it the stop was deliberate so it can free the answer at once.
        if rid:
            url = js.URL.new(self.config.endpoint, js.location.href)
            url.searchParams.set("rid", rid)
            options = js.Object.fromEntries([["method", "DELETE"], ["keepalive", True]])
            js.fetch(url.href, options).catch(create_once_callable(lambda _error: None))

    # One answer ---------------------------------------------------------------

    async def _answer(self, turn: Turn, view: AnswerView) -> None:
        rid = self.current_rid = secrets.token_urlsafe(12)
        request = StreamRequest(
            endpoint=self.config.endpoint,
            question=turn.question,
            rid=rid,
            history=self.conversation.history(turn) if self.config.transport == "fetch" else (),
        )
        transport = FetchTransport() if self.config.transport == "fetch" else EventSourceTransport()
        sink_type = NaiveSink if self.config.render == "naive" else IncrementalSink
        sink = sink_type(view, measure=self.config.measure, on_change=self.scroll.content_changed)
        progress = _Progress(time.monotonic())
        ticker = asyncio.ensure_future(self._tick(view, progress))
        citations: tuple[Citation, ...] = ()
        self._busy(True)
        view.set_meta("Connecting…")
        self._announce("Answering…")
        try:
            async for item in stream_query(
                request,
                transport,
                policy=self.policy,
                sleep=asyncio.sleep,
                rng=random.random,
                now=time.monotonic,
            ):
                if isinstance(item, Token):
                    progress.token(time.monotonic())
                    turn.answer += item.text  # kept current, so a reload keeps it too
                    sink.add(item.text)
                elif isinstance(item, Citations):
                    citations = item.citations
                elif isinstance(item, Reconnecting):
                    progress.reconnecting = reconnect_status(item.attempt, item.max_attempts)
                    view.set_meta(progress.reconnecting)
                    self._announce(progress.reconnecting)
                elif isinstance(item, Done):
                    break
            ticker.cancel()
            sink.finish({c.id: view.source_anchor(c.id) for c in citations})
            turn.citations, turn.state = citations, "done"
            self._announce(completion_status(len(citations)))
        except asyncio.CancelledError:
            ticker.cancel()
            sink.finish()
            turn.state = "stopped"
            self._announce("Answer stopped.")
        except StreamError as error:
            ticker.cancel()
            self._fail(turn, view, sink, error.user_message)
        except Exception as error:
            # A bug in the page must not leave an answer spinning: keep the text, say so.
            ticker.cancel()
            js.console.error(f"streamchat: unexpected error: {error!r}")
            self._fail(turn, view, sink, "Something went wrong in this page showing the answer.")
        finally:
            turn.answer = sink.text
            sink.close()
            if turn.state not in ("done", "error"):
                turn.state = "stopped"
            self._finish_view(view, turn, last=True)
            if turn.state == "done":
                view.set_meta(progress.summary(time.monotonic()))
            self.scroll.content_changed()
            self.current = None
            self._busy(False)
            self._save()

    def _fail(self, turn: Turn, view: AnswerView, sink: Sink, message: str) -> None:
        sink.finish()
        turn.state, turn.error = "error", message
        view.set_meta("")
        self._announce(message)

    async def _tick(self, view: AnswerView, progress: _Progress) -> None:
        """Once a second: the answer's phase, and a single announcement if it is slow."""
        announced = False
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if progress.reconnecting and progress.first_token_at is None:
                continue
            view.set_meta(progress.text(now))
            if not announced and progress.waiting_for(now) >= STILL_WAITING_AFTER:
                announced = True
                self._announce("Still waiting for the server…")

    def _busy(self, busy: bool) -> None:
        self.stop_button.hidden = not busy
        query("button[data-action=send]").hidden = busy
        if not busy:
            self.textarea.focus()

    def _announce(self, message: str) -> None:
        self.status.textContent = message


class _Progress:
    """When the answer started and how its tokens have come, for the status line."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.tokens = 0
        self.reconnecting = ""

    def token(self, now: float) -> None:
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        self.tokens += 1
        self.reconnecting = ""

    def waiting_for(self, now: float) -> float:
        return now - self.started if self.first_token_at is None else 0.0

    def text(self, now: float) -> str:
        return progress_text(now, self.started, self.first_token_at, self.tokens)

    def summary(self, now: float) -> str:
        if self.first_token_at is None:
            return ""
        end = self.last_token_at or now
        return speed_text(
            self.first_token_at - self.started, self.tokens, end - self.first_token_at
        )


def _stored_conversation() -> str | None:
    try:
        stored = js.sessionStorage.getItem(STORAGE_KEY)
    except Exception:  # storage blocked (a cross-site iframe, strict privacy settings)
        return None
    return str(stored) if stored else None


def start() -> ChatPage | None:
    try:
        config = load_config(str(query("#chat-config").textContent), str(js.location.search))
    except ConfigError as error:
        js.window.streamchatFail(str(error))
        return None
    # Warm the renderer (Markdown's set-up, Pygments' lexers) before saying "ready", so the
    # first answer's first frame is as quick as any other.
    render_markdown("# warm\n\n- *a* [1]\n\n```python\nx = 1\n```\n", {"1": "#warm"})
    page = ChatPage(config)
    page.restore(_stored_conversation())
    root.dataset.appState = "ready"
    question = js.window.streamchatTakePending()
    if question:
        page.pending_note.hidden = True
        page.ask(str(question))
    return page


PAGE = start()
