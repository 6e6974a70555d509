"""The markdown facts that splitting, healing and rendering share: one home for each.

Fences, list markers, thematic breaks, ATX headings, quote prefixes, table rows and
separators, and math delimiters are recognised here and nowhere else: `app.blocks` uses
them to find where a block ends, `app.heal` to tell what is half-written, and
`app.render` (with its Python-Markdown extensions) to parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ATX_HEADING",
    "LIST_MARKER",
    "MATH",
    "MATH_OPENER",
    "QUOTE_PREFIX",
    "THEMATIC_BREAK",
    "Fence",
    "is_list_item",
    "is_table_separator",
    "is_thematic_break",
    "list_kind",
    "opening_fence",
    "table_cells",
]


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


def is_thematic_break(line: str) -> bool:
    """Whether `line` is a thematic break (`***`, `- - -`, `___`), up to 3 spaces in."""
    return THEMATIC_BREAK.fullmatch(line.rstrip("\n")) is not None


def is_list_item(line: str) -> bool:
    """Whether `line` (without its newline) starts a list item; a thematic break does not."""
    return _LIST_ITEM.match(line) is not None and not is_thematic_break(line)


def list_kind(line: str) -> str | None:
    """The kind of list that `line` is an item of: its bullet, or `.`/`)` if ordered."""
    if not is_list_item(line):
        return None
    marker = line.lstrip(" \t")
    return marker[0] if marker[0] in "-*+" else marker.lstrip("0123456789")[0]


def is_table_separator(line: str) -> bool:
    """Whether `line` is a GFM table's delimiter row (`| --- | :-: |`)."""
    return _TABLE_SEPARATOR.fullmatch(line.strip()) is not None


def table_cells(row: str) -> list[str]:
    """A table row's cells, split at unescaped pipes, the outer pipes dropped."""
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if TABLE_END_PIPE.search(row):
        row = row[:-1]
    return [cell.strip() for cell in UNESCAPED_PIPE.split(row)]


# A list item's marker: indentation, bullet or ordinal with `.` or `)`, then spacing.
LIST_MARKER = re.compile(r"(?P<indent> *)(?P<bullet>[-*+]|\d{1,9}[.)])(?P<space> +)(?P<rest>.*)")
THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")
# An ATX heading: 1-6 `#` then a space, tab or the end of the line (`#AI` is no heading);
# an optional closing run of `#` only after a space (`C#` keeps its `#`).
ATX_HEADING = re.compile(
    r"(?P<indent> {0,3})(?P<level>#{1,6})(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+|(?<=[ \t])#+)?[ \t]*\Z"
)
# A block quote's marker, with its optional following space.
QUOTE_PREFIX = re.compile(r" {0,3}> ?")
TABLE_END_PIPE = re.compile(r"(?<!\\)(?:\\\\)*\|\Z")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")

# Math: `$$…$$` and `\[…\]` (display) may span lines of a paragraph. A `$` opens a formula
# only before a non-space and closes one only after a non-space and not before a digit, so
# prices (`$5 and $10`) stay text; an escaped `\$` is a dollar sign.
MATH = re.compile(
    r"(?<!\\)\$\$(?P<dollars>.+?)\$\$"
    r"|\\\[(?P<bracket>.+?)\\\]"
    r"|\\\((?P<paren>.+?)\\\)"
    r"|(?<![\\$\w])\$(?=[^\s$])(?P<dollar>(?:\\.|[^\\$])+?)(?<=[^\s\\])\$(?![\d$])",
    re.DOTALL,
)
# Where a display or `\(` formula opens (to tell one that is still being written).
MATH_OPENER = re.compile(r"(?<!\\)\$\$|\\\[|\\\(")

_FENCE_PREFIX_CHARS = " \t>"
_FENCE_OPEN = re.compile(r"(?P<prefix>[ \t>]*)(?P<marker>`{3,}|~{3,})(?P<info>[^\n]*)\Z")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|\Z)")
_TABLE_SEPARATOR = re.compile(r"\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?")
