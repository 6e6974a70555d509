"""Python-Markdown's inline patterns, replaced where they deviate from CommonMark and GFM.

`InlineExtension` registers them all (after the extensions they replace parts of):

- `Link` / `Image` (replace `link` / `image_link`): an inline link's destination and
  title follow CommonMark (no spaces in a bare destination, balanced parentheses, a title
  only after whitespace, nothing else before the `)`); otherwise it is no link, and a
  `[text]` defined as a reference may still be one (`[foo](not a link)`).
- `Reference` (and its short and image forms): `[text][label]` with nothing between the
  brackets (`[foo] [bar]` is two), labels matched with their backslash escapes, and an
  undefined `[a][b]` leaves `[b]` free to start a link (`[a][b][c]`).
- An image's alt text is the plain text of its description (`![*foo* bar]` → `foo bar`).
- `Autolink` / `EmailAutolink` (replace magiclink's `autolink` and `automail`):
  CommonMark's `<scheme:…>` and `<local@domain>`, taken before backslash escapes and
  links (an autolink binds tighter than a link's brackets); the href percent-encoded as
  CommonMark renderers do. The page's URL allow-list still decides what stays a link.
- `SchemeMail` (before magiclink's bare e-mail): `mailto:a@b.c` is one link, and
  `xmpp:a@b.c/res` is text (the page links no `xmpp:`), as GFM's extended autolinks.
- `TildeRun`: a run of three or more `~` is text (`~~~not~~~` is no strikethrough).
"""

from __future__ import annotations

import re
import string
import xml.etree.ElementTree as etree
from functools import lru_cache

from markdown import Markdown
from markdown.extensions import Extension
from markdown.inlinepatterns import (
    IMAGE_LINK_RE,
    IMAGE_REFERENCE_RE,
    LINK_RE,
    REFERENCE_RE,
    ImageInlineProcessor,
    ImageReferenceInlineProcessor,
    InlineProcessor,
    LinkInlineProcessor,
    ReferenceInlineProcessor,
    ShortImageReferenceInlineProcessor,
    ShortReferenceInlineProcessor,
)
from markdown.util import ETX, INLINE_PLACEHOLDER_RE, STX, AtomicString

__all__ = ["InlineExtension", "normalize_uri"]


class InlineExtension(Extension):  # type: ignore[misc]
    def extendMarkdown(self, md: Markdown) -> None:
        md.registerExtension(self)
        patterns = md.inlinePatterns
        patterns.register(Autolink(_AUTOLINK, md), "autolink", 183)
        patterns.register(EmailAutolink(_EMAIL_AUTOLINK, md), "automail", 182)
        patterns.register(Reference(REFERENCE_RE, md), "reference", 170)
        patterns.register(Link(LINK_RE, md), "link", 160)
        patterns.register(Image(IMAGE_LINK_RE, md), "image_link", 150)
        patterns.register(ImageReference(IMAGE_REFERENCE_RE, md), "image_reference", 140)
        patterns.register(ShortReference(REFERENCE_RE, md), "short_reference", 130)
        patterns.register(ShortImageReference(IMAGE_REFERENCE_RE, md), "short_image_ref", 125)
        patterns.register(SchemeMail(_SCHEME_MAIL, md), "scheme_mail", 86)
        patterns.register(TildeRun(r"~{3,}", md), "tilde_run", 61)

    def reset(self) -> None:
        pass


def normalize_uri(uri: str) -> str:
    """`uri` percent-encoded as CommonMark renderers do (existing `%XX` kept)."""
    return "".join(
        part if _PERCENT.fullmatch(part) else _quote(part) for part in _PERCENT_SPLIT.split(uri)
    )


def _quote(text: str) -> str:
    return "".join(
        char if char in _URI_SAFE else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in text
    )


class Autolink(InlineProcessor):  # type: ignore[misc]
    """`<scheme:…>` (CommonMark §6.5): the text as written, the href percent-encoded."""

    def handleMatch(self, m: re.Match[str], data: str) -> tuple[etree.Element, int, int]:
        link = etree.Element("a", {"href": normalize_uri(m["uri"])})
        link.text = AtomicString(m["uri"])
        return link, m.start(0), m.end(0)


