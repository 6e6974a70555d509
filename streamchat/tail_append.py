"""Streamed text that only extends the open tail's last text: shown by appending it, without
rendering the tail again.

Most tokens of an answer are words added to the paragraph, list item or code block being
written. Rendering the whole open block again for each frame costs milliseconds in
Pyodide; when the new text can change nothing but the end of the tail's last text, the
page appends it there instead (`streamchat.stream_render.AppendTail`). The conditions are
deliberately narrow; anything else is rendered as before. Tests check the shortcut against
a full render at every prefix of the corpus and of random markdown.

Five kinds of tail qualify:
- *prose*: a tail that needs no healing, whose last line begins with a letter (after any
  list or quote markers) and ends in plain characters, given more plain characters: the
  text run grows, nothing else can change. Also across a line break, when the line
  before it ends in plain characters and the next begins with a letter: a soft break in
  the paragraph or list item (a line that begins with a letter starts no other block),
  shown as the line break itself; but not when the line it ends follows a blank line
  (that line decides whether the block ends, `streamchat.blocks`). A line break at the
  very end shows nothing yet (the line after it decides what it is), so it is held back:
  appended, with what follows, once that is known to be such a line;
- *emphasis*: the same, but healing closes an emphasis (`**`, `*`, `_`, `~~`) opened in
  the last paragraph, so the last text is inside that `<strong>`, `<em>` or `<del>`; plain
  characters do not change which delimiters match, and go inside it. Healing drops the
  spaces at the end (`**bold **` would not close), so they are held back as well;
- *code span*: healing closes a code span opened in the last line, so the last text is
  inside its `<code>`, where all is literal but a backtick; new text has none, and no line
  break, backslash, tab, or `|` (which may make the line a table's row);
- *table row*: a table's last row (or its header), which healing hides until it is
  complete: more text that leaves it incomplete changes nothing;
- *code*: an open fenced code block at the left margin (shown uncoloured while open, see
  `streamchat.render.render_parts`), with no line that may close it, given text without
  the fence's character: no line of it can close the block. The block does not show its
  last line break, nor a last line of spaces only: those are held back until more text
  shows them.

Spaces at the end of a line are shown as they are, except in a quote, whose lines lose
them (`streamchat.render`): there, no text that ends in a space is appended. A space before
a line break may make a hard break: never appended.
"""

from __future__ import annotations

import re
from typing import Literal

from streamchat.heal import row_looks_complete
from streamchat.md_syntax import table_cells

__all__ = ["TailKind", "appended", "tail_kind"]

TailKind = Literal["prose", "emphasis", "code span", "code", "table row"]

#: Characters that mean nothing to markdown in the middle of a line (no `*`, `_`, `` ` ``,
#: `[`, `]`, `(`, `<`, `&`, `\`, `$`, `~`, `|`, `/`, `@`, `#`, tab or line break). A colon
#: is plain: an address needs `//` or `@` after it, which are not.
_INERT = re.compile(r"(?:[^\W_]|[ ,.;:?!'\"-])*")
#: Plain characters and line breaks (each line is checked on its own).
_INERT_LINES = re.compile(r"(?:[^\W_]|[ ,.;:?!'\"\n-])*")
#: A line whose content, after any list or quote markers, begins with a letter, or with
#: emphasis or a code span right before a letter: not a heading, fence, table row,
#: definition, HTML, indented code, thematic break or the start of a list (a `*` or `_`
#: followed by a letter can become none of these by text added after it; a `[` can become
#: a definition).
_PLAIN_LINE = re.compile(r" {0,3}(?:(?:[-+*]|\d{1,9}[.)]) {1,4}|> ?)*(?:[*_`]{1,3})?[^\W\d_]")
#: A line that continues a paragraph or list item, whatever is before it: it begins with a
#: letter (no marker, no indentation, no setext underline).
_CONTINUATION = re.compile(r"[^\W\d_]")
#: Bare links in the making (magiclink links `www.` and `ftp.` without a scheme).
_LINKISH = re.compile(r"(?:www|ftp)\.", re.IGNORECASE)
#: What healing adds to an open emphasis, or to an open code span (and the emphasis
#: around it).
_EMPHASIS_CLOSERS = re.compile(r"[*_~]+")
_CODE_SPAN_CLOSERS = re.compile(r"(`+)[*_~]*")
#: An opening fence at the left margin; its character and length.
_FENCE = re.compile(r"(?:(`{3,})[^`\n]*|(~{3,})[^\n]*)\n")
#: The end of a prose tail's HTML: the elements that hold the last text (the inline ones,
#: then the paragraph or list item, then the lists and quotes around it), closing.
_PROSE_END = re.compile(
    r"(?P<inline>(?:</(?:code|strong|em|del)>)*)</(?:p|li)>"
    r"(?P<blocks>(?:\s*</(?:p|li|ul|ol|blockquote)>)*)\s*\Z"
)
#: How far from the end of the HTML its closing tags can begin (nesting is limited).
_PROSE_END_WINDOW = 400
#: The end of an open code block's HTML (`streamchat.render._format_code`).
_CODE_END = "</pre></div></div>"
#: The inline element that holds the last text, per kind.
_INNERMOST = {"emphasis": ("</strong>", "</em>", "</del>"), "code span": ("</code>",)}


