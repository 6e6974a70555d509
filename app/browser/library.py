"""Past conversations: IndexedDB through static/conversations.js, and the list that shows them.

`ConversationStore` wraps `window.streamchatConversations` (promises, awaited here); the
`Sidebar` is the list itself: a column on wide screens, a drawer on narrow ones and in the
widget, with search, rename, export and delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from app.browser.dom import element, query
from app.library import Summary, matches

#: How long a first click on Delete waits for the second that confirms it, in seconds.
CONFIRM_SECONDS = 4.0


class ConversationStore:
    """The conversations kept by this browser (static/conversations.js)."""

    def __init__(self) -> None:
        self._js = js.window.streamchatConversations

    def new_id(self) -> str:
        return str(self._js.newId())

    async def list(self) -> list[Summary]:
        items = await self._js.list()
        return [
            Summary(str(i.id), str(i.title), float(i.updated), str(i.text or "")) for i in items
        ]

    async def get(self, conversation_id: str) -> tuple[str, str, int] | None:
        """The stored conversation's turns (JSON), title and rev, or None."""
        record = await self._js.get(conversation_id)
        if not record:  # JS null
            return None
        return str(record.turns), str(record.title), int(record.rev)

    async def put(self, record: dict[str, str], base_rev: int) -> tuple[str, int, bool]:
        """Saves; returns (id, rev, forked): forked when another tab had written it since
        `base_rev`, so this copy was kept as a new conversation."""
        result = await self._js.put(to_js(record, dict_converter=js.Object.fromEntries), base_rev)
        return str(result.id), int(result.rev), bool(result.forked)

    async def rename(self, conversation_id: str, title: str) -> int:
        return int(await self._js.rename(conversation_id, title))

    async def remove(self, conversation_id: str) -> None:
        await self._js.remove(conversation_id)

    def download(self, name: str, text: str) -> None:
        self._js.download(name, text)

    def on_change(self, listener: Callable[[str], None]) -> Any:
        proxy = create_proxy(lambda changed: listener(str(changed)))
        self._js.onChange(proxy)
        return proxy


class Sidebar:
    """The list of conversations. Actions call back into the page by conversation id."""

    def __init__(
        self,
        *,
        on_open: Callable[[str], None],
        on_rename: Callable[[str, str], None],
        on_export: Callable[[str], None],
        on_delete: Callable[[str], None],
    ) -> None:
        self.root = query("[data-role=conversations]")
        self.list = query("[data-role=conversation-list]", self.root)
        self.search = query("[data-role=conversation-search]", self.root)
        self.toggle = query("[data-action=toggle-conversations]")
        self._on_open = on_open
        self._on_rename = on_rename
        self._on_export = on_export
        self._on_delete = on_delete
        self._items: list[Summary] = []
        self._current = ""
        self._confirming: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._proxies = [
            _listen(self.list, "click", self._on_click),
            _listen(self.list, "keydown", self._on_key),
            _listen(self.search, "input", lambda _e: self._draw()),
            _listen(self.toggle, "click", lambda _e: self.set_open(not self.is_open)),
        ]

    @property
    def is_open(self) -> bool:
        return bool(self.root.classList.contains("open"))

    def set_open(self, open_: bool) -> None:
        """Open or close the drawer (narrow screens, the widget); wide screens always show it."""
        self.root.classList.toggle("open", open_)
        self.toggle.setAttribute("aria-expanded", "true" if open_ else "false")
        if open_:
            self.search.focus()

    def show(self, items: list[Summary], current: str) -> None:
        self._items, self._current = items, current
        self._draw()

    def _draw(self) -> None:
        query_text = str(self.search.value)
        shown = [item for item in self._items if matches(item, query_text)]
        rows = []
        for item in shown:
            row = element("li", "conversation-item", data_conversation_id=item.id)
            opener = element("button", "conversation-open", item.title, type="button",
                             data_action="open-conversation", title=item.title)  # fmt: skip
            if item.id == self._current:
                opener.setAttribute("aria-current", "true")
            row.append(opener)
            tools = element("span", "conversation-tools")
            tools.append(
                element("button", "icon-button", "Rename", type="button",
                        data_action="rename-conversation", aria_label=f"Rename “{item.title}”"),
                element("button", "icon-button", "Export", type="button",
                        data_action="export-conversation",
                        aria_label=f"Export “{item.title}” as Markdown"),
                element("button", "icon-button", "Delete", type="button",
                        data_action="delete-conversation", aria_label=f"Delete “{item.title}”"),
            )  # fmt: skip
            row.append(tools)
            rows.append(row)
        if not rows:
            words = "No conversation matches." if query_text.strip() else "No conversations yet."
            rows.append(element("li", "conversation-empty", words))
        self.list.replaceChildren(*rows)

    def _on_click(self, event: Any) -> None:
        # closest() gives JS null, not None, when nothing matches.
        button = event.target.closest("button[data-action]") if event.target else None
        row = button.closest("[data-conversation-id]") if button else None
        if not button or not row:
            return
        conversation_id = str(row.dataset.conversationId)
        action = str(button.dataset.action)
        if action == "open-conversation":
            self._on_open(conversation_id)
        elif action == "export-conversation":
            self._on_export(conversation_id)
        elif action == "rename-conversation":
            self._start_rename(row, conversation_id)
        elif action == "delete-conversation":
            if self._confirming == conversation_id:
                self._confirming = None
                self._on_delete(conversation_id)
            else:
                self._confirming = conversation_id
                button.textContent = "Delete?"
                button.setAttribute("aria-label", "Press again to delete")
                self._later(self._cancel_confirm(button, conversation_id))

    async def _cancel_confirm(self, button: Any, conversation_id: str) -> None:
        await asyncio.sleep(CONFIRM_SECONDS)
        if self._confirming == conversation_id:
            self._confirming = None
            button.textContent = "Delete"

    def _start_rename(self, row: Any, conversation_id: str) -> None:
        opener = row.querySelector(".conversation-open")
        field = element("input", "conversation-rename", type="text", data_role="rename",
                        aria_label="New name for this conversation")  # fmt: skip
        field.value = opener.textContent
        opener.replaceWith(field)
        field.focus()
        field.select()

    def _on_key(self, event: Any) -> None:
        field = event.target
        if not field or not field.classList.contains("conversation-rename"):
            return
        row = field.closest("[data-conversation-id]")
        if event.key == "Enter":
            event.preventDefault()
            title = " ".join(str(field.value).split())
            if title:
                self._on_rename(str(row.dataset.conversationId), title[:200])
            self._draw()
        elif event.key == "Escape":
            event.preventDefault()
            event.stopPropagation()  # not a Stop, not a widget close
            self._draw()

    def _later(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _listen(target: Any, kind: str, handler: Any) -> Any:
    proxy = create_proxy(handler)
    target.addEventListener(kind, proxy)
    return proxy
