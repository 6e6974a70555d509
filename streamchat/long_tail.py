"""A long open list or table rendered in pieces: its leading items once, the last ones per frame.

A list or table is one block until it ends (`streamchat.blocks`), so while a long one streams
the open tail grows without bound, and rendering it whole every frame costs in proportion
to everything written so far. `LongTail` freezes the leading top-level items of a list
(the rows of a table) in pieces of about CHUNK_CHARS, renders each piece once, and
renders only the rest (the last items) each frame; the tail's HTML is the pieces' items
and the rest's, spliced into one `<ul>`/`<ol>`/`<tbody>`. The result is the HTML of
rendering the tail whole: each top-level item (row) renders on its own, so only shapes
where nothing crosses an item are cut (`_fits`):

- a list at the left margin whose lines at the margin are all items of one kind, with no
  fence or table line (a table in an item makes the list loose), no tab or carriage
  return;
- a table whose lines all start with `|`, after its header and delimiter rows (which are
  rendered again with each piece, so that each knows its columns and alignment), with
  no blank line (which ends it);
- no link or footnote definition (`]:`) and no footnote (`[^`) in it, and at most
  MAX_MATH_CHARS of items with math in them (the math budget is per render);

A loose list is cut too. Python-Markdown decides looseness per item, not per list: an
item is a paragraph (`<li><p>`) when a blank line separates it from the item before it
or from the item after it (a blank line that the renderer's normalizer adds counts: one
goes before an item that follows an item's indented paragraph). So a list that was
tight may turn loose at any item, and only the two items beside a blank line change.
Each piece (and the live rest) is rendered between two stand-in items (`_STAND_IN`): the
one before it is followed by a blank line exactly when one comes before the piece's
first item in the whole list, so that item renders as it does there; the one after it
renders as a paragraph exactly when a blank line comes between the piece's last item
and the next, and so tells how the next piece must begin. (What the items before a
piece's first one leave to the renderer is only that blank line: a top-level item starts
afresh.) A stand-in that does not render as a plain item refuses the piece, as does a
piece that renders as more than one list (an item one space in, of another kind, starts
a new list).

Anything else is rendered whole, as before: a list whose first item holds all the others
(one top-level item), an item with a fence, a list after a paragraph, a table without
leading pipes. Tests compare every prefix with a whole render.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from streamchat.heal import heal
from streamchat.md_extensions import Definition
from streamchat.md_syntax import (
    MAX_MATH_CHARS,
    is_table_separator,
    item_marker,
    list_kind,
    table_cells,
)
from streamchat.render import RenderBlock, RenderedBlock

__all__ = ["CHUNK_CHARS", "LongTail", "Refused"]

#: Characters of finished items left live before they are frozen into a piece: what a
#: frame renders at most, besides the last two items.
CHUNK_CHARS = 1_000


class Refused(Exception):
    """The tail has taken a shape that cannot be cut: render it whole until its block ends."""


@dataclass(frozen=True)
class _Piece:
    """A frozen piece: its text, what it was rendered after (`LongTail._lead`), its items' HTML."""

    text: str
    lead: str
    items: str


@dataclass(frozen=True)
class TailRender:
    """One frame's rendering of a long tail, and the live part that was healed for it."""

    rendered: RenderedBlock
    live: str
    healed: str


