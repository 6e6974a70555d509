"""Render a markdown answer, whole or any streamed prefix, to HTML that is safe as innerHTML.

The answer is split into blocks (`streamchat.blocks`) and each block rendered on its own, the
last one healed first (`streamchat.heal`), so rendering a stream block by block gives exactly the
same HTML as rendering the whole text: `render_markdown` is defined that way.

Python-Markdown, configured for what language models write (GitHub-flavoured markdown):

- `tables` with `use_align_attribute`: GFM tables; alignment as `align`, never `style`.
- `sane_lists`: ordered lists keep their start number; `1.` and `-` lists do not merge.
- `pymdownx.superfences`: fenced code, also inside list items and quotes, through our own
  formatter (Pygments with CSS classes, wrapped with a language label and a copy button).
  `fenced_code` cannot nest fences in lists.
- `pymdownx.betterem` (its default, smart underscores): `snake_case_names` stay words,
  `foo*bar*baz` is emphasis, as on GitHub.
- `pymdownx.tilde` with `subscript=False`: `~~strike~~` only; `~` stays a tilde.
- `pymdownx.tasklist`: `- [ ]` / `- [x]` become disabled checkboxes.
- `pymdownx.magiclink`: bare `https://…`, `www.…` and e-mail addresses become links.
- no `nl2br`: a single newline is a space, as on GitHub; hard breaks are two trailing
  spaces (built in) or a trailing backslash (added here, as in CommonMark).
- no `attr_list`, `md_in_html` or raw HTML: the `html_block` preprocessor and the `html`
  inline pattern are removed, so `<script>` is text.

Only pymdownx modules that do not import `yaml` are used: the page has no PyYAML.

Markdown is preprocessed per block (outside code fences) where Python-Markdown and GFM
disagree: a list, fence or table right after a paragraph gets the blank line that
Python-Markdown needs; list items nested by 2 or 3 spaces (CommonMark's content column)
are re-indented to Python-Markdown's 4 per level, with the code fences inside them; an
ordered item not starting at 1 after a line of text stays text (only `1.` interrupts a
paragraph); a fence still open at the end of a block is closed there. (`tab_length=2` was
the alternative: it nests 2-space lists, but makes any 2-space indent an indented code
block and breaks 4-space nesting, which models also write.)

Safety: a tree processor that runs last sees every element before serialisation: `<a
href>` and `<img src>` must be `http:`, `https:`, `mailto:` or a `#fragment` after HTML
entities are decoded and ASCII whitespace and control characters removed (what a browser
ignores); otherwise a link becomes its text and an image its alt text. Relative URLs are
refused too: a model has no business pointing into the page's own origin, and such a link
would be dead or, worse, same-origin. Attributes and tags are allow-listed, so no `on*` or
`style` attribute can appear. Off-page links get `target="_blank"` and
`rel="noopener noreferrer nofollow"`.

Citations: with `citations` (id → href), markers `[1]`, adjacent `[1][2]` and lists
`[1, 2]` whose ids are all known become `<sup class="citation-ref"><a href data-ref>`
links, one per id; others stay text, as do markers in code and inside links.

Images: an image whose URL is not on an origin that `configure(image_origins=...)` allowed
(none by default) is a link to it, `<a class="md-image-link">Image: alt (host)</a>`, so
that no answer makes the page fetch from a host the deployer did not allow.

Bounded, whatever the model writes (docs/security.md, "Bounded rendering"): every step is
linear in its input; past MAX_ANSWER_CHARS, a block of MAX_BLOCK_CHARS or a word of
MAX_WORD_CHARS (`find_limit`), the rest of the answer is plain text under a notice; quote
and list markers past MAX_NESTING are text; and a render that fails anyway shows its
block as plain text and leaves a new Markdown instance for the next one: nothing raises.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as etree
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

import markdown
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AMP_SUBSTITUTE

from streamchat.blocks import split_blocks
from streamchat.colour import Code, colour_code
from streamchat.heal import heal
from streamchat.md_extensions import ConformanceExtension, Definition, References, expand_indent
from streamchat.md_inline import InlineExtension, _alt_markdown
from streamchat.md_math import MATH_ATTRIBUTES, MATH_TAGS, MathExtension
from streamchat.md_syntax import (
    ATX_HEADING,
    LIST_MARKER,
    MAX_ANSWER_CHARS,
    MAX_BLOCK_CHARS,
    MAX_NESTING,
    MAX_WORD_CHARS,
    PLAIN_PIECE_CHARS,
    QUOTE_PREFIX,
    Fence,
    is_table_separator,
    is_thematic_break,
    longest_word,
    opening_fence,
)

__all__ = [
    "Limit",
    "RenderBlock",
    "RenderedBlock",
    "block_limit",
    "configure",
    "find_limit",
    "is_allowed_url",
    "limit_notice",
    "plain_html",
    "render_block",
    "render_markdown",
    "render_parts",
    "render_tail",
    "split_plain",
]


def configure(*, image_origins: Iterable[str] = ()) -> None:
    """Set what the page allows, once at start (before rendering anything).

    `image_origins`: the origins (`https://images.example.com`) whose images are shown; an
    image from anywhere else is a link to it (`md-image-link`), so that no answer makes
    the page fetch from a host the deployer did not allow. None by default. Raises
    ValueError for an entry that is not an http(s) origin.
    """
    global _settings
    _settings = _Settings(frozenset(_origin(entry) for entry in image_origins))


@dataclass(frozen=True)
class _Settings:
    image_origins: frozenset[str] = frozenset()


_settings = _Settings()


def _origin(entry: str) -> str:
    origin = entry.strip().rstrip("/").lower()
    if _ORIGIN.fullmatch(origin) is None:
        raise ValueError(f"not an http(s) origin (like https://images.example.com): {entry!r}")
    return origin


def _image_allowed(src: str) -> bool:
    """Whether an image at `src` may be loaded: its origin is one `configure` allowed.

    The URL as the browser reads it (a backslash is a slash in an http(s) URL) must start
    with the origin and then end, or go on with a path, query or fragment: any userinfo,
    port, trailing dot or encoding makes it another origin, so it is refused, never
    wrongly allowed. A `#fragment` is this page, as it was before.
    """
    url = _as_browser_reads(src).replace("\\", "/")
    if url.startswith("#"):
        return True  # This page itself: nothing leaves for another host.
    return any(
        url[: len(origin)].lower() == origin and url[len(origin) : len(origin) + 1] in _AFTER_ORIGIN
        for origin in _settings.image_origins
    )


def render_markdown(
    text: str, citations: Mapping[str, str] | None = None, *, streaming: bool = False
) -> str:
    """The HTML for `text`, a whole answer, or (`streaming`) a prefix of one being streamed.

    `citations` maps a citation id to the href of its source (usually a `#fragment`).
    The answer is rendered block by block (`streamchat.blocks`), exactly as `StreamRenderer`
    renders it: link and footnote definitions of any finished block apply in every block.
    While `streaming`, the last block is the open tail: healed (`streamchat.heal`) first, and its
    own definitions apply only to itself. A finished answer is never healed. Past a limit
    (`find_limit`) the rest is a notice and plain text (`split_plain`), as `StreamRenderer`
    shows it.
    """
    limit = find_limit(text, streaming=streaming)
    blocks, tail = split_blocks(text if limit is None else text[: limit.at])
    if (not streaming or limit is not None) and tail:
        blocks, tail = [*blocks, tail], ""
    references: dict[str, Definition] = {}
    rendered: list[RenderedBlock] = []
    for block in blocks:
        rendered.append(render_parts(block, citations, references))
        references = dict(rendered[-1].references)
    parts = [
        render_parts(block, citations, references).html
        if part.needs_again(references)
        else part.html
        for block, part in zip(blocks, rendered, strict=True)
    ]
    if tail:
        parts.append(render_tail(tail, citations, references).html)
    if limit is not None:
        rest = text[limit.at :]
        pieces, last = split_plain(rest)
        parts.append(limit_notice(limit, len(rest)))
        parts += (plain_html(piece) for piece in [*pieces, last])
    return "".join(parts)


def render_tail(
    tail: str,
    citations: Mapping[str, str] | None = None,
    references: Mapping[str, Definition] | None = None,
    render_block: RenderBlock | None = None,
) -> RenderedBlock:
    """Render the open tail of a streamed answer: healed (`streamchat.heal`) first, its code left
    uncoloured (the tail is rendered every frame: see `render_parts`)."""
    try:
        healed = heal(tail)
    except Exception:  # Never expected; the tail is then shown as it is.
        healed = tail
    return (render_block or render_parts)(healed, citations, references, highlight=False)


class RenderBlock(Protocol):
    """How a block is rendered: `render_parts`, or a test's stand-in."""

    def __call__(
        self,
        block: str,
        citations: Mapping[str, str] | None,
        references: Mapping[str, Definition] | None,
        *,
        highlight: bool = True,
    ) -> RenderedBlock: ...