def tail_kind(tail: str, healed: str) -> TailKind | None:
    """Whether `tail` (and `healed`, what it renders as) can be extended by appending."""
    if healed == tail:
        return "prose"
    code = _code_kind(tail, healed)
    if code is not None:
        return code
    if healed.startswith(tail):
        closers = _CODE_SPAN_CLOSERS.fullmatch(healed, len(tail))
        if closers is not None and _open_code_span(tail, closers.group(1)):
            return "code span"
    if "\n" not in tail[-1:]:
        stripped = tail.rstrip(" ")
        if healed.startswith(stripped) and _EMPHASIS_CLOSERS.fullmatch(healed, len(stripped)):
            return "emphasis"
    line_start = tail.rfind("\n") + 1
    line = tail[line_start:]
    if line.lstrip().startswith("|") and healed == tail[:line_start]:
        return "table row"
    return None


def appended(kind: TailKind, tail: str, html: str, delta: str) -> tuple[int, str] | None:
    """Where in the tail's `html`, and what text, rendering `tail + delta` adds at the end
    of `tail`'s rendered last text; None when `delta` may do more than that (render it)."""
    if kind == "table row":
        return (len(html), "") if "\n" not in delta and _row_hidden(tail, delta) else None
    if kind == "code":
        if not html.endswith(_CODE_END) or len(html) == len(_CODE_END):
            return None
        text = _code_text(tail, delta)
        return None if text is None else (len(html) - len(_CODE_END), text)
    end = _prose_end(html)
    if end is None:
        return None
    inline = end.group("inline")
    if (inline != "") if kind == "prose" else not inline.startswith(_INNERMOST[kind]):
        return None
    # The page appends to the last text that is not only spaces: it must end here. And the
    # delimiters that healing added must have closed elements, not be shown as text.
    point = end.start()
    if not html[html.rfind(">", 0, point) + 1 : point].strip() or html[point - 1] in "*_~`":
        return None
    if kind == "code span":
        text = _code_span_text(delta)
    elif kind == "emphasis":
        text = _emphasis_text(tail, delta)
    else:
        quoted = "</blockquote>" in end.group("blocks")
        if quoted and (tail.endswith(" ") or delta.endswith(" ")):
            return None  # a quote's lines lose their spaces at the end
        text = _prose_text(tail, delta)
    return None if text is None else (point, text)


def _prose_end(html: str) -> re.Match[str] | None:
    """The closing tags at the end of a prose tail's `html`; looked for near the end first
    (a match that starts later than the true one leaves no text before it: refused)."""
    start = max(0, len(html) - _PROSE_END_WINDOW)
    end = _PROSE_END.search(html, start)
    if start and (end is None or end.start() == start):
        end = _PROSE_END.search(html)
    return end


def _prose_text(tail: str, delta: str) -> str | None:
    if not delta or _INERT_LINES.fullmatch(delta) is None:
        return None
    start = tail.rfind("\n") + 1
    held = ""
    if start == len(tail):
        # A line break held back: the line before it decides as the tail's last line, and
        # the new text must continue it.
        if not tail or tail.endswith("\n\n"):
            return None
        held = "\n"
        start = tail.rfind("\n", 0, len(tail) - 1) + 1
        line = tail[start:-1]
    else:
        line = tail[start:]
    if "\t" in line or _PLAIN_LINE.match(line) is None:
        return None
    words = line.rstrip(" ")
    last_word = words[words.rfind(" ") + 1 :]
    if _INERT.fullmatch(last_word) is None or _LINKISH.search(last_word + delta):
        return None
    if (held or "\n" in delta) and not _continues(line + held + delta):
        return None
    if "\n" in delta and not held and _after_blank_line(tail, start):
        return None  # the first line after a blank one, once complete, may end the block
    return held + (delta[:-1] if delta.endswith("\n") else delta)


