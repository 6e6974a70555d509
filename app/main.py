"""Entry point run by PyScript: wires the form, the transports, the renderer and the DOM."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from typing import Any, Literal

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from app.browser.auth import SignIn
from app.browser.citations import citation_cards
from app.browser.dom import AnswerView, ScrollFollower, query
from app.browser.events import announce_answer
from app.browser.library import ConversationStore, Sidebar
from app.browser.render_sink import IncrementalSink, NaiveSink
from app.chat import (
    STILL_WAITING_AFTER,
    Conversation,
    Turn,
    completion_status,
    context_text,
    progress_text,
    question_limit_text,
    reconnect_status,
    speed_text,
    thought_text,
    usage_text,
)
from app.config import Config, ConfigError, load_config
from app.library import export_markdown, file_name, record_for, title_for
from streamchat.browser.eventsource import EventSourceTransport
from streamchat.browser.fetch_stream import FetchTransport
from streamchat.client import Cursor, HistoryItem, Reconnecting, StreamRequest, stream_query
from streamchat.protocol import (
    Citation,
    Citations,
    Context,
    Done,
    Finish,
    Ping,
    Reasoning,
    StreamError,
    Token,
    Usage,
)
from streamchat.render import configure as configure_rendering
from streamchat.render import render_markdown
from streamchat.retry import RetryPolicy
from streamchat.stream_render import StreamRenderer

root = js.document.documentElement
Sink = IncrementalSink | NaiveSink
#: How an answer is streamed: a new one, the model continuing a cut-off one, or the same
#: one resumed after the page was reloaded.
Mode = Literal["new", "continue", "resume"]
STORAGE_KEY = "streamchat:conversation"
#: Which stored conversation this tab shows: {"id", "rev", "title", "named"} (sessionStorage,
#: so each tab keeps its own, and a reload comes back to it).
CURRENT_KEY = "streamchat:current"


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
        self.counter = query("[data-role=counter]")
        self.scroll = ScrollFollower(query("#conversation"), query("[data-action=jump-to-latest]"))
        self.current: asyncio.Task[None] | None = None
        self.current_rid = ""
        self.editing: int | None = None
        self._copies: set[asyncio.Future[None]] = set()
        # The conversation's place in the library (IndexedDB): its id, the revision this tab
        # last wrote, its title, and whether the user named it (else: the first question).
        self.library = ConversationStore()
        self.conversation_id = self.library.new_id()
        self.rev = 0
        self.title = ""
        self.named = False
        self.sidebar = Sidebar(
            on_open=lambda cid: self._later(self.open_conversation(cid)),
            on_rename=lambda cid, title: self._later(self.rename_conversation(cid, title)),
            on_export=lambda cid: self._later(self.export_conversation(cid)),
            on_delete=lambda cid: self._later(self.delete_conversation(cid)),
        )
        self._library_changed = self.library.on_change(lambda _id: self._later(self.refresh()))
        self._proxies = [
            self._listen(self.form, "submit", self._on_submit),
            self._listen(self.textarea, "keydown", self._on_keydown),
            self._listen(self.textarea, "input", lambda _e: self._count_question()),
            self._listen(self.stop_button, "click", lambda _e: self.stop()),
            self._listen(self.clear_button, "click", lambda _e: self.clear()),
            self._listen(query("[data-action=new-chat]"), "click", lambda _e: self.new_chat()),
            self._listen(js.document, "keydown", self._on_document_key),
            self._listen(self.answers, "click", self._on_answer_click),
            self._listen(query("[data-action=suggest]"), "click", self._on_suggestion),
            self._listen(js.window, "pagehide", lambda _e: self._save_session()),
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
        limit = self.config.max_question_chars
        if len(question) > limit:
            # Caught here rather than sent to be refused: the text stays in the box to shorten.
            self._count_question()
            self._announce(
                f"The question is {len(question):,} characters long; the limit is {limit:,}."
                " Please shorten it."
            )
            return
        self.textarea.value = ""
        self._count_question()
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

    def _on_suggestion(self, event: Any) -> None:
        if self.current is None:
            self.ask(str(event.currentTarget.textContent).strip())

    def _count_question(self) -> None:
        # The box grows with its text (up to the stylesheet's max-height, then it scrolls).
        self.textarea.style.height = "auto"
        self.textarea.style.height = f"{int(self.textarea.scrollHeight) + 2}px"
        length = len(str(self.textarea.value).strip())
        text = question_limit_text(length, self.config.max_question_chars)
        self.counter.textContent = text
        self.counter.hidden = not text
        self.counter.classList.toggle("over", length > self.config.max_question_chars)

    def _on_answer_click(self, event: Any) -> None:
        # closest() returns JS null, not None, when nothing matches (a click on plain text).
        button = event.target.closest("button[data-action]") if event.target else None
        if not button:
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
        elif action == "continue" and self.current is None:
            self.resume_cut_off(index)
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
        self._later(self._write_clipboard(text, button))

    async def _write_clipboard(self, text: str, button: Any) -> None:
        # The clipboard may refuse (no permission, page not focused): say so, don't pretend.
        try:
            await js.navigator.clipboard.writeText(text)
        except Exception:
            button.textContent = "Copy failed"
            self._announce("Could not copy: the browser did not allow it.")
            return
        button.textContent = "Copied"
        await asyncio.sleep(2.0)
        button.textContent = "Copy"

    # Conversation -------------------------------------------------------------

    def ask(self, question: str) -> None:
        if self.views:
            self.views[-1].hide_regenerate()
            self.views[-1].hide_continue()
        turn = self.conversation.ask(question)
        view = self._add_view(question)
        self.scroll.jump()
        self._start_answer(turn, view, "new")

    def resume_cut_off(self, index: int) -> None:
        """Continue: the model goes on with the answer it cut off, appended to the same one."""
        turn, view = self.conversation.turns[index], self.views[index]
        turn.finish, turn.state, turn.usage = "", "streaming", None
        view.reset_footer()
        view.set_state("streaming")
        self._start_answer(turn, view, "continue")

    def _start_answer(self, turn: Turn, view: AnswerView, mode: Mode) -> None:
        task = self.current = asyncio.ensure_future(self._answer(turn, view, mode))
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
        """Empty this conversation (and forget it in the library)."""
        if self.current is not None:
            self.stop()
        self._truncate(0)
        self._end_edit()
        self._later(self.library.remove(self.conversation_id))
        self.rev, self.named = 0, False
        self._announce("Conversation cleared.")
        self.textarea.focus()

    # The library of conversations --------------------------------------------------

    def new_chat(self) -> None:
        """Start an empty conversation; this one stays in the list."""
        self._later(self._switch(None))

    async def open_conversation(self, conversation_id: str) -> None:
        if conversation_id != self.conversation_id:
            await self._switch(conversation_id)
        self.sidebar.set_open(False)

    async def rename_conversation(self, conversation_id: str, title: str) -> None:
        if conversation_id == self.conversation_id:
            self.title, self.named = title, True
            if not self.conversation.turns:
                return  # kept when the first answer saves it
        rev = await self.library.rename(conversation_id, title)
        if conversation_id == self.conversation_id and rev:
            self.rev = rev
            self._save_session()
        await self.refresh()

    async def export_conversation(self, conversation_id: str) -> None:
        if conversation_id == self.conversation_id:
            conversation, title = self.conversation, self._title()
        else:
            stored = await self.library.get(conversation_id)
            if stored is None:
                return
            conversation, title = Conversation.loads(stored[0]), stored[1]
        self.library.download(file_name(title), export_markdown(title, conversation))
        self._announce(f"Exported “{title}” as Markdown.")

    async def delete_conversation(self, conversation_id: str) -> None:
        await self.library.remove(conversation_id)
        if conversation_id == self.conversation_id:
            await self._switch(None, keep=False)
        else:
            await self.refresh()
        self._announce("Conversation deleted.")

    async def refresh(self) -> None:
        """Redraw the list from the library (also when another tab changed it)."""
        try:
            items = await self.library.list()
        except Exception as error:
            js.console.warn(f"streamchat: could not read past conversations: {error!r}")
            return
        self.sidebar.show(items, self.conversation_id)

    async def _switch(self, conversation_id: str | None, *, keep: bool = True) -> None:
        """Show another conversation (None: a new one), after the answer streaming ends."""
        task = self.current
        if task is not None:
            self.stop()
            await asyncio.wait({task})
        if keep:
            await self._persist()
        stored = await self.library.get(conversation_id) if conversation_id else None
        for view in self.views:
            view.remove()
        self.views.clear()
        self._end_edit()
        if stored is None:
            self.conversation_id, self.rev = self.library.new_id(), 0
            self.title, self.named = "", False
            self.restore(None)
            self._announce("New conversation.")
        else:
            self.conversation_id, self.rev = conversation_id or "", stored[2]
            self.title, self.named = stored[1], True
            self.restore(stored[0])
            self._announce(f"Opened “{self.title}”.")
        self.clear_button.hidden = not self.views
        self._save_session()
        await self.refresh()
        self.textarea.focus()

    def _title(self) -> str:
        return self.title if self.named and self.title else title_for(self.conversation)

    async def _persist(self) -> None:
        """Write this conversation to the library, when it has anything to keep."""
        if not self.conversation.turns:
            return
        record = record_for(self.conversation_id, self._title(), self.conversation)
        try:
            saved_id, self.rev, forked = await self.library.put(record, self.rev)
        except Exception as error:  # quota exceeded, storage blocked mid-way
            js.console.warn(f"streamchat: could not save the conversation: {error!r}")
            self._announce("Could not save this conversation: the browser's storage is full.")
            return
        if forked:
            # Another tab wrote this conversation meanwhile: both copies are kept, and this
            # tab goes on with its own.
            self.conversation_id = saved_id
            self._announce("This conversation was also changed in another tab; kept as a copy.")
        self._save_session()
        await self.refresh()

    def _later(self, work: Any) -> None:
        # Kept until done: the event loop holds tasks only weakly.
        task = asyncio.ensure_future(work)
        self._copies.add(task)
        task.add_done_callback(self._copies.discard)

    def restore(self, stored: str | None) -> None:
        """Show the conversation kept in sessionStorage, as it was when the page went away."""
        self.conversation = Conversation.loads(stored)
        resumable = self.conversation.resumable
        for index, turn in enumerate(self.conversation.turns):
            view = self._add_view(turn.question)
            if turn.note:
                view.show_note(turn.note)
            if turn.reasoning:
                view.reasoning_box().apply(StreamRenderer().feed(turn.reasoning))
                view.end_reasoning(thought_text(turn.thought_for), collapse=True)
            renderer = StreamRenderer()
            view.apply(renderer.feed(turn.answer))
            if turn is resumable:
                break  # rendered again, with the rest, as it streams on
            view.apply(renderer.finish({c.id: view.source_anchor(c.id) for c in turn.citations}))
            last = index == len(self.conversation.turns) - 1
            self._finish_view(view, turn, last=last, restored=True)
        self.scroll.jump()
        if resumable is not None:
            # The page went away while this answer streamed (a reload, a crashed tab): the
            # back end still has it under its rid, so go on from the last event received.
            self._start_answer(resumable, self.views[-1], "resume")

    def _add_view(self, question: str) -> AnswerView:
        view = AnswerView(self.answers, question, len(self.views) + 1)
        self.views.append(view)
        self.clear_button.hidden = False
        return view

    def _finish_view(
        self, view: AnswerView, turn: Turn, *, last: bool, restored: bool = False
    ) -> None:
        if turn.citations:
            view.show_citations(turn.citations)
        view.set_state(turn.state)
        if turn.state == "error":
            view.show_alert(turn.error, retry=turn.retryable)
        elif turn.state == "stopped" and not turn.cut_off_text:
            view.set_meta("Stopped.")
        elif turn.cut_off_text:
            view.show_finish(turn.finish, turn.cut_off_text, can_continue=last)
        if turn.usage is not None:
            view.show_usage(turn.usage, usage_text(turn.usage))
        # An answer that failed offers Retry in its alert: a Regenerate beside it would be
        # the same action twice.
        view.show_actions(can_regenerate=last and turn.state != "error")
        # Markers named after their sources, one tab stop each, a card on hover, focus or tap
        # (app/browser/citations.py); and, for an answer that just ended (not one restored
        # after a reload), `streamchat:answer` for the widget's host (static/bridge.js).
        citation_cards().show_sources(view.answer, turn.citations)
        if not restored:
            announce_answer(turn)

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
        """Keep the conversation: at once for this tab (a reload resumes from it), and in the
        library (IndexedDB, asynchronous: not on the way out, where it would never finish)."""
        self._save_session()
        if self.current is None:
            self._later(self._persist())

    def _save_session(self) -> None:
        place = {"id": self.conversation_id, "rev": self.rev, "title": self.title}
        place["named"] = self.named
        try:
            js.sessionStorage.setItem(STORAGE_KEY, self.conversation.dumps())
            js.sessionStorage.setItem(CURRENT_KEY, json.dumps(place))
        except Exception as error:  # storage full or blocked: the page works without it
            js.console.warn(f"streamchat: could not keep the conversation: {error!r}")

    def _cancel_on_server(self, rid: str) -> None:
        # Best effort: closing the connection already stops the reference back end; this
        # tells it the stop was deliberate so it can free the answer at once.
        if rid:
            url = js.URL.new(self.config.endpoint, js.location.href)
            url.searchParams.set("rid", rid)
            SIGN_IN.delete(str(url.href))  # with the access token, when signed in

    # One answer ---------------------------------------------------------------

    def _request(self, turn: Turn, rid: str, continuing: bool) -> StreamRequest:
        """What to ask the back end for `turn` (the conversation before it, as history)."""
        history: tuple[HistoryItem, ...] = ()
        if self.config.transport == "fetch":
            history = self.conversation.history(turn)
            if continuing:
                history += (
                    HistoryItem("user", turn.question),
                    HistoryItem("assistant", turn.answer),
                )
        return StreamRequest(
            endpoint=self.config.endpoint,
            question=turn.question,
            rid=rid,
            history=history,
            # Over EventSource the back end finds the earlier turns from the previous answer.
            parent=turn.rid if continuing else self.conversation.parent(turn),
            continuing=continuing,
        )

    async def _answer(self, turn: Turn, view: AnswerView, mode: Mode = "new") -> None:
        continuing, resuming = mode == "continue", mode == "resume"
        rid = self.current_rid = turn.rid if resuming else secrets.token_urlsafe(12)
        request = self._request(turn, rid, continuing)
        cursor = Cursor(turn.last_event_id if resuming else "")
        turn.rid, turn.last_event_id = rid, cursor.last_event_id
        transport = SIGN_IN.wrap(
            FetchTransport() if self.config.transport == "fetch" else EventSourceTransport()
        )
        sink_type = NaiveSink if self.config.render == "naive" else IncrementalSink
        sink = sink_type(
            view.box,
            measure=self.config.measure,
            on_change=self.scroll.content_changed,
            initial=turn.answer if continuing or resuming else "",
        )
        progress = _Progress(time.monotonic())
        thinking = _Thinking(view, turn, self.scroll.content_changed)
        ticker = asyncio.ensure_future(self._tick(view, progress))
        citations: tuple[Citation, ...] = turn.citations if continuing else ()
        self._busy(True)
        view.set_meta("Connecting…")
        self._announce("Continuing the answer…" if mode != "new" else "Answering…")
        received = False  # anything arrived on this attempt (a resume may find nothing)
        try:
            async for item in stream_query(
                request,
                transport,
                policy=self.policy,
                sleep=asyncio.sleep,
                rng=random.random,
                now=time.monotonic,
                cursor=cursor,
            ):
                now = time.monotonic()
                turn.last_event_id = cursor.last_event_id  # saved with the text, in step
                received = received or not isinstance(item, Ping | Reconnecting)
                if isinstance(item, Token):
                    if progress.first_token_at is None:
                        view.set_meta("")  # no longer "Connecting…"; the ticker says the rest
                    progress.token(now, item.text)
                    thinking.end(now, collapse=True)
                    turn.answer += item.text  # kept current, so a reload keeps it too
                    sink.add(item.text)
                elif isinstance(item, Reasoning):
                    progress.thinking(now)
                    thinking.add(item.text, now)
                elif isinstance(item, Ping):
                    progress.alive = True
                elif isinstance(item, Usage):
                    turn.usage = item
                elif isinstance(item, Finish):
                    turn.finish = item.reason
                elif isinstance(item, Context):
                    turn.note = context_text(item)
                    if turn.note:
                        view.show_note(turn.note)
                        self._announce(turn.note)
                elif isinstance(item, Citations):
                    citations = item.citations
                elif isinstance(item, Reconnecting):
                    progress.retry(item, now)
                    status = progress.retry_text(now)
                    view.set_meta(status)
                    self._announce(status)
                elif isinstance(item, Done):
                    break
            ticker.cancel()
            sink.finish({c.id: view.source_anchor(c.id) for c in citations})
            turn.citations, turn.state = citations, "done"
            self._announce(turn.cut_off_text or completion_status(len(citations)))
        except asyncio.CancelledError:
            ticker.cancel()
            sink.finish()
            turn.state = "stopped"
            self._announce("Answer stopped.")
        except StreamError as error:
            ticker.cancel()
            if resuming and not received:
                # The back end no longer has it (expired, or restarted): keep what was shown
                # and offer to continue it, rather than an error for a page that was away.
                sink.finish()
                turn.state, turn.finish = "stopped", "interrupted"
                self._announce(turn.cut_off_text)
            else:
                self._fail(turn, view, sink, error.user_message, retryable=error.retry_may_help)
        except Exception as error:
            # A bug in the page must not leave an answer spinning: keep the text, say so.
            ticker.cancel()
            js.console.error(f"streamchat: unexpected error: {error!r}")
            self._fail(turn, view, sink, "Something went wrong in this page showing the answer.")
        finally:
            turn.answer = sink.text
            sink.close()
            thinking.close(time.monotonic())
            if turn.state not in ("done", "error"):
                turn.state = "stopped"
            self._finish_view(view, turn, last=True)
            if turn.state == "done":
                view.set_meta(progress.summary(time.monotonic(), turn.usage))
            self.scroll.content_changed()
            self.current = None
            self._busy(False)
            self._save()

    def _fail(
        self, turn: Turn, view: AnswerView, sink: Sink, message: str, *, retryable: bool = True
    ) -> None:
        sink.finish()
        turn.state, turn.error, turn.retryable = "error", message, retryable
        view.set_meta("")
        self._announce(message)

    async def _tick(self, view: AnswerView, progress: _Progress) -> None:
        """Once a second: the answer's phase, and a single announcement if it is slow."""
        announced = False
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if progress.retrying is not None:
                view.set_meta(progress.retry_text(now))
                continue
            view.set_meta(progress.text(now))
            if not announced and progress.waiting_for(now) >= STILL_WAITING_AFTER:
                announced = True
                if progress.alive or progress.thinking_since is not None:
                    self._announce("The model is still working on it…")
                else:
                    self._announce("Still waiting for the server…")

    def _busy(self, busy: bool) -> None:
        had_focus = js.document.activeElement == self.stop_button
        self.stop_button.hidden = not busy
        query("button[data-action=send]").hidden = busy
        # Only give focus back when hiding Stop took it away: moving it after every answer
        # would scroll a reader elsewhere, and on a phone open the keyboard.
        if not busy and had_focus:
            self.textarea.focus()

    def _announce(self, message: str) -> None:
        self.status.textContent = message