@dataclass(frozen=True)
class RenderedBlock:
    """One block's HTML, the definitions known after it, and the labels it missed."""

    html: str
    references: Mapping[str, Definition]
    missing: frozenset[str]
    #: The fences left uncoloured (`highlight=False`), to colour later (streamchat.colour).
    code: tuple[Code, ...] = ()

    def needs_again(self, references: Mapping[str, Definition]) -> bool:
        """Whether the block would render differently now that `references` are known."""
        return any(label in references for label in self.missing)


def render_block(
    block: str,
    citations: Mapping[str, str] | None = None,
    references: Mapping[str, Definition] | None = None,
) -> str:
    """The HTML for one block of markdown (see `streamchat.blocks.split_blocks`)."""
    return render_parts(block, citations, references).html


def render_parts(
    block: str,
    citations: Mapping[str, str] | None = None,
    references: Mapping[str, Definition] | None = None,
    *,
    highlight: bool = True,
) -> RenderedBlock:
    """Render one block with the link and footnote definitions of the others.

    `highlight=False` leaves code uncoloured: the open tail of a streaming answer is
    rendered every frame, and colouring a growing code block each time would cost more
    than the rest of the frame; it is coloured once, when its block is finished."""
    known = dict(references or {})
    if not block.strip():
        return RenderedBlock("", known, frozenset())
    try:
        html_text, seen, code = _convert(block, citations, known, highlight)
    except Exception:
        # Nothing in the block should get here; if something does (a RecursionError the
        # limits missed), the instance may be half-way through a render: build a new one,
        # and show the block as it is.
        _markdown.cache_clear()
        _alt_markdown.cache_clear()
        return RenderedBlock(_UNFORMATTED + plain_html(block), known, frozenset())
    return RenderedBlock(html_text, dict(seen), frozenset(seen.missing - set(seen)), code)


