"""Python-Markdown extended where it deviates from CommonMark and GFM, through its own API.

Each class replaces or adds one processor; `ConformanceExtension` registers them all:

- `Whitespace` (preprocessor, replaces `normalize_whitespace`): tabs are expanded only in a
  line's indentation, never inside its text nor anywhere in fenced code (a Makefile keeps
  its tabs).
- `AtxHeading` (block, replaces `hashheader`): `#` then a space; `#AI #ML` is a paragraph
  and `## Getting started with C#` keeps its `#`.
- `SetextHeading` (block, replaces `setextheader`): the underline makes a heading of the
  whole paragraph above it, and never of a quote or list item (`> quote` then `---` is a
  quote and a rule).
- `LinkDefinitions` (block, replaces `reference`): CommonMark's link reference
  definitions, only where a paragraph could start; the first definition of a label wins.
- `FootnoteDefinition` (block) and `FootnoteReference` (inline): GFM footnotes `[^1]`.
- `References`: the definitions of a render, looked up by CommonMark's label matching; it
  records the labels looked up and not found, so that a block can be rendered again once
  a later block defines them (`streamchat.render`).
- `GfmTable` (block, replaces `table`): `\\|` is a pipe in a cell, also in a code span;
  a table without body rows has none.
- `OrderedList`, `BulletList` (block, replace sane_lists' `olist` / `ulist`): at most 9
  digits, `.` or `)`, the start as a number (`003.` starts at 3); another bullet or
  delimiter starts another list.
- `CodeSpan` (inline, replaces `backtick`): a run of backticks closes only with one as
  long; otherwise it is text.
- `Unescape` (tree, replaces `unescape`): an escaped `&` stays `&amp;` (`\\&ouml;` is text).
- every ASCII punctuation character can be backslash-escaped.

Links, images and autolinks are in `streamchat.md_inline`.
"""

from __future__ import annotations

import html
import re
import string
import xml.etree.ElementTree as etree
import zlib
from collections.abc import Iterator

from markdown import Markdown
from markdown.blockparser import BlockParser
from markdown.blockprocessors import BlockProcessor, SetextHeaderProcessor
from markdown.extensions import Extension
from markdown.extensions.sane_lists import SaneOListProcessor, SaneUListProcessor
from markdown.extensions.tables import TableProcessor
from markdown.inlinepatterns import (
    BACKTICK_RE,
    BacktickInlineProcessor,
    InlineProcessor,
    SubstituteTagInlineProcessor,
)
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import UnescapeTreeprocessor
from markdown.util import ETX, STX, AtomicString, code_escape

from streamchat.md_syntax import (
    ATX_HEADING,
    LIST_MARKER,
    MAX_DEFINITIONS,
    MAX_NESTING,
    QUOTE_PREFIX,
    is_thematic_break,
    opening_fence,
)

__all__ = ["ConformanceExtension", "References", "footnote_id", "normalize_label"]

Definition = tuple[str, str | None]


def normalize_label(label: str) -> str:
    """CommonMark's label matching: case-folded, inner whitespace collapsed."""
    return " ".join(label.split()).casefold()


def footnote_id(label: str, text: str = "") -> str:
    """The element id of a footnote: `fn-`, the label's letters, digits, `-` and `_`, and a
    checksum of the footnote's text, so that two answers on one page that both have a
    `[^1]` do not share an id (each answer's `[^1]` links to its own note)."""
    checksum = f"-{zlib.crc32(text.encode()):08x}" if text else ""
    return "fn-" + re.sub(r"[^A-Za-z0-9_-]+", "-", label) + checksum


class References(dict[str, Definition]):
    """Link definitions by normalised label (footnotes under `^label`), recording misses."""

    def __init__(self) -> None:
        super().__init__()
        self.missing: set[str] = set()

    def __contains__(self, key: object) -> bool:
        label = normalize_label(str(key))
        found = super().__contains__(label)
        if not found and label:
            self.missing.add(label)
        return found

    def __getitem__(self, key: str) -> Definition:
        return super().__getitem__(normalize_label(key))

    def define(self, label: str, definition: Definition) -> None:
        """Add a definition unless the label has one: the first definition wins. Past
        MAX_DEFINITIONS in an answer, definitions are ignored: every block's render
        copies them all."""
        label = normalize_label(label)
        if label and not super().__contains__(label) and len(self) < MAX_DEFINITIONS:
            self[label] = definition

    def clear(self) -> None:
        super().clear()
        self.missing.clear()


