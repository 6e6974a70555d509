"""Split a streamed markdown answer into finished blocks and the open tail block."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Fence", "is_list_item", "opening_fence", "split_blocks"]


def split_blocks(text: str) -> tuple[list[str], str]:
    """Return `(finished_blocks, tail)`; `"".join(finished_blocks) + tail == text`.

    A block ends at a blank line outside a fenced code block when the next non-blank line
    is not indented and, if the block ends in a list, is not another item of that list (so
    a loose list stays one block; as in CommonMark, another bullet character or `1)` after
    `1.` starts another list). That next line decides, so a block is finished only once the
    line is complete (ends with a newline). Every decision depends only on the text before
    it, so the finished blocks of a prefix are a prefix of the finished blocks of the
    whole text, and splitting may restart at any block boundary.
    """
    blocks: list[str] = []
    block_start = 0
    line_start = 0
    fence: Fence | None = None
    list_kind: str | None = None  # The block ends in a list of this kind: "-", "*", "+", ".", ")"
    # Only a blank line after some content ends a block: leading blank lines stay with
    # the block that follows them rather than making an empty block.
    blank_after_content = False
    has_content = False
    while (line_end := text.find("\n", line_start)) != -1:
        line = text[line_start:line_end]
        if fence is not None:
            if fence.is_closed_by(line):
                fence = None
        elif not line.strip():
            blank_after_content = has_content
        else:
            indented = line[0] in " \t"
            continues_list = list_kind is not None and _list_kind(line) == list_kind
            if blank_after_content and not indented and not continues_list:
                blocks.append(text[block_start:line_start])
                block_start = line_start
            blank_after_content = False
            has_content = True
            if not indented:
                list_kind = _list_kind(line)
            fence = opening_fence(line)
        line_start = line_end + 1
    return blocks, text[block_start:]


@dataclass(frozen=True)
class Fence:
    """An open fenced code block: what precedes its marker, and the marker itself."""

    prefix: str
    marker: str

    def is_closed_by(self, line: str) -> bool:
        """Whether `line` closes this fence.

        Like pymdownx.superfences, the closing marker must be the opening one exactly (a
        longer run is code). Unlike it, the indentation may differ: the renderer re-indents
        closing lines to their opening line's, so both agree.
        """
        content = line.lstrip(_FENCE_PREFIX_CHARS)
        return content.startswith(self.marker) and not content[len(self.marker) :].strip(" \t\r")


def opening_fence(line: str) -> Fence | None:
    """The fence that `line` opens, or None.

    Any indentation and blockquote prefix counts, as in pymdownx.superfences (which also
    finds fences inside list items and quotes). A backtick fence's info string may not
    contain a backtick (CommonMark): "```code```" on a line of its own is inline code.
    """
    match = _FENCE_OPEN.match(line)
    if match is None:
        return None
    marker = match["marker"]
    if marker[0] == "`" and "`" in match["info"]:
        return None
    return Fence(prefix=match["prefix"], marker=marker)


def is_list_item(line: str) -> bool:
    """Whether `line` (without its newline) starts a list item; a thematic break does not."""
    return _LIST_ITEM.match(line) is not None and _THEMATIC_BREAK.match(line) is None


def _list_kind(line: str) -> str | None:
    """The kind of list that `line` is an item of: its bullet, or `.`/`)` if ordered."""
    if not is_list_item(line):
        return None
    marker = line.lstrip(" \t")
    return marker[0] if marker[0] in "-*+" else marker.lstrip("0123456789")[0]


_FENCE_PREFIX_CHARS = " \t>"
_FENCE_OPEN = re.compile(r"(?P<prefix>[ \t>]*)(?P<marker>`{3,}|~{3,})(?P<info>[^\n]*)\Z")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|\Z)")
_THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*\Z")
