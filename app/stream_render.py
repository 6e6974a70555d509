"""Render a streamed answer as DOM patches: finished blocks once, the open tail every frame."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.blocks import split_blocks
from app.heal import heal
from app.render import render_block

__all__ = ["AppendBlock", "Patch", "ReplaceBlock", "SetTail", "StreamRenderer"]


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


Patch = AppendBlock | SetTail | ReplaceBlock

RenderBlock = Callable[[str, Mapping[str, str] | None], str]


class StreamRenderer:
    """Turns streamed markdown text into patches; applying them all in order to a list of
    block HTML plus a tail HTML gives `render_markdown(text, citations)` once finished.

    Each `feed` costs in proportion to the open tail block, not to the answer: finished
    text is never split or rendered again.
    """

    def __init__(self, render_block: RenderBlock = render_block) -> None:
        self._render_block = render_block
        self._finished_text: list[str] = []
        self._tail_text = ""
        self._blocks_html: list[str] = []
        self._tail_html = ""
        self._finished = False

    @property
    def text(self) -> str:
        """All the text fed so far."""
        return "".join(self._finished_text) + self._tail_text

    @property
    def blocks_html(self) -> list[str]:
        """The finished blocks' HTML, in order (a copy)."""
        return list(self._blocks_html)

    @property
    def tail_html(self) -> str:
        """The live tail's HTML ("" once finished)."""
        return self._tail_html

    def feed(self, text: str) -> list[Patch]:
        """Append streamed text, split anywhere; return the patches that show it."""
        if self._finished:
            raise RuntimeError("this answer is finished; start a new StreamRenderer")
        if not text:
            return []
        blocks, self._tail_text = split_blocks(self._tail_text + text)
        patches: list[Patch] = []
        for block in blocks:
            html = self._render_block(block, None)
            self._finished_text.append(block)
            self._blocks_html.append(html)
            patches.append(AppendBlock(html))
        tail_html = self._render_block(heal(self._tail_text), None)
        if tail_html != self._tail_html:
            self._tail_html = tail_html
            patches.append(SetTail(tail_html))
        return patches

    def finish(self, citations: Mapping[str, str] | None = None) -> list[Patch]:
        """End of the answer: the tail becomes the last finished block, and the blocks
        holding markers of `citations` are rendered again with their links."""
        if self._finished:
            return []
        self._finished = True
        patches: list[Patch] = []
        if citations:
            markers = _markers_of(citations)
            for index, block in enumerate(self._finished_text):
                if not markers.search(block):
                    continue
                html = self._render_block(block, citations)
                if html != self._blocks_html[index]:
                    self._blocks_html[index] = html
                    patches.append(ReplaceBlock(index, html))
        if self._tail_text:
            html = self._render_block(heal(self._tail_text), citations)
            self._finished_text.append(self._tail_text)
            self._tail_text = ""
            self._blocks_html.append(html)
            patches.append(AppendBlock(html))
        if self._tail_html:
            self._tail_html = ""
            patches.append(SetTail(""))
        return patches


def _markers_of(citations: Mapping[str, str]) -> re.Pattern[str]:
    """A cheap test for text that may hold a marker of these citations: `[id` then `]`
    or `,`. It must find every block in which the renderer would link a marker."""
    ids = "|".join(re.escape(ref) for ref in sorted(citations, key=len, reverse=True))
    return re.compile(rf"\[\s*(?:{ids})\s*[\],]|,\s*(?:{ids})\s*\]")
