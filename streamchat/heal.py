"""Heal the unfinished tail of a streamed markdown answer so that it renders sensibly."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from streamchat.md_syntax import (
    MATH_OPENER,
    TABLE_END_PIPE,
    THEMATIC_BREAK,
    UNESCAPED_PIPE,
    Fence,
    find_math,
    is_list_item,
    opening_fence,
    table_cells,
)

__all__ = ["heal", "row_looks_complete"]


def heal(tail: str) -> str:
    """Return `tail` with what is half-written closed or dropped, so no raw marker flashes.

    - an open code fence is closed (a partly written closing marker is dropped first); the
      code inside is never changed; an opening fence line still being written is dropped;
    - a table header is hidden until its separator row is complete, and a last row still
      being written is hidden until it has a cell for every column or ends with `|`;
    - a last line that is only a list marker, `--`, `#` or `>` is dropped;
    - in the last paragraph (or table cell): a link being written shows its text, an image
      being written nothing, a lone `[text` its text, a partial `[1` citation nothing
      (`[text]` stays: it may be literal, or a citation, or get a `(url)` next); an
      open code span or emphasis (`*`, `**`, `_`, `__`, `~~`) is closed, and a marker with
      nothing after it yet is dropped; a partial entity (`&am`) and a trailing lone
      backslash are dropped.

    `render_markdown` heals every answer's last block, also once the answer is complete,
    so complete markdown comes back unchanged, except in rare cases where the end of a
    whole answer looks like markup being written: an unmatched backtick or `**` (closed),
    a last line starting with `|` that is no table, or a last line that is only a list
    marker, `#` or `>` (dropped).
    """
    lines = tail.split("\n")
    fence, closed_at = _open_fence(lines[:-1])
    if fence is not None:
        return _close_fence(lines, fence)
    if closed_at is not None and not any(line.strip() for line in lines[closed_at + 1 :]):
        # The tail ends with a closed code block: nothing after it to heal.
        return tail
    if opening_fence(lines[-1]) is not None or _PARTIAL_BLOCK_START.fullmatch(lines[-1]):
        lines[-1] = ""
    lines = _hide_unfinished_table_rows(lines)
    return _heal_last_paragraph(lines)


def _open_fence(complete_lines: list[str]) -> tuple[Fence | None, int | None]:
    """The fence still open after these lines, and the index of the last line that closed one."""
    fence: Fence | None = None
    closed_at: int | None = None
    for index, line in enumerate(complete_lines):
        if fence is None:
            fence = opening_fence(line)
        elif fence.is_closed_by(line):
            fence, closed_at = None, index
    return fence, closed_at


def _close_fence(lines: list[str], fence: Fence) -> str:
    last = lines[-1]
    if last and fence.is_closed_by(last):
        return "\n".join(lines)
    marker_part = last.lstrip(" \t>")
    if marker_part and fence.marker.startswith(marker_part):
        # A closing marker being written: "``" of "```".
        last = ""
    body = "\n".join([*lines[:-1], last])
    if not body.endswith("\n"):
        body += "\n"
    return body + fence.prefix + fence.marker


def _hide_unfinished_table_rows(lines: list[str]) -> list[str]:
    """Drop a table header without its separator row, and a last row still being written.

    `lines[-1]` is the unterminated line ("" when the text ends with a newline).
    """
    end = len(lines) if lines[-1] else len(lines) - 1
    start = end
    while start > 0 and lines[start - 1].lstrip().startswith("|"):
        start -= 1
    run = lines[start:end]
    if not run:
        return lines
    last_is_open = bool(lines[-1])
    header_cells = len(table_cells(run[0]))
    if len(run) == 1:
        # A header (or a lone pipe row) waiting for its separator row.
        return [*lines[:start], ""]
    separator = table_cells(run[1])
    separator_ok = len(separator) == header_cells and all(
        _SEPARATOR_CELL.fullmatch(cell) for cell in separator
    )
    if not separator_ok:
        separator_like = set(run[1].strip()) <= set("|:- ")
        if len(run) == 2 and last_is_open and separator_like:
            return [*lines[:start], ""]
        return lines
    if last_is_open and len(run) > 2 and not row_looks_complete(run[-1], header_cells):
        return [*lines[:-1], ""]
    return lines


def row_looks_complete(row: str, header_cells: int) -> bool:
    """Whether a table's last, unterminated row is shown yet: once it has some text and a cell
    for every column, or a `|` at its end (`streamchat.tail_append` asks the same)."""
    cells = table_cells(row)
    if not any(cells):
        return False
    return len(cells) >= header_cells or TABLE_END_PIPE.search(row.rstrip()) is not None


def _heal_last_paragraph(lines: list[str]) -> str:
    last = len(lines) - 1 if lines[-1] else len(lines) - 2
    if last < 0 or not lines[last].strip():
        return "\n".join(lines)
    text = "\n".join(lines)
    if THEMATIC_BREAK.fullmatch(lines[last]):
        return text
    if lines[last].lstrip().startswith("|"):
        # Inline markup never spans table cells: heal the last cell only.
        cell_start = max(m.end() for m in UNESCAPED_PIPE.finditer(lines[last]))
        start = len("\n".join(lines[:last])) + (1 if last else 0) + cell_start
        return text[:start] + _heal_inline(text[start:])
    first = last
    while first > 0 and not _starts_block(lines, first) and not _ends_block(lines[first - 1]):
        first -= 1
    start = len("\n".join(lines[:first])) + (1 if first else 0)
    marker = _BLOCK_MARKER.match(lines[first])
    if marker is not None:
        start += marker.end()
    return text[:start] + _heal_inline(text[start:])


def _starts_block(lines: list[str], index: int) -> bool:
    line = lines[index]
    if line.lstrip().startswith(">"):
        return not lines[index - 1].lstrip().startswith(">")
    return is_list_item(line) or line.lstrip().startswith(("#", "|"))


def _ends_block(previous_line: str) -> bool:
    stripped = previous_line.strip()
    return (
        not stripped or stripped.startswith(("#", "|")) or opening_fence(previous_line) is not None
    )


def _heal_inline(text: str) -> str:
    """Heal one paragraph's inline markup (`text` starts where the paragraph's text does)."""
    return _show_unfinished_formula(_heal_inline_markup(text))


def _show_unfinished_formula(text: str) -> str:
    """An unfinished `\\[` or `\\(` formula keeps its backslash on screen (escaped), rather
    than showing as a bracket that a backslash escape made of it.

    `\\[1` stays: it is likely an escaped citation marker `\\[1\\]` being written.
    """
    complete = [m.span() for m in find_math(text)]
    opener = MATH_OPENER.search(text, complete[-1][1] if complete else 0)
    if opener is None or not opener.group().startswith("\\") or _is_escaped(text, opener.start()):
        return text
    if opener.group() == "\\[" and _CITATION_LIKE.fullmatch(text[opener.end() :]):
        return text
    if any(start <= opener.start() < end for start, end in _CodeSpans.scan(text).spans):
        return text
    return text[: opener.start()] + "\\" + text[opener.start() :]


def _heal_inline_markup(text: str) -> str:
    text = _heal_partial_link(text)
    code = _CodeSpans.scan(text)
    if code.open_at is not None and not text[code.open_at + len(code.open_run) :].strip():
        # A code span's opening backticks with nothing after them yet.
        text = text[: code.open_at]
        code = _CodeSpans.scan(text)
    if code.open_at is not None:
        # The code span's content stands in as a word for the delimiters before it.
        head = _mask(text[: code.open_at], code.spans) + "x"
        return text + code.open_run + _emphasis_closers(head)
    text = _PARTIAL_ENTITY.sub("", text)
    masked = _mask(text, code.spans)
    dangling = _dangling_delimiter(masked)
    if dangling:
        text, masked = text[:-dangling], masked[:-dangling]
    closers = _emphasis_closers(masked)
    if not closers:
        return _drop_lone_backslash(text)
    return _drop_lone_backslash(text.rstrip()) + closers


def _heal_partial_link(text: str) -> str:
    code = _CodeSpans.scan(text)
    end = len(text) if code.open_at is None else code.open_at
    masked = _mask(text[:end], code.spans, urls=False)
    link = _partial_link(masked)
    if link is not None:
        start, label_start, label_end, bang = link
        return text[:start] + ("" if bang else text[label_start:label_end])
    bracket = _lone_bracket(masked)
    if bracket is not None:
        start, label_start = bracket
        label = text[label_start:]
        if _PARTIAL_CITATION.fullmatch(label):
            return text[:start]
        return text[:start] + label
    return text


def _partial_link(masked: str) -> tuple[int, int, int, bool] | None:
    """A link being written at the end, `[label](url…`: where it starts, its label's
    start and end, and whether it is an image. Linear: the label of a `](` is after the
    last `]` or line break before it, and nothing after the `(` is `)` or a line break."""
    newline = masked.rfind("\n")
    close = masked.find("](", max(masked.rfind(")"), newline) + 1)
    while close != -1:
        after = max(masked.rfind("]", 0, close), newline)
        opening = masked.find("[", after + 1, close)
        if opening != -1:
            bang = masked[opening - 1 : opening] == "!"
            return opening - bang, opening + 1, close, bang
        close = masked.find("](", close + 1)
    return None


def _lone_bracket(masked: str) -> tuple[int, int] | None:
    """A `[` (or `![`) at the end with no `]` or line break after it: where it starts, and
    its label."""
    opening = masked.find("[", max(masked.rfind("]"), masked.rfind("\n")) + 1)
    if opening == -1:
        return None
    bang = masked[opening - 1 : opening] == "!"
    return opening - bang, opening + 1


@dataclass(frozen=True)
class _CodeSpans:
    """Complete code spans, and where an unclosed one starts (CommonMark's matching)."""

    spans: list[tuple[int, int]]
    open_at: int | None
    open_run: str

    @classmethod
    def scan(cls, text: str) -> _CodeSpans:
        runs = [m for m in _BACKTICKS.finditer(text) if not _is_escaped(text, m.start())]
        spans: list[tuple[int, int]] = []
        index = 0
        while index < len(runs):
            opener = runs[index]
            closer = next(
                (i for i in range(index + 1, len(runs)) if runs[i].group() == opener.group()),
                None,
            )
            if closer is None:
                return cls(spans, opener.start(), opener.group())
            spans.append((opener.start(), runs[closer].end()))
            index = closer + 1
        return cls(spans, None, "")


def _mask(text: str, code_spans: list[tuple[int, int]], *, urls: bool = True) -> str:
    """`text` with code spans, escapes and (if `urls`) URLs blanked out as word characters.

    Markers inside those are not markup; a word character keeps the flanking rules of the
    delimiters around them right.
    """
    chars = list(text)
    spans = [span for span in code_spans if span[1] <= len(text)]
    spans += _math_spans(text)
    spans += [m.span() for m in _ESCAPE.finditer(text)]
    if urls:
        spans += [m.span() for m in _URL_LIKE.finditer(text)]
    for start, end in spans:
        chars[start:end] = "x" * (end - start)
    return "".join(chars)


def _math_spans(text: str) -> list[tuple[int, int]]:
    """Formulas, and a display or `\\(` formula still being written (to the end): their
    `*` and `_` are no emphasis, and an unfinished formula shows as its source."""
    spans = [m.span() for m in find_math(text)]
    after = spans[-1][1] if spans else 0
    opener = MATH_OPENER.search(text, after)
    if opener is not None:
        spans.append((opener.start(), len(text)))
    return spans


def _dangling_delimiter(masked: str) -> int:
    """How many delimiter characters at the very end are markup still being written.

    That is a run after a space (an opener with nothing after it yet) or the partial
    closer of an open run (`~` of `~~`). A run glued to a word with nothing open stays:
    `5*` may be just that, also at the end of a complete answer.
    """
    runs = _delimiter_runs(masked)
    if not runs or runs[-1].end != len(masked):
        return 0
    leftover = _match_delimiters(runs)
    last = runs[-1]
    count = next((count for run, count in leftover if run is last), 0)
    after_space = not last.start or masked[last.start - 1].isspace()
    still_open = any(
        run.char == last.char and run.can_open and (run.char != "~" or open_count >= 2)
        for run, open_count in leftover
        if run is not last
    )
    return count if after_space or still_open else 0


def _emphasis_closers(masked: str) -> str:
    closers = []
    for run, count in reversed(_match_delimiters(_delimiter_runs(masked))):
        if run.end == len(masked) or not run.can_open:
            continue
        if run.char == "~":
            if count >= 2:
                closers.append("~~")
        elif not (run.char == "_" and _opens_identifier(masked, run.end)):
            closers.append(run.char * min(count, 3))
    return "".join(closers)


@dataclass(frozen=True)
class _DelimiterRun:
    char: str
    start: int
    end: int
    can_open: bool
    can_close: bool


def _delimiter_runs(masked: str) -> list[_DelimiterRun]:
    runs = []
    for match in _DELIMITERS.finditer(masked):
        start, end = match.span()
        before = masked[start - 1] if start else " "
        after = masked[end] if end < len(masked) else " "
        left = not after.isspace() and (
            not _is_punctuation(after) or before.isspace() or _is_punctuation(before)
        )
        right = not before.isspace() and (
            not _is_punctuation(before) or after.isspace() or _is_punctuation(after)
        )
        char = match.group()[0]
        if char == "_":
            # Intraword underscores are not emphasis: snake_case_names stay words.
            can_open = left and (not right or _is_punctuation(before))
            can_close = right and (not left or _is_punctuation(after))
        else:
            can_open, can_close = left, right
        runs.append(_DelimiterRun(char, start, end, can_open, can_close))
    return runs


def _match_delimiters(runs: list[_DelimiterRun]) -> list[tuple[_DelimiterRun, int]]:
    """Match closers to openers; return the runs left with unmatched characters, in order.

    A simplified CommonMark delimiter algorithm: enough to tell what is still open.
    """
    openers: list[_Unmatched] = []
    leftover: list[_Unmatched] = []
    # Where in `openers` the openers of each character are, so that finding one is a
    # look-up, not a scan: linear in the runs.
    by_char: dict[str, list[int]] = {"*": [], "_": [], "~": []}

    def keep(count: int) -> None:
        while len(openers) > count:
            by_char[openers.pop().run.char].pop()

    for run in runs:
        count = run.end - run.start
        if run.char == "~" and count < 2:
            # A single tilde is no markup (subscript is off): literal, or a partial `~~`.
            leftover.append(_Unmatched(run, count))
            continue
        while count and run.can_close and by_char[run.char]:
            index = by_char[run.char][-1]
            # Openers between the pair can no longer close: they stay literal.
            keep(index + 1)
            opener = openers[index]
            used = min(opener.count, count)
            count -= used
            opener.count -= used
            if not opener.count:
                keep(index)
        if count:
            if run.can_open:
                by_char[run.char].append(len(openers))
                openers.append(_Unmatched(run, count))
            else:
                leftover.append(_Unmatched(run, count))
    return sorted(
        ((item.run, item.count) for item in [*openers, *leftover]),
        key=lambda item: item[0].start,
    )


@dataclass
class _Unmatched:
    run: _DelimiterRun
    count: int


def _opens_identifier(masked: str, end: int) -> bool:
    """Whether an `_` run starts a word with more underscores inside, like `_private_name`."""
    word = _NEXT_WORD.match(masked, end)
    return word is not None and _INTRAWORD_UNDERSCORE.search(word[1]) is not None


def _drop_lone_backslash(text: str) -> str:
    trailing = len(text) - len(text.rstrip("\\"))
    return text[:-1] if trailing % 2 else text


def _is_escaped(text: str, index: int) -> bool:
    start = index
    while start and text[start - 1] == "\\":
        start -= 1
    return (index - start) % 2 == 1


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith(("P", "S"))


# The last line being only the start of a block: a list marker (with a partial task box),
# a partial thematic break, an empty heading or an empty quote.
_PARTIAL_BLOCK_START = re.compile(
    r"[ \t>]*(?:(?:[-*+]|\d{1,9}[.)])(?:[ \t]+(?:\[[ xX]?\]?)?)?|-{1,2}|#{1,6}|>)[ \t]*"
)
_BLOCK_MARKER = re.compile(
    r"[ \t]*(?:>[ \t]?)*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?|#{1,6}[ \t]+)?"
)
_SEPARATOR_CELL = re.compile(r":?-+:?")
_BACKTICKS = re.compile(r"`+")
_DELIMITERS = re.compile(r"\*+|_+|~+")
_CITATION_LIKE = re.compile(r"[\d,\s]*\\?")
_ESCAPE = re.compile(r"\\[!-/:-@\[-`{-~]")
_URL_LIKE = re.compile(r"\]\([^)\s]*\)?|<[^>\s]*>?|\b(?:https?://|ftp://|www\.)\S*")
_NEXT_WORD = re.compile(r"\s*(\S+)")
_PARTIAL_CITATION = re.compile(r"[\d,\s]*")
# Only at a word's start: "R&D" is no entity being written.
_PARTIAL_ENTITY = re.compile(r"(?<!\w)&#?[A-Za-z0-9]{0,31}\Z")
_INTRAWORD_UNDERSCORE = re.compile(r"[^\W_]_+[^\W_]")