def _convert(
    block: str,
    citations: Mapping[str, str] | None,
    known: Mapping[str, Definition],
    highlight: bool,
) -> tuple[str, References, tuple[Code, ...]]:
    md = _markdown()
    md.reset()
    seen: References = md.references
    seen.update(known)
    # One Markdown instance serves every render (Pyodide runs one thread), so the
    # citations of this render are handed to its tree processor for the duration.
    _CitationLinker.citations = citations or {}
    _Code.highlight = highlight
    _Code.left = []
    try:
        html_text: str = md.convert(_prepare(block))
        code = tuple(_Code.left)
    finally:
        _CitationLinker.citations = {}
        _Code.highlight = True
        _Code.left = []
    return html_text, seen, code


def is_allowed_url(url: str) -> bool:
    """Whether a link or image may point at `url`: `http:`, `https:`, `mailto:` or `#…`.

    Checked as the browser will read it: entities decoded (repeatedly, so a doubly
    encoded scheme is refused too), then ASCII whitespace and control characters removed.
    A percent-encoded character stays as it is: `%6Aavascript:` is no scheme at all.
    """
    url = _as_browser_reads(url)
    if url.startswith("#"):
        return True
    scheme = _SCHEME.match(url)
    return scheme is not None and scheme.group(1).lower() in _ALLOWED_SCHEMES


def _as_browser_reads(url: str) -> str:
    url = url.replace(AMP_SUBSTITUTE, "&")
    for _ in range(8):
        decoded = html.unescape(url)
        if decoded == url:
            break
        url = decoded
    else:
        return ""  # Still decoding after 8 rounds: refuse rather than guess.
    return _IGNORED_URL_CHARS.sub("", url)


# --- Limits: past MAX_ANSWER_CHARS, a MAX_BLOCK_CHARS block or a MAX_WORD_CHARS word. ---


@dataclass(frozen=True)
class Limit:
    """Where an answer turns to plain text (`at`, an index into it) and why (`reason`)."""

    at: int
    reason: str


def find_limit(text: str, *, streaming: bool = False) -> Limit | None:
    """Where `text` (a whole answer, or while `streaming` a prefix of one) turns to plain
    text, if it does: at the first line that would break a limit (`block_limit`).

    Once a prefix has a limit every longer prefix has the same, so what is streamed and
    the whole answer agree.
    """
    blocks, tail = split_blocks(text)
    offset = 0
    for block in blocks:
        found = block_limit(block, offset)
        if found is not None:
            return found
        offset += len(block)
    return block_limit(tail, offset, open_end=streaming)


def block_limit(block: str, offset: int, *, open_end: bool = False) -> Limit | None:
    """The first line of one block (`streamchat.blocks`), which starts at `offset` in its answer,
    that crosses MAX_ANSWER_CHARS, takes the block past MAX_BLOCK_CHARS, or holds a word
    longer than MAX_WORD_CHARS outside a code block; None if there is none.

    With `open_end` the block's last line, if it has no newline yet, is still being
    written and may yet start a block of its own: only its own length counts against
    MAX_BLOCK_CHARS. Linear in the block.
    """
    fence: Fence | None = None
    start = 0
    while start < len(block):
        end = block.find("\n", start)
        open_line = end == -1 and open_end
        if end == -1:
            end = len(block)
        line = block[start:end]
        reason = ""
        if offset + end > MAX_ANSWER_CHARS:
            reason = _ANSWER_TOO_LONG
        elif (len(line) if open_line else end) > MAX_BLOCK_CHARS:
            reason = _BLOCK_TOO_LONG
        elif fence is not None:
            if fence.is_closed_by(line):
                fence = None
        else:
            fence = opening_fence(line)
            if len(line) > MAX_WORD_CHARS and longest_word(line) > MAX_WORD_CHARS:
                reason = _WORD_TOO_LONG
        if reason:
            return Limit(offset + start, reason)
        start = end + 1
    return None


