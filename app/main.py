"""Entry point run by PyScript: wires the form, the transports, the renderer and the DOM."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from app.browser.dom import AnswerView, query
from app.browser.eventsource import EventSourceTransport
from app.browser.fetch_stream import FetchTransport
from app.browser.render_sink import IncrementalSink, NaiveSink
from app.chat import Conversation, Turn, completion_status, reconnect_status, speed_text
from app.client import Reconnecting, StreamRequest, stream_query
from app.config import Config, ConfigError, load_config
from app.protocol import Citations, Done, StreamError, Token
from app.retry import RetryPolicy

root = js.document.documentElement
Sink = IncrementalSink | NaiveSink


class ChatPage:
    """The page's one controller: at most one answer streams at a time."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.policy = RetryPolicy(stall_timeout=config.stall_timeout)
        self.conversation = Conversation()
        self.form = query("form[data-role=ask]")
        self.textarea = query("textarea[name=question]", self.form)
        self.stop_button = query("button[data-action=stop]")
        self.answers = query("[data-role=answers]")
        self.status = query("[data-role=status]")
        self.current: asyncio.Task[None] | None = None
        self.current_rid = ""
        self._proxies = [
            self._listen(self.form, "submit", self._on_submit),
            self._listen(self.textarea, "keydown", self._on_keydown),
            self._listen(self.stop_button, "click", lambda _e: self.stop()),
            self._listen(js.document, "keydown", self._on_document_key),
            self._listen(self.answers, "click", self._on_answer_click),
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
        self.ask(question)

    def _on_keydown(self, event: Any) -> None:
        if event.key == "Enter" and not event.shiftKey and not event.isComposing:
            event.preventDefault()
            self.form.requestSubmit()

    def _on_document_key(self, event: Any) -> None:
        if event.key == "Escape" and self.current is not None:
            self.stop()

    def _on_answer_click(self, event: Any) -> None:
        button = event.target.closest("button[data-action=copy-code]")
        if button is None:
            return
        code = button.closest(".code-block").querySelector("pre")
        js.navigator.clipboard.writeText(code.textContent)
        button.textContent = "Copied"

    # Answers ------------------------------------------------------------------

    def ask(self, question: str) -> None:
        turn = self.conversation.ask(question)
        view = AnswerView(self.answers, question, len(self.conversation.turns))
        self.current = asyncio.ensure_future(self._answer(turn, view))

    def stop(self) -> None:
        if self.current is not None:
            self.current.cancel()
            self._cancel_on_server(self.current_rid)

    def _cancel_on_server(self, rid: str) -> None:
        # Best effort: closing the connection already stops the reference back end; this
        # tells it the stop was deliberate so it can free the answer at once.
        if self.config.transport == "fetch" and rid:
            url = js.URL.new(self.config.endpoint, js.location.href)
            url.searchParams.set("rid", rid)
            js.fetch(url.href, js.Object.fromEntries([["method", "DELETE"], ["keepalive", True]]))

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
        sink = sink_type(view, measure=self.config.measure)
        citations: Citations | None = None
        started = time.monotonic()
        first_token_at: float | None = None
        tokens = 0
        self._busy(True)
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
                    if first_token_at is None:
                        first_token_at = time.monotonic()
                    tokens += 1
                    sink.add(item.text)
                elif isinstance(item, Citations):
                    citations = item
                elif isinstance(item, Reconnecting):
                    message = reconnect_status(item.attempt, item.max_attempts)
                    view.set_meta(message)
                    self._announce(message)
                elif isinstance(item, Done):
                    break
            sources = citations.citations if citations else ()
            sink.finish({c.id: view.source_anchor(c.id) for c in sources})
            if sources:
                view.show_citations(sources)
            view.set_state("done")
            first_token_after = first_token_at - started if first_token_at is not None else None
            view.set_meta(speed_text(first_token_after, tokens, _since(first_token_at)))
            self._announce(completion_status(len(sources)))
        except asyncio.CancelledError:
            sink.finish()
            view.set_state("stopped")
            view.set_meta("Stopped.")
            self._announce("Answer stopped.")
        except StreamError as error:
            self._fail(turn, view, sink, error.user_message)
        except Exception as error:
            # A bug in the page must not leave an answer spinning: keep the text, say so.
            js.console.error(f"streamchat: unexpected error: {error!r}")
            self._fail(turn, view, sink, "Something went wrong in this page showing the answer.")
        finally:
            turn.answer = sink.text
            turn.state = view.state
            sink.close()
            self.current = None
            self._busy(False)

    def _fail(self, turn: Turn, view: AnswerView, sink: Sink, message: str) -> None:
        sink.finish()
        view.set_state("error")
        view.set_meta("")
        view.show_alert(message, lambda: self._retry(turn, view))
        self._announce(message)

    def _retry(self, turn: Turn, view: AnswerView) -> None:
        if self.current is not None:
            return
        view.remove()
        self.conversation.turns.remove(turn)
        self.ask(turn.question)

    def _busy(self, busy: bool) -> None:
        self.stop_button.hidden = not busy
        query("button[data-action=send]").hidden = busy
        if not busy:
            self.textarea.focus()

    def _announce(self, message: str) -> None:
        self.status.textContent = message


def _since(start: float | None) -> float:
    return time.monotonic() - start if start is not None else 0.0


def start() -> ChatPage | None:
    try:
        config = load_config(str(query("#chat-config").textContent), str(js.location.search))
    except ConfigError as error:
        js.window.streamchatFail(str(error))
        return None
    page = ChatPage(config)
    root.dataset.appState = "ready"
    return page


PAGE = start()