class _Progress:
    """When the answer started and how its tokens have come, for the status line."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.words = 0
        self._mid_word = False
        self.alive = False  # a heartbeat came: the back end is there, the model working
        self.thinking_since: float | None = None
        self.retrying: Reconnecting | None = None
        self._retry_at = 0.0

    def token(self, now: float, text: str) -> None:
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        # Words begun in this chunk: a word split across chunks is counted once.
        self.words += len(text.split()) - (bool(text) and not text[0].isspace() and self._mid_word)
        self._mid_word = bool(text) and not text[-1].isspace()
        self.retrying = None

    def thinking(self, now: float) -> None:
        if self.thinking_since is None:
            self.thinking_since = now
        self.retrying = None

    def retry(self, item: Reconnecting, now: float) -> None:
        self.retrying, self._retry_at = item, now + item.delay

    def retry_text(self, now: float) -> str:
        item = self.retrying
        if item is None:
            return ""
        left = self._retry_at - now if item.message else None
        return reconnect_status(item.attempt, item.max_attempts, left, item.message)

    def waiting_for(self, now: float) -> float:
        return now - self.started if self.first_token_at is None else 0.0

    def text(self, now: float) -> str:
        return progress_text(
            now,
            self.started,
            self.first_token_at,
            self.words,
            alive=self.alive,
            thinking_since=self.thinking_since,
        )

    def summary(self, now: float, usage: Usage | None) -> str:
        if self.first_token_at is None:
            return ""
        end = self.last_token_at or now
        if usage is not None and usage.completion_tokens:
            count, unit = usage.completion_tokens, "tokens"
        else:
            count, unit = self.words, "words"
        return speed_text(
            self.first_token_at - self.started, count, end - self.first_token_at, unit
        )


class _Thinking:
    """The answer's "Thinking" section: streams live, then folds away when the answer starts."""

    def __init__(self, view: AnswerView, turn: Turn, on_change: Any) -> None:
        self._view = view
        self._turn = turn
        self._on_change = on_change
        self._sink: IncrementalSink | None = None
        self._started: float | None = None
        self._ended = False

    def add(self, text: str, now: float) -> None:
        if self._sink is None:
            self._started = now
            self._sink = IncrementalSink(
                self._view.reasoning_box(), on_change=self._on_change, initial=self._turn.reasoning
            )
        self._turn.reasoning += text
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