def limit_notice(limit: Limit, rest: int) -> str:
    """The note that says the rest of the answer (`rest` characters) is plain text, and why."""
    return (
        '<p class="md-limit" role="note">The rest of this answer '
        f"({_size(rest)}) is shown as plain text: {limit.reason}.</p>"
    )


def split_plain(text: str) -> tuple[list[str], str]:
    """Plain text cut into finished pieces of at most PLAIN_PIECE_CHARS (at the last blank
    line within that, if there is one), and the piece still open. A piece is finished by
    the characters within it, so the pieces of a prefix are those of the whole text."""
    pieces = []
    start = 0
    while len(text) - start >= PLAIN_PIECE_CHARS:
        stop = start + PLAIN_PIECE_CHARS
        blank = text.rfind("\n\n", start, stop)
        end = stop if blank == -1 else blank + 2
        pieces.append(text[start:end])
        start = end
    return pieces, text[start:]


def plain_html(text: str) -> str:
    """`text` as plain paragraphs: escaped, its line breaks kept, its indentation too."""
    paragraphs = []
    for paragraph in _BLANK_LINES.split(text):
        lines = paragraph.strip("\n").split("\n")
        if any(line.strip() for line in lines):
            body = "<br>\n".join(_plain_line(line) for line in lines)
            paragraphs.append(f'<p class="md-plain">{body}</p>')
    return "\n".join(paragraphs)


def _plain_line(line: str) -> str:
    text = line.rstrip().lstrip(" \t")
    indent = len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(4))
    return "\xa0" * indent + html.escape(text, quote=False)


def _size(chars: int) -> str:
    if chars >= 1_000_000:
        return f"{chars / 1_000_000:.1f} MB".replace(".0 ", " ")
    if chars >= 10_000:
        return f"{round(chars / 1000)} KB"
    return f"{chars:,} characters"


_UNFORMATTED = (
    '<p class="md-limit" role="note">This part could not be formatted; '
    "it is shown as plain text.</p>\n"
)
_ANSWER_TOO_LONG = f"the answer is longer than {_size(MAX_ANSWER_CHARS)}"
_BLOCK_TOO_LONG = (
    f"a paragraph, list, table or code block in it is longer than {_size(MAX_BLOCK_CHARS)}"
)
_WORD_TOO_LONG = f"it has a word longer than {MAX_WORD_CHARS:,} characters"
_BLANK_LINES = re.compile(r"\n[ \t]*\n[ \t\n]*")

# --- Preprocessing: where Python-Markdown needs different markdown than GFM. ---


def _prepare(block: str) -> str:
    lines = block.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = _limit_nesting(_expand_indents(lines))
    return "\n".join(_Normalizer(lines).run())


def _limit_nesting(lines: list[str]) -> list[str]:
    """Lines (outside code fences) with more than MAX_NESTING quote or list markers at
    their start: the marker past the limit escaped, so that it and the rest are text."""
    out = []
    fence: Fence | None = None
    for line in lines:
        if fence is not None:
            if fence.is_closed_by(line):
                fence = None
        else:
            fence = opening_fence(line)
            if fence is None and not _is_thematic_break(line):
                line = _escape_marker(line, MAX_NESTING)
        out.append(line)
    return out


def _escape_marker(line: str, keep: int) -> str:
    """`line` with its container marker number `keep + 1` (if it has one) escaped."""
    position = 0
    for _ in range(keep):
        marker = _CONTAINER_MARKER.match(line, position)
        if marker is None:
            return line
        position = marker.end()
    marker = _CONTAINER_MARKER.match(line, position)
    if marker is None:
        return line
    # Before a `>` or a bullet, or before an ordinal's `.` or `)`.
    at = marker.end() - 1 if marker.group()[-1] in ".)" else marker.start("marker")
    return line[:at] + "\\" + line[at:]


def _expand_indents(lines: list[str]) -> list[str]:
    """Tabs in indentation expanded (to read the structure), never in text or fenced code."""
    out = []
    fence: Fence | None = None
    for line in lines:
        if fence is not None:
            if fence.is_closed_by(line):
                fence = None
                line = expand_indent(line)
            out.append(line)
            continue
        fence = opening_fence(line)
        out.append(expand_indent(line))
    return out


class _Item:
    """An open list item: where its marker starts and where its content starts."""

    def __init__(self, indent: int, content: int) -> None:
        self.indent = indent
        self.content = content