class ConformanceExtension(Extension):  # type: ignore[misc]
    def extendMarkdown(self, md: Markdown) -> None:
        md.registerExtension(self)
        md.references = References()
        md.ESCAPED_CHARS = list(string.punctuation)
        md.preprocessors.register(Whitespace(md), "normalize_whitespace", 30)
        parser = md.parser
        parser.blockprocessors.register(AtxHeading(parser), "hashheader", 70)
        parser.blockprocessors.register(SetextHeading(parser), "setextheader", 60)
        parser.blockprocessors.register(FootnoteDefinition(parser), "footnote", 16)
        parser.blockprocessors.register(LinkDefinitions(parser), "reference", 15)
        parser.blockprocessors.register(OrderedList(parser), "olist", 40)
        parser.blockprocessors.register(BulletList(parser), "ulist", 30)
        if "table" in parser.blockprocessors:
            table = parser.blockprocessors["table"]
            parser.blockprocessors.register(GfmTable(parser, table.config), "table", 75)
        md.inlinePatterns.register(FootnoteReference(md), "footnote_ref", 175)
        md.inlinePatterns.register(CodeSpan(BACKTICK_RE), "backtick", 190)
        md.treeprocessors.register(Unescape(md), "unescape", 0)
        # Two or more spaces before a line end: a hard break, the spaces gone.
        md.inlinePatterns.register(SubstituteTagInlineProcessor(r" {2,}\n", "br"), "linebreak", 100)

    def reset(self) -> None:
        pass


class Whitespace(Preprocessor):  # type: ignore[misc]
    """Python-Markdown's whitespace normalisation, keeping tabs that are content."""

    def run(self, lines: list[str]) -> list[str]:
        source = "\n".join(lines).replace(STX, "").replace(ETX, "")
        source = source.replace("\r\n", "\n").replace("\r", "\n")
        out: list[str] = []
        fence = None
        for line in source.split("\n"):
            if fence is not None:
                if fence.is_closed_by(line):
                    fence = None
                    line = expand_indent(line)
                out.append(line)
                continue
            fence = opening_fence(line)
            line = expand_indent(line)
            out.append("" if not line.strip(" ") else line)
        return [*out, "", ""]


def expand_indent(line: str) -> str:
    """`line` with the tabs of its indentation and container markers (`>`, list markers)
    expanded to tab stops of 4 columns; tabs in its text stay."""
    prefix = _CONTAINER_PREFIX.match(line)
    assert prefix is not None
    if "\t" not in prefix.group():
        return line
    return prefix.group().expandtabs(4) + line[prefix.end() :]


class AtxHeading(BlockProcessor):  # type: ignore[misc]
    def test(self, parent: etree.Element, block: str) -> bool:
        return self._find(block) is not None

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        block = blocks.pop(0)
        found = self._find(block)
        assert found is not None
        start, end, level, text = found
        before, after = block[:start].rstrip("\n"), block[end:].lstrip("\n")
        if before:
            self.parser.parseBlocks(parent, [before])
        heading = etree.SubElement(parent, f"h{level}")
        heading.text = text
        if after:
            blocks.insert(0, after)

    @staticmethod
    def _find(block: str) -> tuple[int, int, int, str] | None:
        position = 0
        for line in block.split("\n"):
            match = ATX_HEADING.fullmatch(line)
            if match is not None:
                text = (match["text"] or "").strip()
                return position, position + len(line), len(match["level"]), text
            if line.startswith("    ") and position == 0:
                return None  # Indented code.
            position += len(line) + 1
        return None


class SetextHeading(SetextHeaderProcessor):  # type: ignore[misc]
    def test(self, parent: etree.Element, block: str) -> bool:
        return self._find(block) is not None

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        block = blocks.pop(0)
        found = self._find(block)
        assert found is not None
        lines, level = found
        heading = etree.SubElement(parent, f"h{level}")
        heading.text = "\n".join(line.strip() for line in lines[:-1])
        rest = block.split("\n")[len(lines) :]
        if rest:
            blocks.insert(0, "\n".join(rest))

    @staticmethod
    def _find(block: str) -> tuple[list[str], int] | None:
        """The paragraph lines and underline that start `block`, with the level."""
        lines = block.split("\n")
        first = lines[0]
        if (
            first.startswith("    ")
            or QUOTE_PREFIX.match(first)
            or LIST_MARKER.match(first)
            or ATX_HEADING.fullmatch(first)
            or opening_fence(first)
            or is_thematic_break(first)
        ):
            return None
        for index, line in enumerate(lines[1:], 1):
            underline = _SETEXT_UNDERLINE.fullmatch(line)
            if underline is not None:
                return lines[: index + 1], 1 if underline[1].startswith("=") else 2
            if _interrupts_paragraph(line):
                return None
        return None


