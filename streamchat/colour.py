"""Code colouring (Pygments): all at once for a render, or a slice at a time for idle callbacks.

`colour_code` is what a render colours a fence with. A long block costs more than a frame
(measured in the page: 126 ms for one block at full CPU speed, 230 ms with the CPU slowed 4×),
so a streaming page colours finished blocks when the main thread is idle, and `Colouring`
does it in slices that each stop once the caller's budget is spent: Pygments' lexer is a
generator, and its HTML formatter closes every span at the end of a line, so the tokens of
whole lines can be formatted apart and joined, the same HTML as `pygments.highlight` (tests
hold the two to it). A finished `Colouring` leaves its HTML in a small cache that
`colour_code` reads first, so the render that follows does not colour the code again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import pygments
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.token import _TokenType
from pygments.util import ClassNotFound

__all__ = ["Code", "Colouring", "colour_code", "lexer_for", "lexers_ready"]

#: A fence's code and its language label (as written, lower-cased).
Code = tuple[str, str]

#: The code blocks' formatter: spans only; the page wraps them (streamchat.render).
FORMATTER = HtmlFormatter(nowrap=True)
#: Tokens lexed between two looks at the clock (only at the end of a line).
_TOKENS_PER_LOOK = 64
#: Coloured code kept for the render that follows a `Colouring` (one block's fences).
_KEPT = 16
_coloured: OrderedDict[Code, str] = OrderedDict()


def colour_code(src: str, language: str) -> str:
    """`src` coloured as `language` (plain text for a language Pygments does not know)."""
    key = (src, language)
    found = _coloured.get(key)
    if found is not None:
        return found
    coloured: str = pygments.highlight(src, lexer_for(language), FORMATTER)
    return coloured


def lexer_for(language: str) -> Lexer:
    """The lexer for `language`, made once: importing its module and compiling its
    regular expressions is most of a first block's cost (0.1–0.4 s in the page for
    JavaScript, Bash, HTML or CSS), one task that cannot be sliced."""
    lexer = _lexers.get(language)
    if lexer is None:
        try:
            lexer = get_lexer_by_name(language)
        except ClassNotFound:
            lexer = TextLexer()
        if len(_lexers) >= _LEXERS_KEPT:
            # Labels come from the model: any number. A lexer class compiles its
            # expressions once, so a lexer made again is cheap.
            _lexers.clear()
        _lexers[language] = lexer
    return lexer


def lexers_ready(code: Sequence[Code]) -> bool:
    """Whether the lexers for `code`'s languages are made already (`lexer_for`)."""
    return all(language in _lexers for _src, language in code)


_lexers: dict[str, Lexer] = {}
_LEXERS_KEPT = 256


class Colouring:
    """The fences of one block, coloured a slice at a time: `step(enough)` works until
    `enough()` is true (asked after each few lines) and says whether all are coloured."""

    def __init__(self, code: Sequence[Code]) -> None:
        self._left = list(code)
        self._current: _CodeColouring | None = None

    def step(self, enough: Callable[[], bool]) -> bool:
        while self._left or self._current is not None:
            if self._current is None:
                self._current = _CodeColouring(*self._left.pop(0))
            if not self._current.step(enough):
                return False
            self._current = None
            if enough() and self._left:
                return False
        return True


class _CodeColouring:
    def __init__(self, src: str, language: str) -> None:
        self._key = (src, language)
        self._tokens: Iterator[tuple[_TokenType, str]] = lexer_for(language).get_tokens(src)
        self._line: list[tuple[_TokenType, str]] = []
        self._html: list[str] = []

    def step(self, enough: Callable[[], bool]) -> bool:
        since_look = 0
        for token in self._tokens:
            self._line.append(token)
            since_look += 1
            if since_look >= _TOKENS_PER_LOOK and token[1].endswith("\n"):
                self._format()
                since_look = 0
                if enough():
                    return False
        self._format()
        _coloured[self._key] = "".join(self._html)
        while len(_coloured) > _KEPT:
            _coloured.popitem(last=False)
        return True

    def _format(self) -> None:
        # Tokens up to the end of a line: the formatter starts every line afresh.
        if self._line:
            self._html.append(pygments.format(self._line, FORMATTER))
            self._line = []
