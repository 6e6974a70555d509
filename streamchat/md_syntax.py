"""The markdown facts that splitting, healing and rendering share: one home for each.

Fences, list markers, thematic breaks, ATX headings, quote prefixes, table rows and
separators, and math delimiters are recognised here and nowhere else: `streamchat.blocks` uses
them to find where a block ends, `streamchat.heal` to tell what is half-written, and
`streamchat.render` (with its Python-Markdown extensions) to parse.

The limits on what rendering one answer may cost are here too, for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "ATX_HEADING",
    "BULLETS",
    "LIST_MARKER",
    "MATH",
    "MATH_OPENER",
    "MAX_ANSWER_CHARS",
    "MAX_BLOCK_CHARS",
    "MAX_DEFINITIONS",
    "MAX_ELEMENT_DEPTH",
    "MAX_FORMULA_CHARS",
    "MAX_MATH_CHARS",
    "MAX_NESTING",
    "MAX_WORD_CHARS",
    "PLAIN_PIECE_CHARS",
    "QUOTE_PREFIX",
    "THEMATIC_BREAK",
    "Fence",
    "extend_word",
    "find_math",
    "is_list_item",
    "is_table_separator",
    "is_thematic_break",
    "item_marker",
    "list_kind",
    "longest_word",
    "opening_fence",
    "table_cells",
    "trailing_word",
]

# --- Limits: the most one answer may cost to render, whatever the model sends. ---
# Each bounds a step whose cost would otherwise grow faster than the answer, or without
# end; docs/security.md ("Bounded rendering") says why each value is what it is.

#: Characters of an answer rendered as markdown: from the line that crosses this, the
#: rest of the answer is shown as plain text, with a notice (`streamchat.render`).
MAX_ANSWER_CHARS = 1_000_000
#: Characters of one block (`streamchat.blocks`: a paragraph, list, quote, table or code block):
#: from the line that takes a block past this, the rest of the answer is plain text.
#: Python-Markdown's own block and inline processing is quadratic in a block's size for
#: some shapes; this bounds it, and what the open tail costs to render every frame.
MAX_BLOCK_CHARS = 64_000
#: Characters of one unbroken word (no space, nor a CJK character, to break a line at;
#: code blocks aside): from the line that holds a longer one, the rest is plain text.
#: Laying out such a word costs the browser dearly.
MAX_WORD_CHARS = 10_000
#: Block quotes and list items nest at most this deep; a marker deeper than that is text.
MAX_NESTING = 32
#: Elements nest at most this deep in a block's HTML (inline markup included); deeper
#: ones are replaced by their text. Every later step walks the tree recursively.
MAX_ELEMENT_DEPTH = 96
#: Characters of LaTeX in one formula: a longer one is no formula, and stays text.
MAX_FORMULA_CHARS = 2_000
#: Characters of LaTeX converted to MathML in one block (latex2mathml takes about a
#: second per 10,000): formulas past this stay as their source text.
MAX_MATH_CHARS = 5_000
#: Link and footnote definitions in one answer: later ones are ignored. Every block is
#: rendered with all the definitions before it, so each one costs every later block.
MAX_DEFINITIONS = 200
#: Characters of plain text (past a limit) in one piece: each piece is one paragraph of
#: the page, streamed as a block, so no frame shows more than this of it anew.
PLAIN_PIECE_CHARS = 10_000


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


#: The kinds (`list_kind`) of bullet lists; the others are ordered lists' delimiters.
BULLETS = "-*+"


def item_marker(kind: str) -> str:
    """A marker that starts an item of a list of `kind` (`list_kind`): `-`, `1.`, `1)`."""
    return kind if kind in BULLETS else f"1{kind}"


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


def find_math(text: str, pos: int = 0) -> Iterator[re.Match[str]]:
    """`MATH.finditer(text, pos)`, in time linear in `text`.

    The regex alone tries every opener against up to MAX_FORMULA_CHARS characters even
    when no closer follows; here an opener whose closer is not within reach is passed
    over at the cost of a `str.find`.
    """
    while (opener := _MATH_START.search(text, pos)) is not None:
        start = opener.start()
        match = None
        closer = _MATH_CLOSERS.get(text[start : start + 2])
        if closer is None or text.find(closer, start + 3, start + 4 + MAX_FORMULA_CHARS) != -1:
            match = MATH.match(text, start)
        if match is None:
            pos = start + 1
            continue
        yield match
        pos = match.end()


def longest_word(line: str) -> int:
    """The length of the longest unbroken word in `line`: a run of characters with no
    space to break a line at (a no-break space is none) and no CJK character, which
    browsers break lines at too."""
    return max(map(len, _WORD_BREAK.split(line)))


def trailing_word(text: str) -> int:
    """The length of the unbroken word `text` ends with (at most MAX_WORD_CHARS + 1)."""
    return len(_WORD_BREAK.split(text[-MAX_WORD_CHARS - 1 :])[-1])


def extend_word(run: int, text: str) -> tuple[int, int]:
    """`text` written after a word of `run` characters: the longest word it makes, and
    the length of the word it ends with. In time linear in `text` alone."""
    words = _WORD_BREAK.split(text)
    first = run + len(words[0])
    if len(words) == 1:
        return first, first
    return max(first, *map(len, words[1:])), len(words[-1])


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
# prices (`$5 and $10`) stay text; an escaped `\$` is a dollar sign. A formula holds at
# most MAX_FORMULA_CHARS characters. Search with `find_math`, which is linear.
MATH = re.compile(
    rf"(?<!\\)\$\$(?P<dollars>.{{1,{MAX_FORMULA_CHARS}}}?)\$\$"
    rf"|\\\[(?P<bracket>.{{1,{MAX_FORMULA_CHARS}}}?)\\\]"
    rf"|\\\((?P<paren>.{{1,{MAX_FORMULA_CHARS}}}?)\\\)"
    rf"|(?<![\\$\w])\$(?=[^\s$])(?P<dollar>(?:\\.|[^\\$]){{1,{MAX_FORMULA_CHARS}}}?)"
    r"(?<=[^\s\\])\$(?![\d$])",
    re.DOTALL,
)
# Where a display or `\(` formula opens (to tell one that is still being written).
MATH_OPENER = re.compile(r"(?<!\\)\$\$|\\\[|\\\(")

_MATH_START = re.compile(r"\$|\\[\[(]")
_MATH_CLOSERS = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}
# Where a line may break: whitespace but the no-break spaces, a zero-width space, and
# CJK ideographs, kana, hangul and full-width forms.
_WORD_BREAK = re.compile(
    r"[^\S\xa0\u2007\u202f]|[\u200b\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)
_FENCE_PREFIX_CHARS = " \t>"
_FENCE_OPEN = re.compile(r"(?P<prefix>[ \t>]*)(?P<marker>`{3,}|~{3,})(?P<info>[^\n]*)\Z")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|\Z)")
_TABLE_SEPARATOR = re.compile(r"\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?")
