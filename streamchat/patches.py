"""The patches `streamchat.stream_render.StreamRenderer` makes and a page applies to its DOM.

Apart from the renderer, so that what applies them (`streamchat.browser.markdown_box`, the
page's `app/browser/dom.py`) imports without importing Markdown and Pygments: the page is
ready before the renderer is loaded (docs/startup.md).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AppendBlock", "AppendTail", "Patch", "ReplaceBlock", "SetTail"]


@dataclass(frozen=True)
class AppendBlock:
    """A finished block's HTML, to append after the finished blocks (before the tail)."""

    html: str


@dataclass(frozen=True)
class SetTail:
    """The live tail's new HTML, replacing the old."""

    html: str


@dataclass(frozen=True)
class ReplaceBlock:
    """A finished block rendered again (only when the citations arrive)."""

    index: int
    html: str


@dataclass(frozen=True)
class AppendTail:
    """Text (not HTML) to add at the end of the live tail's last text (`streamchat.tail_append`)."""

    text: str


Patch = AppendBlock | SetTail | ReplaceBlock | AppendTail