def _interrupts_paragraph(line: str) -> bool:
    return bool(
        QUOTE_PREFIX.match(line)
        or ATX_HEADING.fullmatch(line)
        or opening_fence(line)
        or is_thematic_break(line)
        or _BULLET_INTERRUPTS.match(line)
    )


class LinkDefinitions(BlockProcessor):  # type: ignore[misc]
    """Link reference definitions at the start of a block (CommonMark §4.7)."""

    def test(self, parent: etree.Element, block: str) -> bool:
        return block.lstrip(" ").startswith("[")

    def run(self, parent: etree.Element, blocks: list[str]) -> bool:
        block = blocks[0]
        position = 0
        references: References = self.parser.md.references
        for label, destination, title, end in _definitions(block):
            references.define(label, (destination, title))
            position = end
        if not position:
            return False
        blocks.pop(0)
        rest = block[position:].lstrip("\n")
        if rest.strip():
            blocks.insert(0, rest)
        return True


def _definitions(block: str) -> Iterator[tuple[str, str, str | None, int]]:
    position = 0
    while (found := parse_definition(block, position)) is not None:
        yield found
        position = found[3]


def parse_definition(text: str, start: int) -> tuple[str, str, str | None, int] | None:
    """The link reference definition at `start`: label, destination, title, end (after
    its line), or None."""
    opening = _DEFINITION_LABEL.match(text, start)
    if opening is None or not opening["label"].strip():
        return None
    position = _skip_space(text, opening.end(), newline=True)
    destination, position = _destination(text, position)
    if destination is None:
        return None
    line_end = _line_end(text, position)
    title: str | None = None
    title_start = _skip_space(text, position, newline=True)
    if title_start > position and title_start < len(text):
        title_match = _TITLE.match(text, title_start)
        if title_match is not None and "\n\n" not in title_match.group():
            end = _line_end(text, title_match.end())
            if end is not None:
                return (
                    opening["label"],
                    destination,
                    _unescape(title_match.group()[1:-1]),
                    end,
                )
    if line_end is None:
        return None
    return opening["label"], destination, title, line_end


def _skip_space(text: str, position: int, *, newline: bool) -> int:
    while position < len(text) and text[position] in " \t":
        position += 1
    if newline and position < len(text) and text[position] == "\n":
        position += 1
        while position < len(text) and text[position] in " \t":
            position += 1
    return position


def _line_end(text: str, position: int) -> int | None:
    """The position after the line's end if only spaces remain on it, else None."""
    while position < len(text) and text[position] in " \t":
        position += 1
    if position == len(text):
        return position
    return position + 1 if text[position] == "\n" else None


def _destination(text: str, position: int) -> tuple[str | None, int]:
    if position < len(text) and text[position] == "<":
        match = _ANGLE_DESTINATION.match(text, position)
        if match is None:
            return None, position
        return _unescape(match.group()[1:-1]), match.end()
    depth = 0
    end = position
    while end < len(text):
        char = text[end]
        if char == "\\" and end + 1 < len(text) and text[end + 1] in string.punctuation:
            end += 2
            continue
        if char <= " " or char == "\x7f":
            break
        if char == "(":
            depth += 1
        elif char == ")":
            if not depth:
                break
            depth -= 1
        end += 1
    if end == position or depth:
        return None, position
    return _unescape(text[position:end]), end


def _unescape(text: str) -> str:
    """Backslash escapes and entity references resolved, as in a link's destination."""
    return _ESCAPE_OR_ENTITY.sub(
        lambda m: m[1] if m[1] is not None else html.unescape(m.group()), text
    )


