"""Render a streamed answer as DOM patches: finished blocks once, the open tail every frame."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from streamchat.blocks import split_blocks
from streamchat.colour import Colouring, lexers_ready
from streamchat.heal import heal
from streamchat.long_tail import CHUNK_CHARS, LongTail, Refused, TailRender
from streamchat.md_extensions import Definition
from streamchat.md_syntax import (
    MAX_ANSWER_CHARS,
    MAX_BLOCK_CHARS,
    MAX_WORD_CHARS,
    extend_word,
    trailing_word,
)
from streamchat.patches import AppendBlock, AppendTail, Patch, ReplaceBlock, SetTail
from streamchat.render import (
    Limit,
    RenderBlock,
    RenderedBlock,
    block_limit,
    limit_notice,
    plain_html,
    render_parts,
    split_plain,
)
from streamchat.tail_append import TailKind, appended, tail_kind

__all__ = ["AppendBlock", "AppendTail", "Patch", "ReplaceBlock", "SetTail", "StreamRenderer"]


class StreamRenderer:
    """Turns streamed markdown text into patches; applying them all in order to a list of
    block HTML plus a tail HTML gives `render_markdown(text, citations)` once finished,
    and `render_markdown(text, streaming=True)` after each feed.

    Each `feed` costs in proportion to the open tail block, not to the answer: finished
    text is never split or rendered again, with one exception: a finished block that uses
    a link or footnote label defined only by a later block is rendered again
    (`ReplaceBlock`) when that block finishes, so the link appears.

    The limits apply as in `render_markdown` (`streamchat.render.find_limit`): each block is
    checked once when it finishes, the tail on every feed. Past a limit the rest of the
    answer is plain text: a notice (its size kept up to date by `ReplaceBlock`), then
    pieces of at most PLAIN_PIECE_CHARS, the last one open as the tail. So no feed renders
    more than a block of MAX_BLOCK_CHARS, or a piece of plain text, whatever is fed.

    `colour_later`: a finished block with code is appended uncoloured (as the tail showed
    it), and coloured by `colour_next`, a slice of a block a call, which the page runs when the
    main thread is idle: colouring a long code block costs more than a frame.

    A long open list or table is one block until it ends: its leading items are rendered
    once, in pieces of about `chunk_chars`, and only its last items every frame
    (`streamchat.long_tail`), so a frame's cost stays bounded however long it grows.
    """

    def __init__(
        self,
        render_block: RenderBlock = render_parts,
        *,
        colour_later: bool = False,
        chunk_chars: int = CHUNK_CHARS,
    ) -> None:
        self._render_block = render_block
        self._chunk_chars = chunk_chars
        self._colour_later = colour_later
        #: Finished blocks (their indexes) appended uncoloured, to colour in this order.
        self._uncoloured: list[int] = []
        self._colouring: Colouring | None = None  # of the first of them, under way
        self._citations: Mapping[str, str] | None = None
        self._finished_text: list[str] = []
        self._finished: list[RenderedBlock] = []
        self._references: Mapping[str, Definition] = {}
        self._tail_text = ""
        self._tail_html = ""
        #: Whether text can be appended to the tail without rendering it (streamchat.tail_append),
        #: and the tail as last rendered, kept in step with what was appended.
        self._tail_kind: TailKind | None = None
        self._tail_rendered: RenderedBlock | None = None
        self._done = False
        #: Characters in the finished blocks; and, per label, the finished blocks that
        #: used it undefined (to render again when it is defined).
        self._offset = 0
        self._missing: dict[str, list[int]] = {}
        #: The length of the word the tail ends with (for the limit on words).
        self._tail_word = 0
        #: A long open list or table: its leading items rendered once (`streamchat.long_tail`);
        #: and whether the tail's block was found not to be one that may be cut.
        self._long: LongTail | None = None
        self._long_refused = False
        #: Past a limit: the limit, then the notice and the finished pieces of plain text
        #: (as shown and as fed), and the open piece.
        self._limit: Limit | None = None
        self._plain_html: list[str] = []
        self._plain_text: list[str] = []
        self._plain_open = ""
        self._plain_size = 0

    @property
    def text(self) -> str:
        """All the text fed so far."""
        finished = "".join(self._finished_text) + "".join(self._plain_text)
        return finished + self._tail_text + self._plain_open

    @property
    def blocks_html(self) -> list[str]:
        """The finished blocks' HTML, in order (a copy)."""
        return [block.html for block in self._finished] + self._plain_html

    @property
    def uncoloured(self) -> int:
        """How many finished blocks `colour_next` has still to colour."""
        return len(self._uncoloured)

    @property
    def colour_needs_lexer(self) -> bool:
        """Whether colouring the next block must first set up a lexer (a language's first
        block): one long task, which a page may rather run once the answer has ended."""
        if not self._uncoloured or self._colouring is not None:
            return False
        return not lexers_ready(self._finished[self._uncoloured[0]].code)

    def colour_next(self, enough: Callable[[], bool] = lambda: False) -> list[Patch]:
        """Colour the code of the first finished block appended uncoloured, until `enough()`
        (asked every few lines of code): its patch once all its code is coloured, else
        nothing yet, and the next call goes on where this one stopped (`Colouring`)."""
        if not self._uncoloured:
            return []
        index = self._uncoloured[0]
        if self._colouring is None:
            self._colouring = Colouring(self._finished[index].code)
        if not self._colouring.step(enough):
            return []
        self._colouring = None
        self._uncoloured.pop(0)
        return self._render_again(index, self._citations)

    @property
    def tail_html(self) -> str:
        """The live tail's HTML ("" once finished)."""
        return self._tail_html

    def feed(self, text: str) -> list[Patch]:
        """Append streamed text, split anywhere; return the patches that show it."""
        if self._done:
            raise RuntimeError("this answer is finished; start a new StreamRenderer")
        return self._feed(text, show_tail=True)

    def _feed(self, text: str, *, show_tail: bool) -> list[Patch]:
        """`show_tail=False`: the tail is not rendered (`finish` renders it once, finished)."""
        if not text:
            return []
        if self._limit is not None:
            return self._feed_plain(text)
        word = self._word_after(text)
        if word is not None and show_tail:
            appended = self._append(text)
            if appended is not None:
                self._tail_word = word
                return appended
        frozen = self._long.frozen if self._long is not None else 0
        # The frozen part of a long tail ends before an item: splitting may start there.
        blocks, tail = split_blocks(self._tail_text[frozen:] + text)
        if blocks:
            blocks[0] = self._tail_text[:frozen] + blocks[0]
        else:
            tail = self._tail_text[:frozen] + tail
        patches: list[Patch] = []
        for index, block in enumerate(blocks):
            limit = block_limit(block, self._offset)
            if limit is not None:
                return patches + self._to_plain(limit, "".join(blocks[index:]) + tail, None)
            shown = self._as_shown(block) if index == 0 else None
            patches += self._finish_block(block, None, shown)
        limit = self._tail_limit(tail, frozen if not blocks else 0)
        if limit is not None:
            return patches + self._to_plain(limit, tail, None)
        self._tail_text = tail
        self._tail_word = trailing_word(tail)
        if not show_tail:
            # What the tail showed no longer matches its text: never reuse it (`_as_shown`).
            self._tail_kind, self._tail_rendered = None, None
            return patches
        long_render = self._render_long_tail()
        if long_render is not None:
            self._tail_kind = tail_kind(long_render.live, long_render.healed)
            self._tail_rendered = long_render.rendered
        else:
            try:
                healed = heal(self._tail_text)
            except Exception:  # Never expected: the tail then shows as it is.
                healed = self._tail_text
            self._tail_kind = tail_kind(self._tail_text, healed)
            self._tail_rendered = self._render_block(
                healed, None, self._references, highlight=False
            )
        tail_html = self._tail_rendered.html
        if tail_html != self._tail_html:
            self._tail_html = tail_html
            patches.append(SetTail(tail_html))
        return patches

    def _tail_limit(self, tail: str, frozen: int) -> Limit | None:
        """`block_limit` of the open tail; its first `frozen` characters, complete lines
        already checked, are passed over when the tail is surely within the size limits."""
        size = len(tail)
        if frozen and size <= MAX_BLOCK_CHARS and self._offset + size <= MAX_ANSWER_CHARS:
            return block_limit(tail[frozen:], self._offset + frozen, open_end=True)
        return block_limit(tail, self._offset, open_end=True)

    def _render_long_tail(self) -> TailRender | None:
        """The tail rendered in pieces when it is a long list or table (`streamchat.long_tail`);
        None: render it whole."""
        tail = self._tail_text
        if self._long is None and not self._long_refused and len(tail) > self._chunk_chars:
            try:
                self._long = LongTail.start(tail, self._chunk_chars)
            except Refused:
                self._long_refused = True
        if self._long is None:
            return None
        try:
            return self._long.render_tail(tail, self._references, self._render_block)
        except Refused:
            self._long, self._long_refused = None, True
            return None

    def _word_after(self, text: str) -> int | None:
        """When the tail with `text` added surely breaks no limit (`block_limit`), so that
        it need not be checked, the word it then ends with; else None. Cheap: it looks at
        `text`, not at the tail."""
        size = len(self._tail_text) + len(text)
        if self._offset + size > MAX_ANSWER_CHARS or size > MAX_BLOCK_CHARS:
            return None
        longest, word = extend_word(self._tail_word, text)
        # Words in a code block are free; and no word is longer than the tail.
        fits = self._tail_kind == "code" or size <= MAX_WORD_CHARS or longest <= MAX_WORD_CHARS
        return word if fits else None

    def _append(self, text: str) -> list[Patch] | None:
        """The patches for `text` when it only extends the tail's last text, else None."""
        kind = self._tail_kind
        found = appended(kind, self._tail_text, self._tail_html, text) if kind else None
        if found is None:
            return None
        point, added = found
        self._tail_text += text
        if not added:
            return []
        shown = html.escape(added, quote=False)
        self._tail_html = self._tail_html[:point] + shown + self._tail_html[point:]
        if self._tail_rendered is not None:
            self._tail_rendered = replace(self._tail_rendered, html=self._tail_html)
        return [AppendTail(added)]

    def _as_shown(self, block: str) -> RenderedBlock | None:
        """The tail's last rendering, when finishing it as `block` renders exactly that: a
        paragraph or list that needed no healing, ended by line breaks (its own text, with
        nothing after it but line breaks, and no spaces at its end to matter; a line break
        at the tail's end was not shown, see `streamchat.tail_append`)."""
        rendered, tail = self._tail_rendered, self._tail_text.rstrip("\n")
        if self._tail_kind != "prose" or rendered is None or not tail or tail[-1].isspace():
            return None
        if _CODE_BLOCK in rendered.html and not self._colour_later:
            return None  # the tail's code was left uncoloured; a finished block's is not
        return rendered if block.rstrip("\n") == tail else None

    def finish(self, citations: Mapping[str, str] | None = None, more: str = "") -> list[Patch]:
        """End of the answer: the tail, unhealed, becomes the last finished block, and the
        blocks holding markers of `citations` are rendered again with their links.

        `more`: text that arrived since the last `feed`, added without rendering the tail
        first (it is rendered once, finished)."""
        if self._done:
            return []
        patches = self._feed(more, show_tail=False)
        self._done = True
        self._citations = citations
        if citations:
            markers = _markers_of(citations)
            for index, block in enumerate(self._finished_text):
                if markers.search(block):
                    patches += self._render_again(index, citations)
        if self._tail_text:
            limit = block_limit(self._tail_text, self._offset)
            if limit is None:
                shown = None
                if not citations or not _markers_of(citations).search(self._tail_text):
                    shown = self._as_shown(self._tail_text)
                patches += self._finish_block(self._tail_text, citations, shown)
            else:
                patches += self._to_plain(limit, self._tail_text, citations)
            self._tail_text = ""
        if self._limit is not None:
            # The open piece is finished too; the tail is then empty.
            self._plain_html.append(plain_html(self._plain_open))
            self._plain_text.append(self._plain_open)
            self._plain_open = ""
            patches.append(AppendBlock(self._plain_html[-1]))
        if self._tail_html:
            self._tail_html = ""
            patches.append(SetTail(""))
        return patches

    def _finish_block(
        self,
        block: str,
        citations: Mapping[str, str] | None,
        shown: RenderedBlock | None = None,
    ) -> list[Patch]:
        """`shown`: the block's rendering as the tail showed it, when that is the same."""
        later = self._colour_later
        # A long tail cut in pieces finishes as the first block finished after it: that
        # block begins with its frozen part.
        long, self._long, self._long_refused = self._long, None, False
        if shown is None and long is not None:
            markers = _markers_of(citations) if citations else None
            shown = long.render_finished(
                block[long.size :], citations, markers, self._references, self._render_block,
                highlight=not later,
            )  # fmt: skip
        if shown is None:
            rendered = self._render_block(block, citations, self._references, highlight=not later)
        else:
            rendered = shown
        if later and _CODE_BLOCK in rendered.html:
            self._uncoloured.append(len(self._finished))
        added = rendered.references.keys() - self._references.keys()
        self._references = rendered.references
        patches: list[Patch] = []
        again = sorted({index for label in added for index in self._missing.pop(label, ())})
        for index in again:
            patches += self._render_again(index, citations)
        for label in rendered.missing:
            self._missing.setdefault(label, []).append(len(self._finished))
        self._finished_text.append(block)
        self._finished.append(rendered)
        self._offset += len(block)
        patches.append(AppendBlock(rendered.html))
        return patches

    def _to_plain(
        self, limit: Limit, text: str, citations: Mapping[str, str] | None
    ) -> list[Patch]:
        """Past `limit`: `text` (all not yet finished) as markdown blocks up to it, the rest
        as plain text."""
        cut = limit.at - self._offset
        blocks, last = split_blocks(text[:cut])
        patches: list[Patch] = []
        for block in [*blocks, last] if last else blocks:
            patches += self._finish_block(block, citations)
        self._limit = limit
        self._tail_text, self._tail_kind, self._tail_word = "", None, 0
        self._long, self._long_refused = None, False
        self._plain_html.append(limit_notice(limit, 0))
        self._plain_text.append("")
        patches.append(AppendBlock(self._plain_html[0]))
        return patches + self._feed_plain(text[cut:])

    def _feed_plain(self, text: str) -> list[Patch]:
        """Plain text past the limit: the notice updated, pieces finished, the open one."""
        assert self._limit is not None
        pieces, self._plain_open = split_plain(self._plain_open + text)
        self._plain_size += len(text)
        patches: list[Patch] = []
        notice = limit_notice(self._limit, self._plain_size)
        if notice != self._plain_html[0]:
            self._plain_html[0] = notice
            patches.append(ReplaceBlock(len(self._finished), notice))
        for piece in pieces:
            self._plain_text.append(piece)
            self._plain_html.append(plain_html(piece))
            patches.append(AppendBlock(self._plain_html[-1]))
        tail_html = plain_html(self._plain_open)
        if tail_html != self._tail_html:
            self._tail_html = tail_html
            patches.append(SetTail(tail_html))
        return patches

    def _render_again(self, index: int, citations: Mapping[str, str] | None) -> list[Patch]:
        old = self._finished[index]
        new = self._render_block(self._finished_text[index], citations, self._references)
        self._finished[index] = new
        for label in new.missing - old.missing:
            self._missing.setdefault(label, []).append(index)
        return [] if new.html == old.html else [ReplaceBlock(index, new.html)]


#: How a code block's HTML begins (`streamchat.render._format_code`); markdown's own text can
#: never contain it, as `<` is always escaped.
_CODE_BLOCK = '<div class="code-block"'


def _markers_of(citations: Mapping[str, str]) -> re.Pattern[str]:
    """A cheap test for text that may hold a marker of these citations: `[id` then `]`
    or `,`. It must find every block in which the renderer would link a marker."""
    ids = "|".join(re.escape(ref) for ref in sorted(citations, key=len, reverse=True))
    return re.compile(rf"\[\s*(?:{ids})\s*[\],]|,\s*(?:{ids})\s*\]")