class _FenceShift:
    """An open code fence, moved from `old` to `new` indentation (in a list item), with
    every line of its code shifted alike."""

    def __init__(self, fence: Fence, old: int, new: int) -> None:
        self.fence = fence
        self.old = old
        self.new = new

    def shift(self, line: str) -> str:
        if not line.strip():
            return ""
        indent = len(line) - len(line.lstrip(" "))
        return " " * self.new + (line[self.old :] if indent >= self.old else line.lstrip(" "))


class _Normalizer:
    """Rewrites one block's lines (outside code fences) into what Python-Markdown reads as
    GitHub would read the original."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.out: list[str] = []
        self.items: list[_Item] = []
        self.fence: _FenceShift | None = None
        # What began the current run of lines between blank lines, which decides how
        # Python-Markdown reads a list item in it: ("item" | "text", depth).
        self.chunk: tuple[str, int] | None = None
        self.blank_needed = False
        self.in_table = False
        # Whether the lines since the last blank one began with a footnote definition.
        self.footnotes = False
        # In a tight list a fence may touch its item's text (the list stays tight, as on
        # GitHub); in a loose one, whose items are paragraphs, it must be a paragraph of
        # its own, or Python-Markdown puts the code inside the <p>.
        self.loose = _has_loose_list(lines)

    def run(self) -> list[str]:
        index = 0
        while index < len(self.lines):
            line = self.lines[index]
            index += 1
            if self.fence is not None:
                self._fence_line(line)
            elif not line.strip():
                self.out.append("")
                self.chunk = None
                self.blank_needed = self.in_table = self.footnotes = False
            elif not self.items and QUOTE_PREFIX.match(line):
                index = self._quote(index - 1)
            else:
                if self.blank_needed:
                    self._blank()
                    self.blank_needed = False
                marker = LIST_MARKER.match(line)
                if marker is not None and self._is_item(line) and not self._in_paragraph(marker):
                    if _depth(self.items, len(marker["indent"])) < MAX_NESTING:
                        self._item(marker)
                    else:
                        # Nested too deep: text in the deepest item, its marker escaped.
                        text = _escape_marker(line, 0).lstrip(" ")
                        self._content(" " * self.items[-1].content + text, index)
                else:
                    self._content(line, index)
        if self.fence is not None:
            # A fence still open where the block (or quote) ends runs to there (CommonMark).
            self.out.append(" " * self.fence.new + self.fence.fence.marker)
        return self.out

    def _blank(self) -> None:
        self.out.append("")
        self.chunk = None

    def _follows_text(self) -> bool:
        return bool(self.out) and bool(self.out[-1].strip())

    def _fence_line(self, line: str) -> None:
        assert self.fence is not None
        if not self.fence.fence.is_closed_by(line):
            self.out.append(self.fence.shift(line))
            return
        self.out.append(" " * self.fence.new + self.fence.fence.marker)
        self.blank_needed = self.loose or not self.fence.new
        self.fence = None

    def _quote(self, start: int) -> int:
        """Normalise a block quote's content the same way, one level down."""
        end = start
        while end < len(self.lines) and QUOTE_PREFIX.match(self.lines[end]):
            end += 1
        quoted = [_strip_quote(line) for line in self.lines[start:end]]
        if self.blank_needed or self.in_table:
            self._blank()
        self.blank_needed = self.in_table = False
        self.out.extend(("> " + line).rstrip() for line in _Normalizer(quoted).run())
        self.chunk = self.chunk or ("text", 0)
        return end

    def _in_paragraph(self, marker: re.Match[str]) -> bool:
        """Whether an ordered item not starting at 1 continues a paragraph: only `1.` may
        interrupt one (CommonMark §5.3), so `14.` after a line of text is text."""
        if self.items or self.in_table or not self._follows_text() or self.chunk is None:
            return False
        bullet = marker["bullet"]
        previous = self.out[-1]
        return (
            self.chunk[0] == "text"
            and bullet[0].isdigit()
            and int(bullet[:-1]) != 1
            and ATX_HEADING.fullmatch(previous) is None
            and not is_thematic_break(previous)
            and not previous.lstrip().startswith(("|", ">", "```", "~~~"))
        )

    def _is_item(self, line: str) -> bool:
        indent = len(line) - len(line.lstrip(" "))
        limit = self.items[-1].content + 3 if self.items else 3
        return indent <= limit and not _is_thematic_break(line)

    def _item(self, marker: re.Match[str]) -> None:
        indent = len(marker["indent"])
        depth = _depth(self.items, indent)
        chunk = self.chunk
        if self._follows_text() and (chunk is None or chunk[0] == "text" or chunk[1] > depth):
            # Python-Markdown starts a list (or a sibling item after a paragraph inside an
            # item) only after a blank line.
            self._blank()
        del self.items[depth:]
        self.items.append(_Item(indent, indent + len(marker["bullet"]) + len(marker["space"])))
        self.out.append(" " * (4 * depth) + marker["bullet"] + " " + marker["rest"])
        self.chunk = self.chunk or ("item", depth)
        self.in_table = False

    def _content(self, line: str, next_index: int) -> None:
        indent = len(line) - len(line.lstrip(" "))
        stripped = line.lstrip(" ")
        follows_text = self._follows_text()
        depth = _depth(self.items, indent)
        blank_before = False
        if self.items and not depth:
            if self.chunk is not None and not _starts_other_block(stripped):
                self.out.append(line)  # A lazy continuation line of the last item.
                return
            blank_before = follows_text  # A block that ends the list.
            self.items.clear()
        elif self.items and self.chunk is None:
            del self.items[depth:]
        opened = opening_fence(line)
        if opened is not None:
            # A fence touching a paragraph would stay inside its <p>.
            new_indent = 4 * depth if depth else indent
            self.fence = _FenceShift(opened, indent, new_indent)
            blank_before = follows_text and (self.loose or not depth)
        else:
            new_indent = indent
            if depth:
                new_indent = 4 * depth + max(0, indent - self.items[depth - 1].content)
            if self.in_table and "|" not in stripped:
                # GFM would make this a row; a model means a paragraph after the table.
                blank_before = True
                self.in_table = False
            elif _opens_table(stripped, self.lines, next_index):
                blank_before = blank_before or (follows_text and not self.in_table)
                self.in_table = True
            elif _is_thematic_break(stripped) and set(stripped.strip()) != {"-"}:
                # `***` after a paragraph is a rule; `---` would make it a heading.
                blank_before = blank_before or follows_text
            elif not depth:
                blank_before = self._separate(line, follows_text) or blank_before
        if blank_before and follows_text:
            self._blank()
        self.out.append(" " * new_indent + stripped)
        self.chunk = self.chunk or ("text", depth)

    def _separate(self, line: str, follows_text: bool) -> bool:
        """Whether a top-level line needs a blank line before it, and (`blank_needed`)
        after it, to be a block of its own for Python-Markdown, which reads the same.

        Python-Markdown takes a heading or footnote out of its block by copying the rest
        of the block: a block of thousands of them costs their number times its size.
        """
        if ATX_HEADING.fullmatch(line):
            self.blank_needed = True
            return True
        if follows_text and self.chunk == ("text", 0) and _SETEXT_UNDERLINE.fullmatch(line):
            self.blank_needed = True  # The paragraph above is a heading: it ends here.
            return False
        if _FOOTNOTE_START.match(line):
            # Only another footnote may end one; a paragraph it cannot interrupt.
            footnotes, self.footnotes = self.footnotes, True
            return footnotes
        return False


