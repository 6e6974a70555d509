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

And the machinery, made linear in the text (docs/security.md, "Bounded rendering"):

- `BoundedInline` (replaces the `inline` tree processor): Python-Markdown replaces each
  match by a placeholder by copying the whole text, so a paragraph of n characters with m
  matches cost n × m. Here the matches of one pattern are collected in one pass over
  the text, which is built once at the end of the pass; the text is built at once only
  where a pattern could see the placeholder (its look-behind), so the result is the same
  (`tests/unit/test_bounds.py` compares the two). Inline markup nested deeper than
  MAX_NESTING is text. Python-Markdown's quadratic bookkeeping of children is gone too.
- `ElementDepth` (tree processor, after `inline`): elements deeper than
  MAX_ELEMENT_DEPTH are replaced by their text, so that no later step recurses deeper.
- Link texts are found through one bracket-matching pass per text, not one scan to its
  end per `[`; a destination's parentheses nest at most 3 deep (CommonMark allows such a
  limit), matched by one regex.
"""

from __future__ import annotations

import re
import string
import types
import xml.etree.ElementTree as etree
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from markdown import Markdown, treeprocessors
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
from markdown.treeprocessors import Treeprocessor
from markdown.util import ETX, INLINE_PLACEHOLDER_RE, STX, AtomicString

from streamchat.md_syntax import MAX_ELEMENT_DEPTH, MAX_NESTING

__all__ = ["BoundedInline", "ElementDepth", "InlineExtension", "normalize_uri"]


class InlineExtension(Extension):  # type: ignore[misc]
    def extendMarkdown(self, md: Markdown) -> None:
        md.registerExtension(self)
        patterns = md.inlinePatterns
        patterns.register(Autolink(_AUTOLINK, md), "autolink", 183)
        patterns.register(EmailAutolink(_EMAIL_AUTOLINK, md), "automail", 182)
        for name, cls, pattern, priority in _BRACKET_PATTERNS:
            processor = cls(pattern, md)
            processor.compiled_re = _BracketFinder(processor.compiled_re)
            patterns.register(processor, name, priority)
        patterns.register(SchemeMail(_SCHEME_MAIL, md), "scheme_mail", 86)
        patterns.register(TildeRun(r"~{3,}", md), "tilde_run", 61)
        md.treeprocessors.register(BoundedInline(md), "inline", 20)
        md.treeprocessors.register(ElementDepth(md), "element_depth", 19.9)

    def reset(self) -> None:
        _BRACKETS.clear()


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


class BoundedInline(treeprocessors.InlineProcessor):  # type: ignore[misc]
    """Python-Markdown's inline tree processor, linear in the text it processes.

    Python-Markdown applies each inline pattern to a text in turn, and replaces every
    match by a placeholder at once, copying the text each time. Here the text is copied
    once per pattern: the matches are found in the text as it was, which is exact as
    long as the pattern cannot tell a placeholder from what it replaced. That is a
    matter of the characters just before where the search goes on (the look-behinds of
    these patterns read one, magic-mail's two); `_CONTINUES` says, per pattern, when the
    search may go on in the old text. Where it may not, or for a pattern it does not
    know, the text is built at once, as Python-Markdown does.

    Text nested more than MAX_NESTING deep in inline markup is left as it is.

    `built` counts the characters of the texts built since the last run: the work that
    Python-Markdown's way makes quadratic (tests and benchmarks read it).
    """

    def __init__(self, md: Markdown) -> None:
        super().__init__(md)
        self.built = 0
        self._depth = 0
        #: The inline patterns in order, each with what `_apply` asks of it every time
        #: (`_Rule`), made again only when the registry changes: indexing the registry
        #: sorts it again and checks the key's type, for every pattern of every text.
        self._patterns: list[Any] = []
        self._rules: list[_Rule] = []

    def run(self, tree: etree.Element, ancestors: list[str] | None = None) -> etree.Element:
        """Python-Markdown's `run`, with a queue for its list and no `list.index` per tail."""
        self.stashed_nodes: dict[str, etree.Element | str] = {}
        self.built = 0
        patterns = list(self.inlinePatterns)
        if patterns != self._patterns:
            self._patterns = patterns
            self._rules = _rules(self.inlinePatterns)
        tree_parents = [] if ancestors is None else ancestors[:]
        self.parent_map = {c: p for p in tree.iter() for c in p}
        stack = deque([(tree, tree_parents)])
        self._InlineProcessor__build_ancestors(tree, tree_parents)
        while stack:
            current, parents = stack.popleft()
            self.ancestors = parents
            if current is not tree:
                self.ancestors.append(current.tag.lower())
            insert_queue = []
            # Children inserted while iterating come right after the current one, so the
            # index counts along with the iteration.
            for index, child in enumerate(current):
                if child.text and not isinstance(child.text, AtomicString):
                    self.ancestors.append(child.tag.lower())
                    text = child.text
                    child.text = None
                    found = self._InlineProcessor__processPlaceholders(
                        self._InlineProcessor__handleInline(text), child
                    )
                    for item in found:
                        self.parent_map[item[0]] = child
                    stack.extend(found)
                    insert_queue.append((child, found))
                    self.ancestors.pop()
                if child.tail:
                    tail = self._InlineProcessor__handleInline(child.tail)
                    dummy = etree.Element("d")
                    child.tail = None
                    tail_result = self._InlineProcessor__processPlaceholders(tail, dummy, False)
                    if dummy.tail:
                        child.tail = dummy.tail
                    tail_result.reverse()
                    for new_child in tail_result:
                        self.parent_map[new_child[0]] = current
                        current.insert(index + 1, new_child[0])
                if len(child):
                    self.parent_map[child] = current
                    stack.append((child, self.ancestors[:]))
            for element, found in insert_queue:
                for position, item in enumerate(found):
                    element.insert(position, item[0])
        return tree

    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:
        if isinstance(data, AtomicString) or self._depth >= MAX_NESTING:
            return data
        self._depth += 1
        try:
            rules = self._rules
            for index in range(patternIndex, len(rules)):
                data = self._apply(rules[index], data, index)
        finally:
            self._depth -= 1
        return data

    def _apply(self, rule: _Rule, data: str, pattern_index: int) -> str:
        """Every match of one pattern in `data` replaced by its placeholder."""
        pattern, excludes, new_style, continues, needs = rule
        if needs is not None and needs.search(data) is None:
            return data
        for exclude in excludes:
            if exclude in self.ancestors:
                return data
        if not new_style:  # pragma: no cover (old-style patterns)
            start = 0
            while True:
                data, matched, start = self._InlineProcessor__applyPattern(
                    pattern, data, pattern_index, start
                )
                if not matched:
                    return data
        regex = pattern.getCompiledRegExp()
        pieces: list[str] = []
        done = 0  # data[:done] is in pieces, matches replaced
        search_from = 0
        while True:
            for match in regex.finditer(data, search_from):
                node, start, end = pattern.handleMatch(match, data)
                if start is not None and end is not None:
                    break
            else:
                break
            if node is None:
                search_from = end
                continue
            if not isinstance(node, str) and not isinstance(node.text, AtomicString):
                for child in [node, *node]:
                    if child.text:
                        self.ancestors.append(child.tag.lower())
                        child.text = self._InlineProcessor__handleInline(
                            child.text, pattern_index + 1
                        )
                        self.ancestors.pop()
                    if child.tail:
                        child.tail = self._InlineProcessor__handleInline(child.tail, pattern_index)
            pieces += (data[done:start], self._InlineProcessor__stashNode(node, pattern.type()))
            done = search_from = end
            if continues is None or type(data) is not str or not continues(data, end):
                # Build the text now: the search goes on right after the placeholder.
                search_from = sum(map(len, pieces))
                pieces.append(data[done:])
                data, pieces, done = "".join(pieces), [], 0
                self.built += len(data)
        if pieces:
            pieces.append(data[done:])
            data = "".join(pieces)
            self.built += len(data)
        return data


#: A pattern, its ancestor excludes (lower case), whether it is an `InlineProcessor` (not an
#: old-style pattern), when its search may go on in the old text (`_CONTINUES`), and what
#: every match of it holds (`_NEEDS`).
_Rule = tuple[Any, tuple[str, ...], bool, Callable[[str, int], bool] | None, re.Pattern[str] | None]


def _rules(registry: Any) -> list[_Rule]:
    """`_Rule`s of the inline patterns in `registry`, in its order."""
    continues = {id(registry[name]): rule for name, rule in _CONTINUES.items() if name in registry}
    needs = {id(registry[name]): rule for name, rule in _NEEDS.items() if name in registry}
    return [
        (
            pattern,
            tuple(exclude.lower() for exclude in pattern.ANCESTOR_EXCLUDES),
            isinstance(pattern, InlineProcessor),
            continues.get(id(pattern)),
            needs.get(id(pattern)),
        )
        for pattern in registry
    ]


def _continues(
    like_placeholder: str | None = None, starts: str | None = None
) -> Callable[[str, int], bool]:
    """When a pattern's search may go on at `end` in the old text: the character before
    `end` counts as the placeholder's last one (ETX) would (`like_placeholder`), or no
    match can start at `end` (`starts`: the characters a match starts with)."""
    same = re.compile(like_placeholder) if like_placeholder else None
    start = re.compile(starts) if starts else None

    def rule(data: str, end: int) -> bool:
        if start is None or start.match(data, end) is None:
            return True
        return same is not None and same.match(data, end - 1) is not None

    return rule


_ALWAYS = _continues()
# Per inline pattern: when its search may go on in the text before the placeholders are in
# (see BoundedInline). Patterns without a look-behind always may.
_CONTINUES = {
    "backtick": _continues(r"[^\\]", r"[`\\]"),
    "math": _continues(r"[^\\$\w]", r"[$\\]"),
    "backslash_break": _ALWAYS,
    "autolink": _ALWAYS,
    "automail": _ALWAYS,
    "escape": _ALWAYS,
    "footnote_ref": _ALWAYS,
    "reference": _continues(r"[^!]", r"\["),
    "link": _continues(r"[^!]", r"\["),
    "image_link": _ALWAYS,
    "image_reference": _ALWAYS,
    "short_reference": _continues(r"[^!]", r"\["),
    "short_image_ref": _ALWAYS,
    "linebreak": _ALWAYS,
    "scheme_mail": _continues(r"[^\w.+-]", r"[mMxX]"),
    "magic-link": _continues(r"[\s*_~^\[('\"\x03]", r"[hHfFwW]"),
    # Its look-behind is two characters long: no match may start at `end`, nor a dot be there.
    "magic-mail": _continues(None, r"[-+.\w]"),
    "entity": _ALWAYS,
    "tilde_run": _ALWAYS,
    # pymdownx's emphasis reads the character before a delimiter run.
    "delimiter": _continues(None, r"[*_~]"),
}


# Per inline pattern: what every match of it holds, so that a text without it is not searched
# at all (most of a tail's texts are prose: of the twenty patterns, three or four can match
# one). A pattern not named here is always searched. tests/unit/test_bounds.py checks each
# against every match in the spec suites and the corpus.
_NEEDS = {
    "backtick": re.compile(r"`"),
    "math": re.compile(r"[$\\]"),
    "backslash_break": re.compile(r"\\\n"),
    "autolink": re.compile(r"<"),
    "automail": re.compile(r"<"),
    "escape": re.compile(r"\\"),
    "footnote_ref": re.compile(r"\[\^"),
    "reference": re.compile(r"\["),
    "link": re.compile(r"\["),
    "image_link": re.compile(r"!\["),
    "image_reference": re.compile(r"!\["),
    "short_reference": re.compile(r"\["),
    "short_image_ref": re.compile(r"!\["),
    "linebreak": re.compile(r"  \n"),
    "scheme_mail": re.compile(r":"),
    "magic-link": re.compile(r"://|(?i:www\.)"),
    "magic-mail": re.compile(r"@"),
    "entity": re.compile(r"&"),
    "tilde_run": re.compile(r"~~~"),
    "delimiter": re.compile(r"[*_~]"),
}


class ElementDepth(Treeprocessor):  # type: ignore[misc]
    """Elements nested deeper than MAX_ELEMENT_DEPTH are replaced by their text."""

    def run(self, root: etree.Element) -> None:
        stack = [(root, 0)]
        while stack:
            element, depth = stack.pop()
            if depth + 1 < MAX_ELEMENT_DEPTH:
                stack.extend((child, depth + 1) for child in element)
            elif len(element):
                element.text = all_text(element)
                element[:] = []


def all_text(element: etree.Element) -> str:
    """The text in `element` and its descendants (their tails too), without recursion."""
    parts: list[str] = []
    stack = [(element, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            parts.append(node.tail or "")
            continue
        parts.append(node.text or "")
        if node is not element:
            stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))
    return "".join(parts)


def link_text(data: str, index: int) -> tuple[str, int, bool]:
    """Python-Markdown's `getText`: the text from `index` (just after a `[`) to its
    matching `]`, the index after that, and whether there was one.

    The brackets of `data` are matched once (and kept for the next call with the same
    text), so that each `[` costs a look-up rather than a scan to the end of the text.
    """
    closing = _matching_brackets(data)[0].get(index - 1)
    if closing is None:
        return "", len(data), False
    return data[index:closing], closing + 1, True


def _matching_brackets(data: str) -> tuple[dict[int, int], list[int]]:
    """Where each matched `[` of `data` is closed, counting brackets as `getText` does;
    and the matched `[`, in order."""
    known = _BRACKETS.get(id(data))
    if known is not None and known[0] is data:
        return known[1], known[2]
    matches: dict[int, int] = {}
    open_at: list[int] = []
    for bracket in _BRACKET.finditer(data):
        if bracket.group() == "[":
            open_at.append(bracket.start())
        elif open_at:
            matches[open_at.pop()] = bracket.start()
    if len(_BRACKETS) > 64:
        _BRACKETS.clear()
    opens = sorted(matches)
    _BRACKETS[id(data)] = (data, matches, opens)
    return matches, opens


class _BracketFinder:
    """A link pattern's regex (`[` or `![`), found only where its `[` is matched: the
    pattern fails at any other, so a text of a thousand `[` costs no thousand tries."""

    def __init__(self, regex: re.Pattern[str]) -> None:
        self.regex = regex
        self.pattern = regex.pattern
        self.bang = regex.pattern.startswith("\\!")

    def finditer(self, data: str, pos: int = 0) -> Iterator[re.Match[str]]:
        _, opens = _matching_brackets(data)
        for opening in opens[bisect_left(opens, pos + self.bang) :]:
            match = self.regex.match(data, opening - self.bang)
            if match is not None:
                yield match


# The brackets of the texts seen in this render, by id (the text is kept, so the id stays
# its own); cleared on every Markdown.reset.
_BRACKETS: dict[int, tuple[str, dict[int, int], list[int]]] = {}


class _CommonMarkLink(LinkInlineProcessor):  # type: ignore[misc]
    def getText(self, data: str, index: int) -> tuple[str, int, bool]:
        return link_text(data, index)

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
        bare = _BARE_DESTINATION.match(data, position)
        assert bare is not None  # It matches the empty string.
        if data[bare.end() : bare.end() + 1] in ("(", STX):
            return None  # An unbalanced (or too deeply nested) `(`, or a broken escape.
        destination, position = bare.group(), bare.end()
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
    return _WHITESPACE.match(data, position).end()  # type: ignore[union-attr]


def _label(inline: InlineProcessor, label: str) -> str:
    """A label as written: escapes given back their backslash, code spans their text."""
    return _ESCAPED.sub(lambda m: "\\" + chr(int(m[1])), inline.unescape(label))


class Reference(ReferenceInlineProcessor):  # type: ignore[misc]
    RE_LINK = re.compile(r"\[([^\[\]]{0,999})\]")

    def getText(self, data: str, index: int) -> tuple[str, int, bool]:
        return link_text(data, index)

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
    """A plain Markdown instance for descriptions: inline markup only, no raw HTML; its link
    patterns find their text and destination in linear time, as ours do."""
    md = Markdown()
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    for name in ("reference", "link", "image_link", "image_reference", "short_reference"):
        pattern = md.inlinePatterns[name]
        pattern.getText = link_text
        if isinstance(pattern, LinkInlineProcessor):
            pattern.getLink = types.MethodType(_CommonMarkLink.getLink, pattern)
    md.inlinePatterns["short_image_ref"].getText = link_text
    md.treeprocessors.register(BoundedInline(md), "inline", 20)
    md.treeprocessors.register(ElementDepth(md), "element_depth", 19.9)
    return md


_BRACKET_PATTERNS = (
    ("reference", Reference, REFERENCE_RE, 170),
    ("link", Link, LINK_RE, 160),
    ("image_link", Image, IMAGE_LINK_RE, 150),
    ("image_reference", ImageReference, IMAGE_REFERENCE_RE, 140),
    ("short_reference", ShortReference, REFERENCE_RE, 130),
    ("short_image_ref", ShortImageReference, IMAGE_REFERENCE_RE, 125),
)
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
# A bare link destination: no whitespace or control characters, parentheses balanced and
# nested at most 3 deep (CommonMark lets an implementation limit the nesting: at least
# 3 levels), escapes (STX digits ETX) as one unit. One regex, so matching it is linear.
_DESTINATION_UNIT = rf"(?:[^\x00-\x20\x7f(){STX}]|{STX}[^{ETX}]*{ETX})"
_BARE_DESTINATION = re.compile(
    rf"{_DESTINATION_UNIT}*(?:\({_DESTINATION_UNIT}*(?:\({_DESTINATION_UNIT}*"
    rf"(?:\({_DESTINATION_UNIT}*\){_DESTINATION_UNIT}*)*\){_DESTINATION_UNIT}*)*\)"
    rf"{_DESTINATION_UNIT}*)*"
)
_WHITESPACE = re.compile(r"[ \t\n]*")
_BRACKET = re.compile(r"[\[\]]")
_LINK_TITLE = re.compile(r'"[^"]*"|\'[^\']*\'|\([^()]*\)')
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_ESCAPED = re.compile(rf"{STX}(\d+){ETX}")
_MARKDOWN_PUNCTUATION = re.compile(r"[\\`*_{}\[\]()#+\-.!<>~|$]")