class EmailAutolink(InlineProcessor):  # type: ignore[misc]
    """`<local@domain>` (CommonMark §6.5) as a `mailto:` link."""

    def handleMatch(self, m: re.Match[str], data: str) -> tuple[etree.Element, int, int]:
        link = etree.Element("a", {"href": "mailto:" + normalize_uri(m["email"])})
        link.text = AtomicString(m["email"])
        return link, m.start(0), m.end(0)


class SchemeMail(InlineProcessor):  # type: ignore[misc]
    """`mailto:a@b.c` as one link; `xmpp:a@b.c` (with its resource) as plain text."""

    def handleMatch(
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | str | None, int | None, int | None]:
        if m["address"][-1] in "-_":
            return None, None, None  # GFM: such an address is no link.
        if m["scheme"].lower() == "xmpp":
            return AtomicString(m.group(0)), m.start(0), m.end(0)
        end = m.end("address")
        link = etree.Element("a", {"href": data[m.start(0) : end]})
        link.text = AtomicString(data[m.start(0) : end])
        return link, m.start(0), end


class TildeRun(InlineProcessor):  # type: ignore[misc]
    """Three or more tildes are text: neither GFM strikethrough opens nor closes with them."""

    def handleMatch(self, m: re.Match[str], data: str) -> tuple[str, int, int]:
        return AtomicString(m.group(0)), m.start(0), m.end(0)


class _CommonMarkLink(LinkInlineProcessor):  # type: ignore[misc]
    def getLink(self, data: str, index: int) -> tuple[str, str | None, int, bool]:
        parsed = parse_inline_destination(data, index)
        if parsed is None:
            return "", None, index, False
        href, title, end = parsed
        href = self.unescape(href)
        return href, None if title is None else self.unescape(title), end, True


class Link(_CommonMarkLink):
    pass


class Image(_CommonMarkLink, ImageInlineProcessor):  # type: ignore[misc]
    def handleMatch(
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | None, int | None, int | None]:
        text, index, handled = self.getText(data, m.end(0))
        if not handled:
            return None, None, None
        src, title, index, handled = self.getLink(data, index)
        if not handled:
            return None, None, None
        image = etree.Element("img", {"src": src})
        if title is not None:
            image.set("title", title)
        image.set("alt", plain_text(self._source(text)))
        return image, m.start(0), index

    def _source(self, text: str) -> str:
        return _source_of(self, text)


def parse_inline_destination(data: str, index: int) -> tuple[str, str | None, int] | None:
    """`(destination "title")` at `index` (CommonMark §6.3): destination, title, end."""
    if index >= len(data) or data[index] != "(":
        return None
    position = _skip_whitespace(data, index + 1)
    destination = ""
    if position < len(data) and data[position] == "<":
        match = _ANGLE_DESTINATION.match(data, position)
        if match is None:
            return None
        destination, position = match.group()[1:-1], match.end()
    else:
        start, depth = position, 0
        while position < len(data):
            char = data[position]
            if char == STX:  # An escaped character: one unit.
                close = data.find(ETX, position)
                if close == -1:
                    return None
                position = close + 1
                continue
            if char <= " " or char == "\x7f":
                break
            if char == "(":
                depth += 1
            elif char == ")":
                if not depth:
                    break
                depth -= 1
            position += 1
        if depth:
            return None
        destination = data[start:position]
    after_destination = position
    position = _skip_whitespace(data, position)
    title: str | None = None
    if position > after_destination and position < len(data) and data[position] in "\"'(":
        match = _LINK_TITLE.match(data, position)
        if match is None or _BLANK_LINE.search(match.group()):
            return None
        title = match.group()[1:-1]
        position = _skip_whitespace(data, match.end())
    if position >= len(data) or data[position] != ")":
        return None
    return destination, title, position + 1


def _skip_whitespace(data: str, position: int) -> int:
    while position < len(data) and data[position] in " \t\n":
        position += 1
    return position


def _label(inline: InlineProcessor, label: str) -> str:
    """A label as written: escapes given back their backslash, code spans their text."""
    return _ESCAPED.sub(lambda m: "\\" + chr(int(m[1])), inline.unescape(label))