def _strip_quote(line: str) -> str:
    prefix = QUOTE_PREFIX.match(line)
    return line[prefix.end() :] if prefix else line


def _has_loose_list(lines: list[str]) -> bool:
    """Whether a blank line follows a list item (outside code fences) before more text.

    A table in a list item counts: it gets a blank line before it.
    """
    fence: Fence | None = None
    in_list = blank = False
    for index, line in enumerate(lines):
        if fence is not None:
            if fence.is_closed_by(line):
                fence = None
        elif not line.strip():
            blank = in_list
        elif blank or (in_list and _opens_table(line.lstrip(" "), lines, index + 1)):
            return True
        else:
            in_list = in_list or LIST_MARKER.match(line) is not None
            fence = opening_fence(line)
    return False


def _opens_table(stripped: str, lines: list[str], next_index: int) -> bool:
    """Whether a line is a table's header row: the next line is a separator row."""
    return (
        stripped.startswith("|")
        and next_index < len(lines)
        and is_table_separator(lines[next_index])
    )


def _depth(items: list[_Item], indent: int) -> int:
    """How many open items contain a line indented by `indent`.

    A line belongs to an item when indented at least 2 past the item's marker: lenient
    on purpose, since models nest `- a` under `1. x` by 2 spaces where CommonMark wants 3.
    """
    depth = 0
    for item in items:
        if indent < item.indent + 2:
            break
        depth += 1
    return depth


def _starts_other_block(stripped: str) -> bool:
    return stripped.startswith(("#", ">", "|", "```", "~~~")) or _is_thematic_break(stripped)


def _is_thematic_break(line: str) -> bool:
    return is_thematic_break(line.strip())


# --- The Markdown instance, built once: building it costs more than a render. ---


