"""Split a streamed markdown answer into finished blocks and the open tail block."""

from __future__ import annotations

from streamchat.md_syntax import Fence, is_list_item, list_kind, opening_fence

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
    kind: str | None = None  # The block ends in a list of this kind: "-", "*", "+", ".", ")"
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
            continues_list = kind is not None and list_kind(line) == kind
            if blank_after_content and not indented and not continues_list:
                blocks.append(text[block_start:line_start])
                block_start = line_start
            blank_after_content = False
            has_content = True
            if not indented:
                kind = list_kind(line)
            fence = opening_fence(line)
        line_start = line_end + 1
    return blocks, text[block_start:]