class LongTail:
    """The frozen pieces of one long open tail block. `size`: the characters of the tail
    that are frozen; the rest (`tail[size:]`) is the live part, which always begins with
    an item (a row), so `streamchat.blocks.split_blocks` may restart there."""

    def __init__(self, kind: str, prefix: str, chunk_chars: int = CHUNK_CHARS) -> None:
        self._chunk_chars = chunk_chars
        self._kind = kind  # a list's kind (`streamchat.md_syntax.list_kind`), or "|"
        self._prefix = prefix  # a table's header and delimiter rows
        self.size = len(prefix)
        self._pieces: list[_Piece] = []
        #: What the next piece (the live part) is rendered after: "" at the list's start,
        #: then a stand-in item, with a blank line when one comes before the next item.
        self._lead = ""
        self._missing: frozenset[str] = frozenset()
        self._math = 0
        self._open = ""  # the HTML before the first item
        self._items = ""  # the frozen pieces' items' HTML

    @property
    def frozen(self) -> int:
        """The characters of the tail frozen in pieces: 0 until one is, then the point
        before an item (a row) where `streamchat.blocks.split_blocks` may restart."""
        return self.size if self._pieces else 0

    @classmethod
    def start(cls, tail: str, chunk_chars: int = CHUNK_CHARS) -> LongTail | None:
        """The shape of `tail`: None while its first lines are still being written; raises
        `Refused` unless it is a list or table that may be cut."""
        lines = tail.split("\n", 2)
        if len(lines) < 2:
            return None
        first = lines[0]
        if not first or first[0] in " \t":
            raise Refused
        kind = list_kind(first)
        if kind is not None:
            return cls(kind, "", chunk_chars)
        if not first.startswith("|"):
            raise Refused
        if len(lines) < 3:
            return None
        second = lines[1]
        if is_table_separator(second) and len(table_cells(second)) == len(table_cells(first)):
            return cls("|", f"{first}\n{second}\n", chunk_chars)
        raise Refused

    def render_tail(
        self,
        tail: str,
        references: Mapping[str, Definition],
        render_block: RenderBlock,
    ) -> TailRender | None:
        """The open tail (whose first `size` characters are this one's) rendered as a
        whole render shows it: the live part healed. Freezes the live part's leading items
        first when they are long enough. None: render it whole this time (its last line
        is not an item yet, or nothing is frozen yet). Raises `Refused` when it can no
        longer be cut."""
        live = tail[self.size :]
        self._fits(live, open_end=True)
        cut = self._cut(live)
        if cut:
            self._freeze(live[:cut], references, render_block)
            live = live[cut:]
        if not self._pieces:
            return None
        try:
            healed = heal(self._prefix + live)
        except Exception:  # Never expected: rendered whole, it then shows as it is.
            return None
        if not healed.startswith(self._prefix):
            return None
        healed = healed[len(self._prefix) :]
        rendered = self._render(healed, None, references, render_block, highlight=False)
        return None if rendered is None else TailRender(rendered, live, healed)

    def render_finished(
        self,
        rest: str,
        citations: Mapping[str, str] | None,
        markers: re.Pattern[str] | None,
        references: Mapping[str, Definition],
        render_block: RenderBlock,
        *,
        highlight: bool,
    ) -> RenderedBlock | None:
        """The finished block (the frozen pieces, then `rest`) as a whole render shows it,
        pieces holding a marker of `citations` (`markers`) rendered again; None when it
        must be rendered whole."""
        if not self._pieces:
            return None
        try:
            self._fits(rest, open_end=False)
        except Refused:
            return None
        if citations and markers is not None:
            items = ""
            for frozen in self._pieces:
                piece_items = frozen.items
                if markers.search(frozen.text):
                    again = self._piece(
                        frozen.text, frozen.lead, citations, references, render_block, trail=True
                    )
                    if again is None:
                        return None
                    piece_items = again[0]
                items += piece_items
            self._items = items
        return self._render(rest, citations, references, render_block, highlight=highlight)

    def _render(
        self,
        text: str,
        citations: Mapping[str, str] | None,
        references: Mapping[str, Definition],
        render_block: RenderBlock,
        *,
        highlight: bool = False,
    ) -> RenderedBlock | None:
        """The tail (or block): the frozen items, then those of `text`."""
        piece = self._piece(
            text, self._lead, citations, references, render_block, highlight=highlight
        )
        if piece is None:
            return None
        items, rendered, _ = piece
        html = self._open + self._items + items + _closing(self._kind, self._open)
        return RenderedBlock(html, rendered.references, self._missing | rendered.missing)

    def _piece(
        self,
        text: str,
        lead: str,
        citations: Mapping[str, str] | None,
        references: Mapping[str, Definition],
        render_block: RenderBlock,
        *,
        trail: bool = False,
        highlight: bool = False,
    ) -> tuple[str, RenderedBlock, str] | None:
        """`text`'s items' HTML, when it renders as items of the same list (table) only,
        after `lead`; with `trail`, before a stand-in item too, whose HTML gives the lead
        of the text after `text` (returned third)."""
        stand_in = "" if self._kind == "|" else f"{item_marker(self._kind)} {_STAND_IN}\n"
        after = stand_in if trail else ""
        rendered = render_block(
            self._prefix + lead + text + after, citations, references, highlight=highlight
        )
        opening = _opening(rendered.html, self._kind)
        if (
            opening is None
            or rendered.references.keys() != references.keys()
            or (self._open and _same_list(opening) != _same_list(self._open))
        ):
            return None
        if not self._open:
            self._open = opening
        items = _items_of(rendered.html, opening, self._kind)
        if lead:
            first = _STAND_IN_LOOSE if lead.endswith("\n\n") else _STAND_IN_TIGHT
            if not items.startswith(first):
                return None
            items = items[len(first) :]
        next_lead = ""
        if trail and stand_in:
            if items.endswith(_STAND_IN_TIGHT):
                items, next_lead = items[: -len(_STAND_IN_TIGHT)], stand_in
            elif items.endswith(_STAND_IN_LOOSE):
                items, next_lead = items[: -len(_STAND_IN_LOOSE)], stand_in + "\n"
            else:
                return None
        return items, rendered, next_lead

    def _freeze(
        self, text: str, references: Mapping[str, Definition], render_block: RenderBlock
    ) -> None:
        """Render `text` (complete items) once, as a frozen piece."""
        self._fits(text, open_end=False)
        piece = self._piece(text, self._lead, None, references, render_block, trail=True)
        if piece is None or _CODE_BLOCK in piece[0]:
            raise Refused
        items, rendered, next_lead = piece
        self._pieces.append(_Piece(text, self._lead, items))
        self._lead = next_lead
        self._items += items
        self._missing |= rendered.missing
        self.size += len(text)

    def _cut(self, live: str) -> int:
        """Where to end a new frozen piece in `live`: before its last two items, when the
        items before them are `chunk_chars` or more; else 0."""
        end = live.rfind("\n")  # only complete lines
        starts = [0]
        pos = live.find("\n") + 1
        while 0 < pos <= end:
            if live[pos] not in " \n":
                starts.append(pos)
            pos = live.find("\n", pos) + 1
        if len(starts) < 3 or starts[-2] < self._chunk_chars:
            return 0
        return starts[-2]

    def _fits(self, text: str, *, open_end: bool) -> None:
        """Raise `Refused` unless every complete line of `text` keeps items apart. With
        `open_end`, its last line is still being written: not checked yet, but its math
        counts."""
        if "\r" in text or "\t" in text or "]:" in text or "[^" in text:
            raise Refused
        lines = text.split("\n")
        last = len(lines) - 1 if open_end else len(lines)
        while last > 0 and not lines[last - 1].strip():
            last -= 1  # blank lines at the end: what follows decides (`split_blocks`)
        math = item = 0
        has_math = False
        for index, line in enumerate(lines):
            if self._kind != "|" and "|" in line and is_table_separator(line):
                # `- |` is an item and a table's delimiter row: a whole render may make the
                # item before it a table's header (even while this line is being written).
                raise Refused
            if index < last:
                table = self._kind == "|"
                if not line.strip():
                    if table:
                        raise Refused
                elif line[0] != " " or table:
                    if (line[0] != "|") if table else list_kind(line) != self._kind:
                        raise Refused
                    math += item if has_math else 0
                    item, has_math = 0, False
                elif line.lstrip().startswith("|") or _FENCE_LINE.match(line):
                    raise Refused
            item += len(line) + 1
            has_math = has_math or _MATH_SIGN.search(line) is not None
        math += item if has_math else 0
        if self._math + math > MAX_MATH_CHARS:
            raise Refused
        if not open_end:
            self._math += math