@lru_cache(maxsize=1)
def _markdown() -> markdown.Markdown:
    from pymdownx.betterem import BetterEmExtension
    from pymdownx.magiclink import MagiclinkExtension
    from pymdownx.superfences import SuperFencesCodeExtension
    from pymdownx.tasklist import TasklistExtension
    from pymdownx.tilde import DeleteSubExtension

    md = markdown.Markdown(
        output_format="html",
        extensions=[
            "tables",
            "sane_lists",
            SuperFencesCodeExtension(
                relaxed_headers=True,
                custom_fences=[
                    {
                        "name": "*",
                        "class": "highlight",
                        "format": _format_code,
                        "validator": _accept_fence,
                    }
                ],
            ),
            BetterEmExtension(),
            DeleteSubExtension(subscript=False),
            TasklistExtension(),
            MagiclinkExtension(),
            ConformanceExtension(),
            InlineExtension(),
            MathExtension(),
        ],
        extension_configs={"tables": {"use_align_attribute": True}},
    )
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.inlinePatterns.register(_BackslashBreak(r"\\\n", md), "backslash_break", 185)
    md.treeprocessors.register(_CitationLinker(md), "citations", 15)
    md.treeprocessors.register(_SafeTree(md), "safe_tree", -100)
    return md


def _accept_fence(
    language: str, inputs: dict[str, str], options: dict[str, str], attrs: dict[str, str], md: Any
) -> bool:
    """Accept any fence header; its options and attributes are ignored."""
    return True


def _format_code(
    src: str, language: str | None, class_name: str, options: Any, md: Any, **kwargs: Any
) -> str:
    label = html.escape(language or "text", quote=True)
    if _Code.highlight:
        code = colour_code(src, label.lower())
    else:
        code = html.escape(src, quote=False)
        _Code.left.append((src, label.lower()))
    return (
        f'<div class="code-block" data-lang="{label}"><div class="code-header">'
        f'<span class="code-lang">{label}</span>'
        '<button type="button" class="copy-code" data-action="copy-code" '
        'aria-label="Copy code">Copy</button></div>'
        # Focusable, so that a keyboard can scroll a long line sideways (WCAG 2.1.1).
        f'<div class="highlight"><pre tabindex="0">{code}</pre></div></div>'
    )


class _Code:
    """Whether the render in progress colours its code (see `render_parts`), and the code
    it left uncoloured."""

    highlight = True
    left: ClassVar[list[Code]] = []


class _BackslashBreak(InlineProcessor):  # type: ignore[misc]
    """A backslash at the end of a line is a hard line break (CommonMark)."""

    def handleMatch(self, m: re.Match[str], data: str) -> tuple[etree.Element, int, int]:
        return etree.Element("br"), m.start(0), m.end(0)


class _CitationLinker(Treeprocessor):  # type: ignore[misc]
    """Turn known `[n]` markers in text (not in code or links) into citation links."""

    citations: Mapping[str, str] = {}

    def run(self, root: etree.Element) -> None:
        if self.citations:
            self._link(root)

    def _link(self, element: etree.Element) -> None:
        """Link the markers in `element`'s text and its children's (not theirs if in
        `_NO_CITATIONS_IN`): its children rebuilt once, in time linear in their number."""
        if element.tag in _NO_CITATIONS_IN:
            return
        children: list[etree.Element] = []
        if element.text:
            element.text = self._split(element.text, children)
        for child in list(element):
            self._link(child)
            children.append(child)
            if child.tail:
                child.tail = self._split(child.tail, children)
        element[:] = children

    def _split(self, text: str, out: list[etree.Element]) -> str:
        """Append a link to `out` for each marker in `text`; return the text before them."""
        head_end = None
        position = 0
        for match in _CITATION_MARKER.finditer(text):
            ids = [part.strip() for part in match.group(1).split(",")]
            if not all(ref in self.citations for ref in ids):
                continue
            if head_end is None:
                head_end = match.start()
            else:
                out[-1].tail = text[position : match.start()]
            out += (self._sup(ref) for ref in ids)
            position = match.end()
        if head_end is None:
            return text
        out[-1].tail = text[position:]
        return text[:head_end]

    def _sup(self, ref: str) -> etree.Element:
        sup = etree.Element("sup", {"class": "citation-ref"})
        link = etree.SubElement(sup, "a", {"href": self.citations[ref], "data-ref": ref})
        link.text = f"[{ref}]"
        return sup