def _after_blank_line(tail: str, start: int) -> bool:
    """Whether the line of `tail` that begins at `start` follows a blank line (a block
    ends there when that line is complete and starts no list item, `streamchat.blocks`)."""
    return start > 0 and not tail[tail.rfind("\n", 0, start - 1) + 1 : start].strip()


def _continues(text: str) -> bool:
    """Whether the lines of `text` after its first (the tail's last line and the new text)
    continue the paragraph, one line each, with no hard break."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if index and not line and index == len(lines) - 1:
            return True  # a line break at the end, held back
        if index and _CONTINUATION.match(line) is None:
            return False  # another block, or a blank line
        if index < len(lines) - 1 and line.endswith(" "):
            return False  # spaces before a line break: maybe a hard break
    return True


def _emphasis_text(tail: str, delta: str) -> str | None:
    if not delta or _INERT.fullmatch(delta) is None:
        return None
    line = tail[tail.rfind("\n") + 1 :]
    if "\t" in line or _PLAIN_LINE.match(line) is None:
        return None
    words = line.rstrip(" ")
    # The last word: delimiters opening it, then plain characters, to end in one.
    last_word = words[words.rfind(" ") + 1 :].lstrip("*_~")
    if not last_word or _INERT.fullmatch(last_word) is None or _LINKISH.search(last_word + delta):
        return None
    # Healing drops the spaces at the end: they are shown once a word follows them.
    return (line[len(words) :] + delta).rstrip(" ")


def _row_hidden(tail: str, delta: str) -> bool:
    """Whether healing still hides the table's last row with `delta` added to it, as
    `streamchat.heal` decides: a header until its delimiter row comes, a body row until it
    has some text and a cell for every column, or a `|` at its end."""
    line_start = tail.rfind("\n") + 1
    header_start = line_start
    while header_start:
        previous = tail.rfind("\n", 0, header_start - 1) + 1
        if not tail[previous:header_start].lstrip().startswith("|"):
            break
        header_start = previous
    if header_start == line_start:
        return True
    header = tail[header_start : tail.find("\n", header_start)]
    return not row_looks_complete(tail[line_start:] + delta, len(table_cells(header)))


def _code_span_text(delta: str) -> str | None:
    if not delta or any(char in delta for char in "`|\n\r\t\\"):
        return None
    return delta


def _open_code_span(tail: str, run: str) -> bool:
    """Whether `tail` ends in a code span opened by `run` in its last line, with text after
    it that begins with no space (a space at both ends is dropped, see `CodeSpan`) and
    holds no backtick or backslash (no run that healing or the renderer might pair
    otherwise)."""
    line = tail[tail.rfind("\n") + 1 :]
    opener = line.rfind("`") + 1
    if opener < len(run) or line[opener - len(run) : opener] != run or "\\" in line:
        return False
    content = line[opener:]
    return line[: opener - len(run)][-1:] != "`" and content.strip() != "" and content[0] != " "


def _code_kind(tail: str, healed: str) -> TailKind | None:
    fence = _FENCE.match(tail)
    if fence is None or "\t" in tail or "\r" in tail:
        return None
    marker = fence.group(1) or fence.group(2)
    # Healing must see it as we do: an open block, closed by a fence added after it.
    if not healed.startswith(tail) or healed[len(tail) :].strip() != marker:
        return None
    # A line that closes it, or may: the renderer's fences close also when indented more.
    closing = re.compile(rf"^[ >]*{re.escape(marker[0])}{{{len(marker)},}}[ ]*$", re.M)
    if closing.search(tail, fence.end()):
        return None
    return "code"


def _code_text(tail: str, delta: str) -> str | None:
    fence = _FENCE.match(tail)
    if fence is None:
        return None
    char = (fence.group(1) or fence.group(2))[0]
    line_start = max(tail.rfind("\n") + 1, fence.end())
    line = tail[line_start:]
    # A line with the fence's character may yet become the closing fence.
    if char in delta or char in line or "\t" in delta or "\r" in delta:
        return None
    # What the block shows of its lines from the tail's last one on, before and after.
    after_break = line_start > fence.end()
    before, after = _code_shown(line, after_break), _code_shown(line + delta, after_break)
    return after[len(before) :] if after.startswith(before) else None


def _code_shown(lines: str, after_break: bool) -> str:
    """What a code block shows of `lines`, its last lines (after a line break, or from its
    first): not the last line break, and a line of spaces only as an empty line."""
    if not lines:
        return ""
    shown = lines[:-1] if lines.endswith("\n") else lines
    shown = "\n".join("" if not part.strip(" ") else part for part in shown.split("\n"))
    return ("\n" if after_break else "") + shown
