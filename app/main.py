"""Entry point run by PyScript: the page's controller. It wires the form, the conversation and
its library to one streaming answer at a time (app/browser/live_answer.py)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from app.answer_turn import Mode
from app.browser.auth import SignIn
from app.browser.citations import citation_cards
from app.browser.clipboard import copy_text
from app.browser.dom import AnswerView, ScrollFollower, query
from app.browser.events import announce_answer
from app.browser.library import ConversationStore, Sidebar
from app.browser.storage import TabStorage
from app.chat import Conversation, Turn, question_limit_text, thought_text, usage_text
from app.config import Config, ConfigError, load_config
from app.library import export_markdown, file_name, record_for, title_for
from app.tab import Place
from streamchat.browser import quick_soon
from streamchat.browser.frames import IdleScheduler

if TYPE_CHECKING:
    from app.browser.live_answer import LiveAnswer


class ChatPage:
    """The page's one controller: at most one answer streams at a time."""

    def __init__(self, config: Config, sign_in: SignIn) -> None:
        self.config = config
        self.sign_in = sign_in
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
        #: What the counter under the question box shows: its text, and whether it is over.
        self._counter_shown: tuple[str, bool] | None = None
        #: Whether the stylesheet's `field-sizing: content` sizes the question box.
        self._box_grows_itself = bool(js.CSS.supports("field-sizing", "content"))
        self.scroll = ScrollFollower(query("#conversation"), query("[data-action=jump-to-latest]"))
        self.current: LiveAnswer | None = None
        self._renderer_loaded = False
        self.editing: int | None = None
        self.waiting: deque[str] = deque()  # questions to ask once the answer streaming ends
        self._tasks: set[asyncio.Future[None]] = set()
        self.storage = TabStorage()
        #: An answer that ends is kept once the browser has shown it (an idle moment after
        #: that frame), not before: saving is 15 ms of a slow phone's main thread, and the
        #: reader waits for the final answer. A tab closed or reloaded sooner saves on its way
        #: out (pagehide), and switching conversations keeps this one first.
        self._save_soon = IdleScheduler(self._save)
        self.library = ConversationStore()
        #: The conversation's place in the library: after a reload, the one this tab showed.
        self.place = self.storage.place(self.library.new_id())
        self.sidebar = Sidebar(
            on_open=lambda cid: self._later(self.open_conversation(cid)),
            on_rename=lambda cid, title: self._later(self.rename_conversation(cid, title)),
            on_export=lambda cid: self._later(self.export_conversation(cid)),
            on_delete=lambda cid: self._later(self.delete_conversation(cid)),
        )
        self._library_changed = self.library.on_change(lambda _id: self._later(self.refresh()))
        self._proxies = [
            self._listen(self.form, "submit", self._on_submit),
            self._listen(self.textarea, "input", lambda _e: self._count_question()),
            self._listen(self.stop_button, "click", lambda _e: self.stop()),
            self._listen(self.clear_button, "click", lambda _e: self.clear()),
            self._listen(query("[data-action=new-chat]"), "click", lambda _e: self.new_chat()),
            self._listen(js.document, "keydown", self._on_document_key),
            self._listen(self.answers, "click", self._on_answer_click),
            self._listen(query("[data-action=suggest]"), "click", self._on_suggestion),
            self._listen(js.window, "pagehide", lambda _e: self._on_pagehide()),
        ]

    def load_renderer(self) -> None:
        """Imports the renderer (Markdown and Pygments: about 0.1 s in the browser) and sets it
        up for this page's configuration, once: not before ready, but in the first idle moment
        after it (`warm_renderer`), or before the first answer or restored conversation if one
        comes first (docs/startup.md)."""
        if self._renderer_loaded:
            return
        from streamchat.render import configure

        configure(image_origins=self.config.image_origins)
        self._renderer_loaded = True

    def warm_renderer(self, later: Callable[[], None]) -> None:
        """The renderer's import, then (`later`: in another idle moment, so that neither is a
        long task of 0.3 s) Markdown's set-up and Pygments' Python lexer, about 0.15 s of a
        first render, so that the first answer's first frame is as quick as any other; and
        the citation cards, which the first answer's end would otherwise make."""
        if not self._renderer_loaded:
            self.load_renderer()
            later()
            return
        from streamchat.render import render_markdown

        render_markdown("# warm\n\n- *a* [1]\n\n```python\nx = 1\n```\n", {"1": "#warm"})
        citation_cards()
        js.performance.mark("streamchat:renderer-warm")  # read by bench/startup.py

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
        if self._too_long(question):
            self._count_question()  # the text stays in the box, to shorten
            return
        self.textarea.value = ""
        self._count_question()
        if self.editing is not None:
            self._truncate(self.editing)
            self._end_edit()
        self.ask(question)

    def receive_questions(self) -> None:
        """Take the questions static/boot.js holds for the page, now and from now on."""
        receiver = create_proxy(lambda question: self.take_question(str(question)))
        self._proxies.append(receiver)
        js.window.streamchatReceiveQuestions(receiver)

    def take_question(self, question: str) -> None:
        """A question asked before the page was ready, or by the widget's host (handed over by
        static/boot.js): asked once no answer is streaming, after those that came before it."""
        self.waiting.append(question)
        self._ask_waiting()

    def _ask_waiting(self) -> None:
        while self.current is None and self.waiting:
            question = self.waiting.popleft()
            if not self._too_long(question):
                self.ask(question)

    def _too_long(self, question: str) -> bool:
        """Refuses a question longer than the back end takes, saying so (rather than sending it
        to be refused)."""
        limit = self.config.max_question_chars
        if len(question) <= limit:
            return False
        self._announce(
            f"The question is {len(question):,} characters long; the limit is {limit:,}."
            " Please shorten it."
        )
        return True

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
        """After each key in the question box: its size, and the counter near the limit."""
        if not self._box_grows_itself:
            # The box grows with its text (up to the stylesheet's max-height, then it
            # scrolls). Reading its height lays out the page there and then, all that changed
            # since the last frame (an answer streaming), so only where CSS cannot do it.
            self.textarea.style.height = "auto"
            self.textarea.style.height = f"{int(self.textarea.scrollHeight) + 2}px"
        length = len(str(self.textarea.value).strip())
        limit = self.config.max_question_chars
        counter = (question_limit_text(length, limit), length > limit)
        if counter == self._counter_shown:
            return  # nothing to change: no DOM write, no style to recalculate
        self._counter_shown = counter
        text, over = counter
        self.counter.textContent = text
        self.counter.hidden = not text
        self.counter.classList.toggle("over", over)

    def _on_answer_click(self, event: Any) -> None:
        # closest() returns JS null, not None, when nothing matches (a click on plain text).
        button = event.target.closest("button[data-action]") if event.target else None
        if not button:
            return
        action = str(button.dataset.action)
        if action == "copy-code":
            code = button.closest(".code-block").querySelector("pre")
            self._later(copy_text(str(code.textContent), button, self._announce))
            return
        index = self._turn_index(button)
        if index is None:
            return
        if action == "copy-answer":
            self._later(copy_text(self.conversation.turns[index].answer, button, self._announce))
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
        self.load_renderer()
        from app.browser.live_answer import LiveAnswer

        self.current = LiveAnswer(
            self.conversation,
            turn,
            view,
            mode,
            config=self.config,
            sign_in=self.sign_in,
            on_change=self.scroll.content_changed,
            announce=self._announce,
            on_end=self._answer_ended,
        )
        self._busy(True)
        self.current.start()

    def _answer_ended(self, live: LiveAnswer) -> None:
        self._finish_view(live.view, live.turn, last=True)
        if self.current is live:
            self.current = None
            self._busy(False)
        self._save_soon.request()
        # Not from inside the stop that ended it (Clear, New chat): once that has done its work.
        asyncio.get_running_loop().call_soon(self._ask_waiting)

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()

    def clear(self) -> None:
        """Empty this conversation (and forget it in the library)."""
        if self.current is not None:
            self.stop()
        self._truncate(0)
        self._end_edit()
        self._later(self.library.remove(self.place.id))
        self.place.rev, self.place.named = 0, False
        self._announce("Conversation cleared.")
        self.textarea.focus()

    # The library of conversations --------------------------------------------------

    def new_chat(self) -> None:
        """Start an empty conversation; this one stays in the list."""
        self._later(self._switch(None))

    async def open_conversation(self, conversation_id: str) -> None:
        if conversation_id != self.place.id:
            await self._switch(conversation_id)
        self.sidebar.set_open(False)

    async def rename_conversation(self, conversation_id: str, title: str) -> None:
        if conversation_id == self.place.id:
            self.place.title, self.place.named = title, True
            if not self.conversation.turns:
                return  # kept when the first answer saves it
        rev = await self.library.rename(conversation_id, title)
        if conversation_id == self.place.id and rev:
            self.place.rev = rev
            self._save_session()
        await self.refresh()

    async def export_conversation(self, conversation_id: str) -> None:
        if conversation_id == self.place.id:
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
        if conversation_id == self.place.id:
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
        self.sidebar.show(items, self.place.id)

    async def _switch(self, conversation_id: str | None, *, keep: bool = True) -> None:
        """Show another conversation (None: a new one), after the answer streaming ends."""
        live = self.current
        if live is not None:
            live.stop()
            await live.finished()
        if keep:
            await self._persist()
        stored = await self.library.get(conversation_id) if conversation_id else None
        for view in self.views:
            view.remove()
        self.views.clear()
        self._end_edit()
        if stored is None:
            self.place = Place(self.library.new_id())
            self.restore(None)
            self._announce("New conversation.")
        else:
            self.place = Place(conversation_id or "", stored[2], stored[1], True)
            self.restore(stored[0])
            self._announce(f"Opened “{self.place.title}”.")
        self.clear_button.hidden = not self.views
        self._save_session()
        await self.refresh()
        self.textarea.focus()

    def _title(self) -> str:
        place = self.place
        return place.title if place.named and place.title else title_for(self.conversation)

    async def _persist(self) -> None:
        """Write this conversation to the library, when it has anything to keep."""
        if not self.conversation.turns:
            return
        record = record_for(self.place.id, self._title(), self.conversation)
        try:
            saved_id, self.place.rev, forked = await self.library.put(record, self.place.rev)
        except Exception as error:  # quota exceeded, storage blocked mid-way
            js.console.warn(f"streamchat: could not save the conversation: {error!r}")
            self._announce("Could not save this conversation: the browser's storage is full.")
            return
        if forked:
            # Another tab wrote this conversation meanwhile: both copies are kept, and this
            # tab goes on with its own.
            self.place.id = saved_id
            self._announce("This conversation was also changed in another tab; kept as a copy.")
        self._save_session()
        await self.refresh()

    def _later(self, work: Any) -> None:
        # Kept until done: the event loop holds tasks only weakly.
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def restore(self, stored: str | None) -> None:
        """Show the conversation kept in sessionStorage, as it was when the page went away."""
        self.conversation = Conversation.loads(stored)
        resumable = self.conversation.resumable
        if not self.conversation.turns:  # the renderer is not needed yet (`load_renderer`)
            self.scroll.jump()
            return
        self.load_renderer()
        from streamchat.stream_render import StreamRenderer

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
        self.storage.save(self.conversation, self.place)

    def _on_pagehide(self) -> None:
        """On the way out (a reload, another page): the tab keeps the conversation; and an
        answer that ended just now, not kept yet, goes to the library too (best effort)."""
        if self._save_soon.pending:
            self._save_soon.cancel()
            self._save()
        else:
            self._save_session()

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


def start() -> ChatPage | None:
    # Each task wake-up at one browser task, not two and a proxy (streamchat/browser/quick_soon.py).
    quick_soon.install()
    try:
        config = load_config(str(query("#chat-config").textContent), str(js.location.search))
    except ConfigError as error:
        js.window.streamchatFail(str(error))
        return None
    sign_in = SignIn()  # the page's access tokens (docs/security.md, "Sign-in")
    sign_in.start(config.token_url)
    page = ChatPage(config, sign_in)
    page.restore(page.storage.conversation())
    page._later(page.refresh())
    js.window.streamchatReady()  # html[data-app-state=ready] (static/boot.js)
    # Then the questions asked meanwhile, and later the widget host's (static/bridge.js).
    page.receive_questions()
    # The renderer when the page is first idle: not before ready, as nothing needs it then.
    # A question asked sooner waits for its import (about 0.1 s) and renders Markdown for the
    # first time in its first frame (docs/startup.md). One idle callback, for the page's life.
    warm_up = IdleScheduler(lambda: page.warm_renderer(warm_up.request))
    warm_up.request()
    return page


PAGE = start()