class FootnoteDefinition(BlockProcessor):  # type: ignore[misc]
    """`[^label]: text`, with lines after it and indented paragraphs, as a footnote.

    A footnote in a footnote (`[^a]: [^b]: …`) is parsed inside it, by recursion: past
    MAX_NESTING of them, the rest is text.
    """

    _depth = 0

    def test(self, parent: etree.Element, block: str) -> bool:
        return self._depth < MAX_NESTING and _FOOTNOTE_DEFINITION.match(block) is not None

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        block = blocks.pop(0)
        match = _FOOTNOTE_DEFINITION.match(block)
        assert match is not None
        label = match["label"]
        lines = block[match.end() :].split("\n")
        # Another definition on a later line starts another footnote.
        for index, line in enumerate(lines[1:], 1):
            if _FOOTNOTE_DEFINITION.match(line):
                blocks.insert(0, "\n".join(lines[index:]))
                lines = lines[:index]
                break
        content = ["\n".join(lines)]
        while blocks and blocks[0].startswith("    "):
            content.append("\n".join(line[4:] for line in blocks.pop(0).split("\n")))
        references: References = self.parser.md.references
        key = "^" + label
        text = "\n\n".join(content)
        if key not in references:
            number = sum(1 for known in dict.keys(references) if known.startswith("^")) + 1
            references.define(key, (str(number), footnote_id(label, text)))
        number_text, note_id = references[key]
        note = etree.SubElement(
            parent, "div", {"class": "footnote", "id": note_id or footnote_id(label)}
        )
        self._depth += 1
        try:
            self.parser.parseChunk(note, text)
        finally:
            self._depth -= 1
        marker = etree.Element("sup", {"class": "footnote-number"})
        marker.text = number_text
        first = note[0] if len(note) and note[0].tag == "p" else note
        marker.tail = " " + (first.text or "")
        first.text = ""
        first.insert(0, marker)


class FootnoteReference(InlineProcessor):  # type: ignore[misc]
    """`[^label]` as a link to its footnote, once the footnote is defined."""

    def __init__(self, md: Markdown) -> None:
        super().__init__(r"\[\^(?P<label>[^\]\s]+)\]", md)

    def handleMatch(
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | None, int | None, int | None]:
        key = "^" + m["label"]
        if key not in self.md.references:
            return None, None, None
        number_text, note_id = self.md.references[key]
        sup = etree.Element("sup", {"class": "footnote-ref"})
        link = etree.SubElement(sup, "a", {"href": "#" + (note_id or footnote_id(m["label"]))})
        link.text = number_text
        return sup, m.start(0), m.end(0)


class CodeSpan(BacktickInlineProcessor):  # type: ignore[misc]
    """Code spans strip one space from each end only when both have one, and close only
    with a run of as many backticks as opened them; otherwise the run is text (CommonMark)."""

    def find_code_spans(self, start: int, text: str) -> tuple[int, int | None]:
        run_end = start
        while run_end < len(text) and text[run_end] == "`":
            run_end += 1
        ticks = run_end - start
        index = run_end
        while (index := text.find("`", index)) != -1:
            close_end = index
            while close_end < len(text) and text[close_end] == "`":
                close_end += 1
            if close_end - index == ticks:
                return run_end, index
            index = close_end
        return run_end, None

    def handleMatch(
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | str | None, int | None, int | None]:
        if m.group(1):
            return m.group(1).replace("\\\\", self.ESCAPED_BSLASH), m.start(0), m.end(0)
        begin = m.start(0)
        start, end = self.find_code_spans(begin, data)
        if end is None:
            return None, begin, start
        content = data[start:end].replace("\n", " ")
        if len(content) > 1 and content[0] == content[-1] == " " and content.strip(" "):
            content = content[1:-1]
        code = etree.Element("code")
        code.text = AtomicString(code_escape(content))
        return code, begin, end + (start - begin)


