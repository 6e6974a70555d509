"""The DOM (`Document`, `Element`, `<template>`): an element that shows `StreamRenderer`'s patches.

A copy of the page's own applier (app/browser/dom.py `MarkdownBox`), kept to the minimum a
page that is not ours needs. HTML goes through the page's DOMPurify
(`window.streamchatSanitizeFragment`, static/sanitize.mjs) when the page loads it: a second
layer. Without it, a `<template>` parses the HTML, which `render_markdown` already made safe
(docs/contract.md §3); a `<template>` runs no script and loads nothing while it parses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import js  # type: ignore[import-not-found]

from streamchat.patches import AppendBlock, AppendTail, Patch, ReplaceBlock, SetTail

__all__ = ["MarkdownBox", "element", "fragment"]

ELEMENT_NODE, TEXT_NODE = 1, 3


def element(tag: str, cls: str = "", text: str = "", **attrs: str) -> Any:
    """A new element; `text` goes through `textContent`, never parsed as HTML."""
    node = js.document.createElement(tag)
    if cls:
        node.className = cls
    if text:
        node.textContent = text
    for name, value in attrs.items():
        node.setAttribute(name.replace("_", "-"), value)
    return node


def fragment(html: str) -> Any:
    """`html` as a DocumentFragment to insert: sanitized by the page's DOMPurify if it has it."""
    # Pyodide raises AttributeError for a property that is `undefined`, hence getattr.
    sanitize = getattr(js.window, "streamchatSanitizeFragment", None)
    if sanitize:
        return sanitize(html)
    template = js.document.createElement("template")
    template.innerHTML = html
    return template.content


class MarkdownBox:
    """An element that shows streamed markdown: finished blocks, then the live tail.

    It owns `container`'s children: `ReplaceBlock` counts them.
    """

    def __init__(self, container: Any) -> None:
        self.container = container
        self.tail = element("div", "md-tail")
        container.replaceChildren(self.tail)

    def apply(self, patches: Sequence[Patch]) -> None:
        for patch in patches:
            if isinstance(patch, AppendBlock):
                block = element("div", "md-block")
                block.append(fragment(patch.html))
                self.container.insertBefore(block, self.tail)
            elif isinstance(patch, SetTail):
                self.tail.replaceChildren(fragment(patch.html))
            elif isinstance(patch, ReplaceBlock):
                self.container.children.item(patch.index).replaceChildren(fragment(patch.html))
            elif isinstance(patch, AppendTail):
                _append_text(self.tail, patch.text)


def _append_text(node: Any, text: str) -> None:
    """Add `text` after the last text in `node`, inside every element that ends there (the
    line breaks between closing tags are not text): where `AppendTail` puts it."""
    while True:
        last = node.lastChild
        while last and last.nodeType == TEXT_NODE and not str(last.data).strip():
            last = last.previousSibling  # the "\n" between two closing tags
        if not last or last.nodeType != ELEMENT_NODE:
            break
        node = last
    if last and last.nodeType == TEXT_NODE:
        last.appendData(text)
    else:
        node.append(text)
