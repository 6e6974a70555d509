"""Math in markdown as MathML: `$…$`, `$$…$$`, `\\(…\\)` and `\\[…\\]`, through latex2mathml.

Chromium renders MathML Core natively, so the page needs no JavaScript math library. A
formula that latex2mathml cannot convert stays as its source text. Prices stay text: a
`$` opens a formula only before a non-space, and closes one only after a non-space and
not before a digit (pandoc's rule), so `$5 and $10` has no formula. Code spans win (their
pattern runs first), and an escaped `\\$` is a dollar sign.

Only the MathML elements and attributes listed in `MATH_TAGS` and `MATH_ATTRIBUTES` are
kept (by `streamchat.render`'s tree sanitiser, and by the same lists in `static/sanitize.mjs`).

Bounded: a formula holds at most MAX_FORMULA_CHARS characters, formulas are found in
linear time (`streamchat.md_syntax.find_math`), and at most MAX_MATH_CHARS of LaTeX are converted
per render (latex2mathml is slow); formulas past that stay as their source.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree
from collections.abc import Iterator
from functools import lru_cache

from markdown import Markdown
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.util import AtomicString

from streamchat.md_syntax import MATH, MAX_MATH_CHARS, find_math

__all__ = ["MATH_ATTRIBUTES", "MATH_TAGS", "MathExtension", "MathInline", "to_mathml"]

MATH_TAGS = frozenset(
    {
        *("math", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msup", "msub", "msubsup"),
        *("mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr"),
        *("mtd", "mstyle", "mpadded", "mphantom", "menclose"),
    }
)
MATH_ATTRIBUTES = frozenset(
    {
        *("display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace"),
        *("width", "height", "depth", "accent", "accentunder", "columnalign", "columnspacing"),
        *("rowspacing", "columnlines", "rowlines", "linethickness", "displaystyle"),
        *("scriptlevel", "form", "largeop", "movablelimits", "minsize", "maxsize"),
        *("notation", "symmetric", "voffset"),
    }
)


def to_mathml(latex: str, *, display: bool) -> etree.Element | None:
    """The `<math>` element for a LaTeX formula, or None if it cannot be converted."""
    converted = _convert(latex.strip(), display)
    if converted is None:
        return None
    # A fresh copy each time: Python-Markdown takes ownership of the elements it is given.
    try:
        math = etree.fromstring(converted)
    except etree.ParseError:  # latex2mathml wrote something that is no XML: the source.
        return None
    if any(element.tag not in MATH_TAGS for element in math.iter()):
        return None  # latex2mathml passed markup through (`\\text{<b>}`): show the source.
    return math


class MathExtension(Extension):  # type: ignore[misc]
    """Registers `MathInline` and gives it a fresh budget on every `Markdown.reset`."""

    def extendMarkdown(self, md: Markdown) -> None:
        md.registerExtension(self)
        self.inline = MathInline(md)
        md.inlinePatterns.register(self.inline, "math", 186)

    def reset(self) -> None:
        self.inline.converted = 0


class _MathFinder:
    """What Python-Markdown asks of a pattern's compiled regex: `finditer`, in linear time."""

    pattern = MATH.pattern

    def finditer(self, text: str, pos: int = 0) -> Iterator[re.Match[str]]:
        return find_math(text, pos)


class MathInline(InlineProcessor):  # type: ignore[misc]
    """Any of the four delimiters, in one pattern so that the leftmost formula wins.

    `converted`: characters of LaTeX converted since the last reset (MAX_MATH_CHARS).
    """

    def __init__(self, md: Markdown) -> None:
        super().__init__(MATH.pattern, md)
        self.compiled_re = _MathFinder()
        self.converted = 0

    def handleMatch(
        self, m: re.Match[str], data: str
    ) -> tuple[etree.Element | None, int | None, int | None]:
        if m["dollars"] is not None:
            latex, display = m["dollars"], True
        elif m["bracket"] is not None:
            latex, display = m["bracket"], True
        elif m["paren"] is not None:
            latex, display = m["paren"], False
        else:
            latex, display = m["dollar"], False
        # Only backslashes between `\\[` and `\\]` is escapes (CommonMark §2.4), no formula;
        # `\\[1\\]` is an escaped citation marker.
        if not latex.strip().strip("\\") or (
            m["bracket"] is not None and _CITATION_LIKE.fullmatch(latex)
        ):
            return None, None, None
        if self.converted + len(latex) > MAX_MATH_CHARS:
            return None, None, None
        self.converted += len(latex)
        math = to_mathml(latex, display=display)
        if math is None:
            return None, None, None
        _atomic(math)
        return math, m.start(0), m.end(0)


@lru_cache(maxsize=256)
def _convert(latex: str, display: bool) -> str | None:
    from latex2mathml.converter import convert

    try:
        mathml: str = convert(latex, display="block" if display else "inline")
    except Exception:
        return None
    return _NAMESPACE.sub("", mathml)


def _atomic(math: etree.Element) -> None:
    """Mark every text in the formula as done, so no inline pattern parses it again."""
    for element in math.iter():
        if element.text:
            element.text = AtomicString(element.text)
        if element.tail and element is not math:
            element.tail = AtomicString(element.tail)


_CITATION_LIKE = re.compile(r"[\d,\s]+")
_NAMESPACE = re.compile(r' xmlns="[^"]*"')