class _ListKind:
    """CommonMark list items: at most 9 digits, `.` or `)`, the start number as a number;
    an item of another kind (`+` after `-`, `1)` after `1.`) starts another list.

    The kind of a list is kept on its element until `streamchat.render`'s sanitiser drops the
    attribute, so that a list after a blank line joins the list before it only if it is
    of the same kind.
    """

    KIND_ATTRIBUTE = "data-list-kind"
    TAG: str
    CHILD_RE: re.Pattern[str]
    STARTSWITH: str
    _parent: etree.Element | None = None
    _kind = ""

    def _compile(self, marker: str) -> None:
        self.RE = re.compile(rf"^[ ]{{0,3}}{marker}[ ]+(.*)")
        self.CHILD_RE = re.compile(rf"^[ ]{{0,3}}(({marker}))[ ]+(.*)")
        self.INDENT_RE = re.compile(r"^[ ]{4,7}((\d{1,9}[.)])|[*+-])[ ]+.*")

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        lines = blocks[0].split("\n")
        kind = _item_kind(lines[0])
        for index, line in enumerate(lines[1:], 1):
            match = self.CHILD_RE.match(line)
            if match is not None and _item_kind(line) != kind:
                blocks[0:1] = ["\n".join(lines[:index]), "\n".join(lines[index:])]
                break
        # A list nested in an item is parsed by this same processor, inside `super().run`:
        # the outer list's parent and kind are put back when it is done, or the outer list
        # would take the nested one's kind (and the next item start a new list).
        outer = self._parent, self._kind
        self._parent, self._kind = parent, kind
        try:
            super().run(parent, blocks)  # type: ignore[misc]
        finally:
            self._parent, self._kind = outer
        if len(parent) and parent[-1].tag == self.TAG:
            parent[-1].set(self.KIND_ATTRIBUTE, kind)

    def lastChild(self, parent: etree.Element) -> etree.Element | None:
        child = parent[-1] if len(parent) else None
        if (
            parent is self._parent
            and child is not None
            and child.get(self.KIND_ATTRIBUTE, self._kind) != self._kind
        ):
            return None  # A list of another kind: this one is a new list.
        return child

    def get_items(self, block: str) -> list[str]:
        items: list[str] = super().get_items(block)  # type: ignore[misc]
        if self.TAG == "ol":
            self.STARTSWITH = str(int(self.STARTSWITH))
        return items


def _item_kind(line: str) -> str:
    marker = line.lstrip(" ")[:11]
    return marker[0] if marker[0] in "-*+" else marker.lstrip("0123456789")[:1]


class OrderedList(_ListKind, SaneOListProcessor):  # type: ignore[misc]
    def __init__(self, parser: BlockParser) -> None:
        super().__init__(parser)
        self._compile(r"\d{1,9}[.)]")


class BulletList(_ListKind, SaneUListProcessor):  # type: ignore[misc]
    def __init__(self, parser: BlockParser) -> None:
        super().__init__(parser)
        self._compile(r"[*+-]")


class Unescape(UnescapeTreeprocessor):  # type: ignore[misc]
    """Escaped characters restored; an escaped `&` as `&amp;`, so that `\\&ouml;` stays
    text rather than becoming an entity when serialised."""

    def _unescape(self, m: re.Match[str]) -> str:
        char = chr(int(m.group(1)))
        return "&amp;" if char == "&" else char


class GfmTable(TableProcessor):  # type: ignore[misc]
    """GFM tables: an escaped pipe is a pipe in the cell, also inside a code span."""

    def _split_row(self, row: str) -> list[str]:
        cells: list[str] = super()._split_row(row)
        return [cell.replace("\\|", "|") for cell in cells]

    def _build_empty_row(self, parent: etree.Element, align: object) -> None:
        """A table with no body rows has no body rows (GFM), not one empty row."""


_CONTAINER_PREFIX = re.compile(r"(?:[ \t]*(?:>|(?:[-*+]|\d{1,9}[.)])(?=[ \t])))*[ \t]*")
_SETEXT_UNDERLINE = re.compile(r" {0,3}(=+|-+)[ \t]*")
# Only a bullet with content, or `1.`, interrupts a paragraph (CommonMark §5.2).
_BULLET_INTERRUPTS = re.compile(r" {0,3}(?:[-*+]|1[.)])[ \t]+\S")
_DEFINITION_LABEL = re.compile(r" {0,3}\[(?P<label>(?:[^\\\[\]]|\\.){1,999})\]:")
_ANGLE_DESTINATION = re.compile(r"<(?:[^<>\\\n]|\\.)*>")
_TITLE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\((?:[^()\\]|\\.)*\)', re.DOTALL)
_ESCAPE_OR_ENTITY = re.compile(
    r"\\([!-/:-@\[-`{-~])|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
)
_FOOTNOTE_DEFINITION = re.compile(r" {0,3}\[\^(?P<label>[^\]\s]+)\]:[ \t]*")
