"""Streamed text that only extends the open tail's last text: shown by appending it, without
rendering the tail again.

Most tokens of an answer are words added to the paragraph, list item or code block being
written. Rendering the whole open block again for each frame costs milliseconds in
Pyodide; when the new text can change nothing but the end of the tail's last text, the
page appends it there instead (`streamchat.stream_render.AppendTail`). The conditions are
deliberately narrow; anything else is rendered as before. Tests check the shortcut against
a full render at every prefix of the corpus and of random markdown.

Two kinds of tail qualify:
- *prose*: a tail that needs no healing, whose last line begins with a letter (after any
  list or quote markers) and ends in plain characters, given more plain characters and no
  line break: the text run grows, nothing else can change;
- *code*: an open fenced code block at the left margin (shown uncoloured while open, see
  `streamchat.render.render_parts`), given text without the fence's character: no line of it can
  close the block.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["TailKind", "append_point", "appended_text", "tail_kind"]

TailKind = Literal["prose", "code"]

#: Characters that mean nothing to markdown in the middle of a line (no `*`, `_`, `` ` ``,
#: `[`, `]`, `(`, `<`, `&`, `\`, `$`, `~`, `|`, `:`, `@`, `#`, tab or line break).
_INERT = re.compile(r"(?:[^\W_]|[ ,.;?!'\"-])*")
#: A line whose content, after any list or quote markers, begins with a letter, or with
#: emphasis or a code span right before a letter: not a heading, fence, table row,
#: definition, HTML, indented code, thematic break or the start of a list (a `*` or `_`
#: followed by a letter can become none of these by text added after it; a `[` can become
#: a definition).
_PLAIN_LINE = re.compile(r" {0,3}(?:(?:[-+*]|\d{1,9}[.)]) {1,4}|> ?)*(?:[*_`]{1,3})?[^\W\d_]")
#: Bare links in the making (magiclink links `www.` and `ftp.` without a scheme).
_LINKISH = re.compile(r"(?:www|ftp)\.", re.IGNORECASE)
#: An opening fence at the left margin; its character and length.
_FENCE = re.compile(r"(?:(`{3,})[^`\n]*|(~{3,})[^\n]*)\n")
#: A line of spaces only (Markdown empties it).
_BLANK_LINE = re.compile(r"(?:^|\n) +\n")
#: The end of a prose tail's HTML: the paragraph or list item holding the last text, and
#: the lists and quotes around it.
_PROSE_END = re.compile(r"(?:\s*</(?:p|li)>)(?:\s*</(?:p|li|ul|ol|blockquote)>)*\s*\Z")
#: The end of an open code block's HTML (`streamchat.render._format_code`).
_CODE_END = re.compile(r"</pre></div></div>\Z")


def tail_kind(tail: str, healed: str) -> TailKind | None:
    """Whether `tail` (and `healed`, what it renders as) can be extended by appending."""
    if healed == tail:
        return "prose"
    fence = _FENCE.match(tail)
    if fence is None or "\t" in tail or "\r" in tail:
        return None
    marker = fence.group(1) or fence.group(2)
    # Healing must see it as we do: an open block, closed by a fence added after it.
    if not healed.startswith(tail) or healed[len(tail) :].strip() != marker:
        return None
    closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ ]*$", re.M)
    if closing.search(tail, fence.end()):
        return None
    return "code"


def appended_text(kind: TailKind, tail: str, delta: str) -> str | None:
    """The text that rendering `tail + delta` adds at the end of `tail`'s rendered last
    text, or None when `delta` may do more than that (render it)."""
    if kind == "code":
        return _code_text(tail, delta)
    return _prose_text(tail, delta)


def append_point(kind: TailKind, html: str) -> int | None:
    """Where appended text goes in the tail's `html`: after its last text, before the
    closing tags of what holds it; None when `html` does not end that way."""
    end = (_CODE_END if kind == "code" else _PROSE_END).search(html)
    if end is None or end.start() == 0 or (kind == "prose" and html[end.start() - 1] == ">"):
        return None
    return end.start()


def _prose_text(tail: str, delta: str) -> str | None:
    # Spaces at the end of a line are shown or not depending on the block (a paragraph
    # keeps them, a quote drops them), so neither `tail` nor `delta` may end with one:
    # models put the space before a word, so that costs little.
    if not delta or delta.endswith(" ") or _INERT.fullmatch(delta) is None:
        return None
    line = tail[tail.rfind("\n") + 1 :]
    if line.endswith(" ") or "\t" in line or _PLAIN_LINE.match(line) is None:
        return None
    last_word = line[line.rfind(" ") + 1 :]
    if _INERT.fullmatch(last_word) is None or _LINKISH.search(last_word + delta):
        return None
    return delta


def _code_text(tail: str, delta: str) -> str | None:
    fence = _FENCE.match(tail)
    if fence is None:
        return None
    char = (fence.group(1) or fence.group(2))[0]
    # A line with the fence's character may yet become the closing fence.
    if char in delta or char in tail[tail.rfind("\n") + 1 :] or "\t" in delta or "\r" in delta:
        return None
    if tail.endswith(" ") or delta.endswith(" "):
        return None  # spaces at the very end are not shown: as for prose
    if _BLANK_LINE.search(tail[tail.rfind("\n") + 1 :] + delta):
        return None  # a line of only spaces is shown empty
    # The block shows its text without the last line break (the fence's closing line
    # would follow it), so a trailing "\n" is held back until more text comes.
    held = "\n" if tail.endswith("\n") and len(tail) > fence.end() else ""
    return held + (delta[:-1] if delta.endswith("\n") else delta)