class _SafeTree(Treeprocessor):  # type: ignore[misc]
    """Allow-list tags, attributes and URLs in the tree, just before serialisation."""

    def run(self, root: etree.Element) -> None:
        self._clean_children(root)

    def _clean_children(self, parent: etree.Element, in_link: bool = False) -> None:
        """Clean `parent`'s children: a link or image that may not stay is replaced by its
        text (and a link's children); the children are rebuilt once, in linear time."""
        kept: list[etree.Element] = []
        gap = [parent.text or ""]  # the text since the last kept child
        todo: list[etree.Element | str] = list(reversed(parent))
        while todo:
            child = todo.pop()
            if isinstance(child, str):
                gap.append(child)
                continue
            replacement = self._clean(parent, child, in_link)
            if replacement is not None:
                text, grandchildren = replacement
                gap.append(text)
                todo.append(child.tail or "")
                todo += reversed(grandchildren)
                continue
            self._end_gap(parent, kept, gap)
            kept.append(child)
            gap = [child.tail or ""]
            self._clean_children(child, in_link or child.tag == "a")
        self._end_gap(parent, kept, gap)
        parent[:] = kept

    @staticmethod
    def _end_gap(parent: etree.Element, kept: list[etree.Element], gap: list[str]) -> None:
        text = "".join(gap) or None
        if kept:
            kept[-1].tail = text
        else:
            parent.text = text

    def _clean(
        self, parent: etree.Element, child: etree.Element, in_link: bool
    ) -> tuple[str, list[etree.Element]] | None:
        """Clean `child` in place; or what replaces it: its text and children."""
        if child.tag in MATH_TAGS and (child.tag == "math" or parent.tag in MATH_TAGS):
            allowed = MATH_ATTRIBUTES
        else:
            allowed = _ALLOWED_ATTRIBUTES
            if child.tag not in _ALLOWED_TAGS:
                child.tag = "span"
        for name in list(child.attrib):
            value = child.attrib[name]
            bad_id = name == "id" and not _FOOTNOTE_ID.fullmatch(value)
            if name not in allowed or _has_placeholder(value) or bad_id:
                del child.attrib[name]
        if child.tag == "a" and (in_link or not self._link_is_safe(child)):
            # A link inside a link (`[see <https://x>](https://y)`) is its text: HTML
            # has no nested links.
            return child.text or "", list(child)
        if child.tag == "img":
            src = child.get("src", "")
            if not is_allowed_url(src):
                return child.get("alt", ""), []
            if not _image_allowed(src):
                label = _image_link_label(child.get("alt", ""), src)
                if in_link:
                    return label, []
                _to_image_link(child, src, label)
        return None

    @staticmethod
    def _link_is_safe(link: etree.Element) -> bool:
        href = link.get("href", "")
        if not is_allowed_url(href):
            return False
        if _as_browser_reads(href).startswith("#"):
            link.attrib.pop("target", None)
            link.attrib.pop("rel", None)
        else:
            link.set("target", "_blank")
            link.set("rel", "noopener noreferrer nofollow")
        return True


def _image_link_label(alt: str, src: str) -> str:
    try:
        host = urlsplit(_as_browser_reads(src).replace("\\", "/")).hostname or ""
    except ValueError:  # Not a URL Python can split (`https://[x`): no host to show.
        host = ""
    label = f"Image: {alt}" if alt.strip() else "Image"
    return f"{label} ({host})" if host else label


def _to_image_link(image: etree.Element, src: str, label: str) -> None:
    """Make `image` (from an origin not allowed) a link to it: nothing is fetched unless
    the reader follows it."""
    image.tag = "a"
    image.attrib.clear()
    image.set("href", src)
    image.set("class", "md-image-link")
    image.set("title", "Opens the image; images from other sites are not loaded here")
    image.text = label
    _SafeTree._link_is_safe(image)


def _has_placeholder(value: str) -> bool:
    """Whether an attribute holds one of Python-Markdown's stash placeholders.

    Those are replaced by raw HTML after serialisation, so none may reach an attribute.
    """
    value = value.replace(AMP_SUBSTITUTE, "")
    return "\x02" in value or "\x03" in value


# A quote or list marker at the start of a line (after those before it).
_SETEXT_UNDERLINE = re.compile(r" {0,3}(?:=+|-+)[ \t]*")
_FOOTNOTE_START = re.compile(r" {0,3}\[\^[^\]\s]+\]:")
_CONTAINER_MARKER = re.compile(r"[ \t]*(?P<marker>>|(?:[-*+]|\d{1,9}[.)])(?=[ \t]))")
_ORIGIN = re.compile(r"https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
_AFTER_ORIGIN = frozenset({"", "/", "?", "#"})
_ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# What the URL parser strips or skips: C0 controls, space, DEL.
_IGNORED_URL_CHARS = re.compile(r"[\x00-\x20\x7f]+")
# Every tag and attribute that our markdown configuration produces; nothing else.
_ALLOWED_TAGS = frozenset(
    {
        *("p", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "br", "blockquote", "pre", "code"),
        *("ul", "ol", "li", "input", "em", "strong", "del", "a", "img", "sup", "span", "div"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    }
)
_ALLOWED_ATTRIBUTES = frozenset(
    {
        *("href", "src", "alt", "title", "target", "rel", "class", "data-ref"),
        *("align", "start", "type", "disabled", "checked", "id"),
    }
)
# Footnotes are the only elements with an id (streamchat.md_extensions.footnote_id).
_FOOTNOTE_ID = re.compile(r"fn-[A-Za-z0-9_-]+")
_NO_CITATIONS_IN = frozenset({"code", "pre", "a", "math"})
_CITATION_MARKER = re.compile(r"\[([\w.-]{1,32}(?:\s*,\s*[\w.-]{1,32})*)\]")