#: How a code block's HTML begins (`streamchat.render._format_code`).
_CODE_BLOCK = '<div class="code-block"'
_FENCE_LINE = re.compile(r"[ >]*(?:`{3,}|~{3,})")
#: Whatever may open or close a formula (`streamchat.md_syntax.MATH`).
_MATH_SIGN = re.compile(r"\$|\\[\[\]()]")
_LIST_OPEN = re.compile(r"<(ul|ol)(?: [^>]*)?>\n")
_TABLE_OPEN = re.compile(r"<table>\n<thead>\n.*?</thead>\n<tbody>\n?", re.DOTALL)
_START = re.compile(r' start="\d+"')
_CONTAINER_TAG = re.compile(r"<(/?)(?:ul|ol|table)\b[^>]*>")
#: The text of the stand-in items a piece is rendered between (see the module's
#: docstring), and their HTML as a tight and as a loose item.
_STAND_IN = "x"
_STAND_IN_TIGHT = f"<li>{_STAND_IN}</li>\n"
_STAND_IN_LOOSE = f"<li>\n<p>{_STAND_IN}</p>\n</li>\n"


def _opening(html: str, kind: str) -> str | None:
    """The HTML before the first item, when `html` is one list (table) and nothing else."""
    if kind == "|":
        match = _TABLE_OPEN.match(html)
        if match is None or not html.endswith("</tbody>\n</table>") or not _one_element(html):
            return None
        return match.group().rstrip("\n") + "\n"
    match = _LIST_OPEN.match(html)
    if match is None or not html.endswith(f"</{match[1]}>") or not _one_element(html):
        return None
    return match.group()


def _one_element(html: str) -> bool:
    """Whether the list (table) that `html` begins with ends only where `html` does: an
    item may still end a list and begin another (one indented by a space, of another
    kind, is an item of a new list)."""
    depth = 0
    for tag in _CONTAINER_TAG.finditer(html):
        depth += -1 if tag[1] else 1
        if depth == 0:
            return tag.end() == len(html)
    return False


def _items_of(html: str, opening: str, kind: str) -> str:
    start = len(opening) if html.startswith(opening) else len(opening) - 1
    return html[start : len(html) - len(_closing(kind, opening))]


def _closing(kind: str, opening: str) -> str:
    if kind == "|":
        return "</tbody>\n</table>"
    return "</ol>" if opening.startswith("<ol") else "</ul>"


def _same_list(opening: str) -> str:
    """An opening tag as far as the whole list is concerned: an ordered list's start is
    its first item's."""
    return _START.sub("", opening)
