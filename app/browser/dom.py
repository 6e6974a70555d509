"""The document: one answer's elements, DOM patches applied through the page's sanitizer.

Every HTML string from `streamchat.render` passes `window.streamchatSanitize` (DOMPurify, see
static/sanitize.mjs) before it reaches `innerHTML`: a second layer that does not trust the
first. Plain text (questions, titles, messages) only ever goes through `textContent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from app.chat import follows_after_scroll, is_at_bottom
from app.citation_cards import source_for
from streamchat.patches import AppendBlock, AppendTail, Patch, ReplaceBlock, SetTail
from streamchat.protocol import Citation, Usage

document = js.document
ELEMENT_NODE, TEXT_NODE = 1, 3
#: What a finished answer shows below its text.
FOOTER_PARTS = (
    "[data-role=answer-cutoff]",
    "[data-role=citations]",
    "[data-role=usage]",
    "[role=alert]",
)


def element(tag: str, cls: str = "", text: str = "", **attrs: str) -> Any:
    node = document.createElement(tag)
    if cls:
        node.className = cls
    if text:
        node.textContent = text
    for name, value in attrs.items():
        node.setAttribute(name.replace("_", "-"), value)
    return node


def sanitize(html: str) -> str:
    return str(js.window.streamchatSanitize(html))


def sanitized(html: str) -> Any:
    """`html`, cleaned, as a DocumentFragment: inserted as it is, not serialised by the
    sanitizer and parsed again by `innerHTML` (a third of an update's time)."""
    return js.window.streamchatSanitizeFragment(html)


def query(selector: str, root: Any = None) -> Any:
    return (root or document).querySelector(selector)


class MarkdownBox:
    """An element that shows streamed markdown: finished blocks, then the live tail.

    `container` holds two elements: `div.md-blocks`, the finished blocks (each a
    `div.md-block`), then `div.md-tail`. The blocks and the tail are `display: contents`, so
    the markdown lays out as if it were the container's own children. `div.md-blocks` is
    positioned (static/style.css), which makes it a paint layer of its own: while only the
    tail changes, the browser reuses what it painted for the finished blocks instead of
    painting the whole answer again each frame (measured at 4× CPU throttling: paint 66–71
    ms per second of streaming against 102–110, docs/benchmarks.md).
    """

    def __init__(self, container: Any) -> None:
        self.container = container
        self.tail = element("div", "md-tail")
        self.blocks = element("div", "md-blocks")
        container.append(self.blocks, self.tail)
        #: The text node `AppendTail` last appended to: while only `AppendTail` patches
        #: follow, the next one goes there too, without walking the tail again (each step of
        #: the walk is a read across the Python–JavaScript bridge, and reading a long code
        #: block's text into Python costs its length).
        self._append_to: Any = None

    def apply(self, patches: Sequence[Patch]) -> None:
        for patch in patches:
            if isinstance(patch, AppendTail):
                if self._append_to is None:
                    self._append_to = _append_text(self.tail, patch.text)
                else:
                    self._append_to.appendData(patch.text)
                continue
            self._append_to = None  # any other patch may have changed the tail
            if isinstance(patch, AppendBlock):
                block = element("div", "md-block")
                block.append(sanitized(patch.html))
                self.blocks.append(block)
            elif isinstance(patch, SetTail):
                self.tail.replaceChildren(sanitized(patch.html))
            elif isinstance(patch, ReplaceBlock):
                self.blocks.children.item(patch.index).replaceChildren(sanitized(patch.html))

    def show_whole(self, html: str) -> None:
        """Replace the whole content at once (the benchmarks' naive baseline only)."""
        self._append_to = None
        self.tail.innerHTML = sanitize(html)

    def colouring(self, pending: bool) -> None:
        """`data-colouring` while finished code blocks wait to be coloured."""
        if pending:
            self.container.setAttribute("data-colouring", "")
        else:
            self.container.removeAttribute("data-colouring")

    def clear(self) -> None:
        """Empty it, to render its text again from the start (a continued answer)."""
        self._append_to = None
        self.blocks.replaceChildren()
        self.container.replaceChildren(self.blocks, self.tail)
        self.tail.innerHTML = ""


class AnswerView:
    """One turn of the conversation: the question, then the answer as it streams."""

    def __init__(self, answers: Any, question: str, number: int) -> None:
        self.anchor = f"a{number}"
        self.turn = element("li", "turn")
        asked = element("div", "question-row")
        asked.append(element("div", "question", question, data_role="question"))
        asked.append(
            element(
                "button", "icon-button", "Edit", type="button", data_action="edit-question",
                aria_label="Edit and resend this question",
            )
        )  # fmt: skip
        self.turn.append(asked)
        self.answer = element(
            "article", "answer", data_role="answer", data_state="streaming", aria_busy="true",
            id=self.anchor, aria_label=f"Answer {number}",
        )  # fmt: skip
        self.body = element("div", "answer-body", data_role="answer-body")
        self.box = MarkdownBox(self.body)
        self.meta = element("p", "answer-meta", data_role="answer-meta")
        self.actions = element("div", "answer-actions")
        self.answer.append(self.body, self.meta, self.actions)
        self.turn.append(self.answer)
        answers.append(self.turn)
        self._reasoning: Any = None
        self._reasoning_box: MarkdownBox | None = None

    def source_anchor(self, citation_id: str) -> str:
        return f"#{self.anchor}-source-{citation_id}"

    def apply(self, patches: Sequence[Patch]) -> None:
        self.box.apply(patches)

    def show_whole(self, html: str) -> None:
        """Replace the whole body at once (the benchmarks' naive baseline only)."""
        self.box.show_whole(html)

    def reasoning_box(self) -> MarkdownBox:
        """The "Thinking" section, made open on first use: above the answer, never in it."""
        if self._reasoning_box is None:
            details = self._reasoning = element(
                "details", "reasoning", data_role="reasoning", open=""
            )
            details.append(element("summary", "", "Thinking…"))
            content = element("div", "reasoning-body")
            details.append(content)
            self.answer.insertBefore(details, self.body)
            self._reasoning_box = MarkdownBox(content)
        return self._reasoning_box

    def end_reasoning(self, summary: str, *, collapse: bool) -> None:
        """The model stopped thinking: say for how long, and fold it away for the answer."""
        if self._reasoning is None:
            return
        self._reasoning.querySelector("summary").textContent = summary
        if collapse:
            self._reasoning.open = False

    def show_note(self, text: str) -> None:
        """A quiet note above the answer (what of the conversation the model was given)."""
        note = element("p", "answer-note", text, data_role="answer-note")
        self.answer.insertBefore(note, self.answer.firstChild)

    def show_finish(self, reason: str, text: str, *, can_continue: bool) -> None:
        """The model stopped early: say so, and offer to continue the same answer (the last
        one only: continuing an earlier one would change what later answers were given)."""
        self.answer.dataset.finish = reason
        note = element("div", "answer-cutoff", data_role="answer-cutoff")
        note.append(element("span", "", text))
        if can_continue:
            note.append(
                element("button", "", "Continue", type="button", data_action="continue",
                        aria_label="Continue this answer where it stopped")
            )  # fmt: skip
        self.answer.insertBefore(note, self.meta)

    def hide_continue(self) -> None:
        button = self.answer.querySelector("[data-action=continue]")
        if button:  # querySelector gives JS null, not None, for no match
            button.remove()

    def reset_footer(self) -> None:
        """Take away what a finished answer shows below its text, before it goes on."""
        self.answer.removeAttribute("data-finish")
        for selector in FOOTER_PARTS:
            found = self.answer.querySelector(selector)
            if found:
                found.remove()
        self.actions.replaceChildren()
        self.set_meta("")
        self.answer.setAttribute("aria-busy", "true")

    def show_usage(self, usage: Usage, text: str) -> None:
        """The figures in words, and as numbers (`data-*-tokens`, docs/contract.md §2)."""
        figures = element("p", "answer-usage", text, data_role="usage")
        for kind, value in (
            ("prompt", usage.prompt_tokens),
            ("completion", usage.completion_tokens),
            ("reasoning", usage.reasoning_tokens),
        ):
            if value is not None:
                figures.setAttribute(f"data-{kind}-tokens", str(value))
        self.answer.insertBefore(figures, self.actions)

    @property
    def state(self) -> str:
        return str(self.answer.dataset.state)

    def set_state(self, state: str) -> None:
        self.answer.dataset.state = state
        if state != "streaming":
            self.answer.removeAttribute("aria-busy")

    def set_meta(self, text: str) -> None:
        if self.meta.textContent != text:
            self.meta.textContent = text

    def show_actions(self, *, can_regenerate: bool) -> None:
        """The finished answer's buttons: copy it as markdown, and regenerate the last one."""
        self.actions.replaceChildren()
        self.actions.append(
            element("button", "icon-button", "Copy", type="button", data_action="copy-answer",
                    aria_label="Copy this answer as markdown")
        )  # fmt: skip
        if can_regenerate:
            self.actions.append(
                element("button", "icon-button", "Regenerate", type="button",
                        data_action="regenerate", aria_label="Regenerate this answer")
            )  # fmt: skip

    def hide_regenerate(self) -> None:
        button = self.actions.querySelector("[data-action=regenerate]")
        if button:  # JS null when there is none
            button.remove()

    def show_citations(self, citations: Sequence[Citation]) -> None:
        box = element("section", "citations", data_role="citations", aria_label="Sources")
        box.append(element("h3", "", "Sources"))
        items = element("ol")
        for citation in citations:
            source = source_for(citation)  # its site and link, also for a URL that won't parse
            item = element("li", id=self.source_anchor(citation.id)[1:])
            link = element(
                "a", "", citation.title or citation.url, href=source.href,
                data_citation=citation.id, target="_blank", rel="noopener noreferrer nofollow",
            )  # fmt: skip
            if not source.href:
                # A source with a URL we won't link to still shows its title.
                link.removeAttribute("href")
            item.append(link)
            if source.site:
                item.append(element("span", "host", source.site))
            items.append(item)
        box.append(items)
        self.answer.insertBefore(box, self.meta)

    def show_alert(self, message: str, *, retry: bool = True) -> None:
        """Why the answer failed; Retry only when asking again can help (not a bad key)."""
        alert = element("div", "answer-alert", role="alert")
        alert.append(element("span", "", message))
        if retry:
            alert.append(element("button", "", "Retry", type="button", data_action="retry"))
        self.answer.insertBefore(alert, self.meta)

    def remove(self) -> None:
        self.turn.remove()


class ScrollFollower:
    """Keeps the newest text in view while the reader is at the bottom, and only then.

    Scrolling up stops the following and shows a "Jump to latest" button; scrolling back
    down (or the button) resumes it. Content above the reader only ever grows below them,
    so nothing they are reading moves.

    The view follows when the content's size changes (a `ResizeObserver` on the scroller and
    its children), not on every frame that changed the text: its callback comes after the
    browser's own layout, so reading `scrollHeight` there costs nothing, where reading it
    after each frame's writes made the browser lay the page out an extra time per frame.
    """

    def __init__(self, scroller: Any, jump_button: Any) -> None:
        self._scroller = scroller
        self._jump = jump_button
        self.following = True
        self._jump_shown = False
        #: Where the view last was, to tell the reader scrolling up from the page's own
        #: scroll being reported after the content grew.
        self._top = 0.0
        self._proxies = [
            create_proxy(self._on_scroll),
            create_proxy(lambda _e: self.jump()),
            create_proxy(self._on_resize),
        ]
        scroller.addEventListener(
            "scroll", self._proxies[0], js.Object.fromEntries([["passive", True]])
        )
        jump_button.addEventListener("click", self._proxies[1])
        self._resized = js.ResizeObserver.new(self._proxies[2])
        self._resized.observe(scroller)
        for child in scroller.children:
            self._resized.observe(child)

    def content_changed(self) -> None:
        """More of an answer is shown: followed by the resize it causes, if any; else the
        button says there is more below."""
        if not self.following and not self._jump_shown:
            self._jump_shown = True
            self._jump.hidden = False

    def jump(self) -> None:
        self.following = True
        self._show_jump(False)
        self._to_bottom()

    def _to_bottom(self) -> None:
        element = self._scroller
        element.scrollTop = element.scrollHeight
        self._top = element.scrollTop  # as the browser clamped it

    def _on_resize(self, *_: Any) -> None:
        if self.following:
            self._to_bottom()

    def _on_scroll(self, _event: Any) -> None:
        element = self._scroller
        top = element.scrollTop
        moved_up = top < self._top
        self._top = top
        if self.following and not moved_up:
            # The page's own scroll to the bottom, reported once a frame while an answer
            # streams: it follows either way (`follows_after_scroll`), so the sizes are not
            # read across the bridge for it.
            return
        self.following = follows_after_scroll(
            self.following,
            moved_up=moved_up,
            at_bottom=is_at_bottom(top, element.clientHeight, element.scrollHeight),
        )
        if self.following and self._jump_shown:
            self._show_jump(False)

    def _show_jump(self, shown: bool) -> None:
        self._jump_shown = shown
        self._jump.hidden = not shown


def _append_text(node: Any, text: str) -> Any:
    """Add `text` after the last text in `node`, inside every element that ends there (the
    line breaks between closing tags are not text): where `AppendTail` puts it. Returns the
    text node it went into when more text for the same place goes there too, else None."""
    while True:
        last = node.lastChild
        while last and last.nodeType == TEXT_NODE and not str(last.data).strip():
            last = last.previousSibling  # the "\n" between two closing tags
        if not last or last.nodeType != ELEMENT_NODE:
            break
        node = last
    if last and last.nodeType == TEXT_NODE:
        last.appendData(text)
        return last
    node.append(text)
    # A text of spaces alone is passed over by the walk above: the next text may go elsewhere.
    return node.lastChild if text.strip() else None
