"""Render a streamed answer as DOM patches: finished blocks once, the open tail every frame."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.blocks import split_blocks
from app.heal import heal
from app.md_extensions import Definition
from app.render import RenderedBlock, render_parts

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

RenderBlock = Callable[
    [str, Mapping[str, str] | None, Mapping[str, Definition] | None], RenderedBlock
]


class StreamRenderer:
    """Turns streamed markdown text into patches; applying them all in order to a list of
    block HTML plus a tail HTML gives `render_markdown(text, citations)` once finished,
    and `render_markdown(text, streaming=True)` after each feed.

    Each `feed` costs in proportion to the open tail block, not to the answer: finished
    text is never split or rendered again, with one exception: a finished block that uses
    a link or footnote label defined only by a later block is rendered again
    (`ReplaceBlock`) when that block finishes, so the link appears.
    """

    def __init__(self, render_block: RenderBlock = render_parts) -> None:
        self._render_block = render_block
        self._finished_text: list[str] = []
        self._finished: list[RenderedBlock] = []
        self._references: Mapping[str, Definition] = {}
        self._tail_text = ""
        self._tail_html = ""
        self._done = False

    @property
    def text(self) -> str:
        """All the text fed so far."""
        return "".join(self._finished_text) + self._tail_text

    @property
    def blocks_html(self) -> list[str]:
        """The finished blocks' HTML, in order (a copy)."""
        return [block.html for block in self._finished]

    @property
    def tail_html(self) -> str:
        """The live tail's HTML ("" once finished)."""
        return self._tail_html

    def feed(self, text: str) -> list[Patch]:
        """Append streamed text, split anywhere; return the patches that show it."""
        if self._done:
            raise RuntimeError("this answer is finished; start a new StreamRenderer")
        if not text:
            return []
        blocks, self._tail_text = split_blocks(self._tail_text + text)
        patches: list[Patch] = []
        for block in blocks:
            patches += self._finish_block(block, None)
        tail_html = self._render_block(heal(self._tail_text), None, self._references).html
        if tail_html != self._tail_html:
            self._tail_html = tail_html
            patches.append(SetTail(tail_html))
        return patches

    def finish(self, citations: Mapping[str, str] | None = None) -> list[Patch]:
        """End of the answer: the tail, unhealed, becomes the last finished block, and the
        blocks holding markers of `citations` are rendered again with their links."""
        if self._done:
            return []
        self._done = True
        patches: list[Patch] = []
        if citations:
            markers = _markers_of(citations)
            for index, block in enumerate(self._finished_text):
                if markers.search(block):
                    patches += self._render_again(index, citations)
        if self._tail_text:
            patches += self._finish_block(self._tail_text, citations)
            self._tail_text = ""
        if self._tail_html:
            self._tail_html = ""
            patches.append(SetTail(""))
        return patches

    def _finish_block(self, block: str, citations: Mapping[str, str] | None) -> list[Patch]:
        rendered = self._render_block(block, citations, self._references)
        added = rendered.references.keys() - self._references.keys()
        self._references = rendered.references
        patches: list[Patch] = []
        if added:
            for index, earlier in enumerate(self._finished):
                if earlier.missing & added:
                    patches += self._render_again(index, citations)
        self._finished_text.append(block)
        self._finished.append(rendered)
        patches.append(AppendBlock(rendered.html))
        return patches

    def _render_again(self, index: int, citations: Mapping[str, str] | None) -> list[Patch]:
        old = self._finished[index]
        new = self._render_block(self._finished_text[index], citations, self._references)
        self._finished[index] = new
        return [] if new.html == old.html else [ReplaceBlock(index, new.html)]


def _markers_of(citations: Mapping[str, str]) -> re.Pattern[str]:
    """A cheap test for text that may hold a marker of these citations: `[id` then `]`
    or `,`. It must find every block in which the renderer would link a marker."""
    ids = "|".join(re.escape(ref) for ref in sorted(citations, key=len, reverse=True))
    return re.compile(rf"\[\s*(?:{ids})\s*[\],]|,\s*(?:{ids})\s*\]")