def _stored(key: str) -> str | None:
    try:
        stored = js.sessionStorage.getItem(key)
    except Exception:  # storage blocked (a cross-site iframe, strict privacy settings)
        return None
    return str(stored) if stored else None


def _place(page: ChatPage, stored: str | None) -> None:
    """Which library conversation this tab showed before a reload."""
    try:
        place = json.loads(stored or "{}")
        page.conversation_id = str(place["id"]) or page.conversation_id
        page.rev, page.title = int(place["rev"]), str(place["title"])
        page.named = place["named"] is True
    except (ValueError, TypeError, KeyError):
        pass


#: The page's access tokens (docs/security.md, "Sign-in"); start() sets it up.
SIGN_IN = SignIn()


def start() -> ChatPage | None:
    try:
        config = load_config(str(query("#chat-config").textContent), str(js.location.search))
    except ConfigError as error:
        js.window.streamchatFail(str(error))
        return None
    SIGN_IN.start(config.token_url)
    configure_rendering(image_origins=config.image_origins)
    # Warm the renderer (Markdown's set-up, Pygments' lexers) before saying "ready", so the
    # first answer's first frame is as quick as any other.
    render_markdown("# warm\n\n- *a* [1]\n\n```python\nx = 1\n```\n", {"1": "#warm"})
    page = ChatPage(config)
    _place(page, _stored(CURRENT_KEY))
    page.restore(_stored(STORAGE_KEY))
    page._later(page.refresh())
    root.dataset.appState = "ready"
    question = js.window.streamchatTakePending()
    if question:
        page.pending_note.hidden = True
        page.ask(str(question))
    return page


PAGE = start()