class Reference(ReferenceInlineProcessor):  # type: ignore[misc]
    RE_LINK = re.compile(r"\[([^\[\]]{0,999})\]")

    def handleMatch(
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | None, int | None, int | None]:
        text, index, handled = self.getText(data, m.end(0))
        if not handled:
            return None, None, None
        label, end, handled = self.evalId(data, index, text)
        if not handled or label is None:
            return None, None, None
        label = _label(self, label)
        if label not in self.md.references:
            # `[a][b]` with `b` undefined is text, and `[b]` may start a link after all.
            return None, None, None
        href, title = self.md.references[label]
        return self.makeTag(href, title, text), m.start(0), end

    def evalId(self, data: str, index: int, text: str) -> tuple[str | None, int, bool]:
        match = self.RE_LINK.match(data, pos=index)
        if match is None:
            return None, index, False
        return match[1] or text, match.end(0), True


class ShortReference(Reference, ShortReferenceInlineProcessor):  # type: ignore[misc]
    def evalId(self, data: str, index: int, text: str) -> tuple[str | None, int, bool]:
        return text, index, True


class ImageReference(Reference, ImageReferenceInlineProcessor):  # type: ignore[misc]
    def makeTag(self, href: str, title: str, text: str) -> etree.Element:
        image = etree.Element("img", {"src": href})
        if title:
            image.set("title", title)
        image.set("alt", plain_text(_source_of(self, text)))
        return image


class ShortImageReference(ImageReference, ShortImageReferenceInlineProcessor):  # type: ignore[misc]
    def evalId(self, data: str, index: int, text: str) -> tuple[str | None, int, bool]:
        return text, index, True


def _source_of(inline: InlineProcessor, text: str) -> str:
    """An image description as markdown again: escapes restored, code spans as text."""
    try:
        stash = inline.md.treeprocessors["inline"].stashed_nodes
    except KeyError:  # pragma: no cover
        stash = {}

    def code_or_text(m: re.Match[str]) -> str:
        value = stash.get(m[1])
        if value is None:
            return ""
        text = value if isinstance(value, str) else "".join(value.itertext())
        return _MARKDOWN_PUNCTUATION.sub(r"\\\g<0>", text)

    text = INLINE_PLACEHOLDER_RE.sub(code_or_text, text)
    return _ESCAPED.sub(lambda m: "\\" + chr(int(m[1])), text)


def plain_text(markdown_text: str) -> str:
    """The text a description shows without its markup (an image's alt, CommonMark §6.4)."""
    return _plain_text(markdown_text)


@lru_cache(maxsize=128)
def _plain_text(markdown_text: str) -> str:
    md = _alt_markdown()
    md.reset()
    root = etree.Element("div")
    etree.SubElement(root, "p").text = markdown_text
    for processor in md.treeprocessors:
        result = processor.run(root)
        if result is not None:
            root = result
    return _text_with_alts(root).strip()


def _text_with_alts(element: etree.Element) -> str:
    text = element.get("alt", "") if element.tag == "img" else element.text or ""
    for child in element:
        text += _text_with_alts(child) + (child.tail or "")
    return text


@lru_cache(maxsize=1)
def _alt_markdown() -> Markdown:
    """A plain Markdown instance for descriptions: inline markup only, no raw HTML."""
    md = Markdown()
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return md


_AUTOLINK = r"<(?P<uri>[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\x00-\x20]*)>"
_EMAIL_AUTOLINK = (
    r"<(?P<email>[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*)>"
)
_SCHEME_MAIL = (
    r"(?<![\w.+-])(?P<scheme>(?i:mailto|xmpp)):"
    r"(?P<address>[\w.+-]+@[a-zA-Z0-9_-]+(?:\.[a-zA-Z0-9_-]+)+)(?P<resource>(?:/[\w@.]*)*)"
)
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_PERCENT_SPLIT = re.compile(r"(%[0-9A-Fa-f]{2})")
_URI_SAFE = frozenset(string.ascii_letters + string.digits + ";/?:@&=+$,-_.!~*'()#")
_ANGLE_DESTINATION = re.compile(rf"<(?:[^<>\\\n{STX}]|{STX}\d+{ETX}|\\.)*>")
_LINK_TITLE = re.compile(r'"[^"]*"|\'[^\']*\'|\([^()]*\)')
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_ESCAPED = re.compile(rf"{STX}(\d+){ETX}")
_MARKDOWN_PUNCTUATION = re.compile(r"[\\`*_{}\[\]()#+\-.!<>~|$]")
