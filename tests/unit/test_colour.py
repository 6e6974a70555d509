"""Code colouring a slice at a time is the same HTML as Pygments colouring it at once."""

from __future__ import annotations

from pathlib import Path

import pygments
import pytest

from streamchat import colour
from streamchat.colour import FORMATTER, Colouring, colour_code, lexer_for, lexers_ready
from streamchat.render import render_markdown, render_parts

CORPUS = Path(__file__).parent / "corpus"

SAMPLES = [
    (
        "python",
        'def f(x):\n    """Doc\n    string"""\n    return {"a": [1, 2.5, x]}  # done\n' * 40,
    ),
    ("javascript", "const s = `multi\nline ${x}`;\n/* block\ncomment */\nlet y = /re+/g;\n" * 40),
    ("html", '<div class="a">\n  <script>var x = "<b>";</script>\n</div>\n' * 30),
    ("bash", 'for f in *.txt; do\n  echo "$f" | wc -l\ndone\ncat <<EOF\nheredoc $x\nEOF\n' * 30),
    ("rust", 'fn main() {\n    let s = r#"raw\n"#;\n    println!("{}", s);\n}\n' * 30),
    ("no-such-language", "plain <text> & more\n" * 50),
    ("python", "x = 1"),  # no final newline
    ("python", ""),
]


def _fences() -> list[tuple[str, str]]:
    """The corpus's own fences, as models write them: (language, code)."""
    found: list[tuple[str, str]] = []
    for path in sorted(CORPUS.glob("*.md")):
        rendered = render_parts(path.read_text(encoding="utf-8"), highlight=False)
        found.extend((language, src) for src, language in rendered.code)
    assert len(found) > 10
    return found


@pytest.mark.parametrize(("language", "src"), SAMPLES + _fences())
def test_sliced_colouring_is_pygments_at_once(language: str, src: str) -> None:
    expected = pygments.highlight(src, lexer_for(language), FORMATTER)
    colouring = Colouring([(src, language)])
    looks = 0

    def enough() -> bool:
        nonlocal looks
        looks += 1
        return True  # stop at every chance

    steps = 1
    while not colouring.step(enough):
        steps += 1
    assert colour._coloured[(src, language)] == expected  # what the sliced colouring left
    assert colour_code(src, language) == expected
    if src.count("\n") > 200:
        assert steps > 1, "a long block is coloured in more than one slice"


def test_a_long_block_is_coloured_in_many_slices_and_every_fence_is_coloured() -> None:
    code = [("x = 1\n" * 2000, "python"), ("let y = 2;\n" * 10, "javascript")]
    colouring = Colouring(code)
    slices = 1
    while not colouring.step(lambda: True):
        slices += 1
    assert slices > 10
    for src, language in code:
        expected = pygments.highlight(src, lexer_for(language), FORMATTER)
        assert colour._coloured[(src, language)] == expected


def test_a_render_after_colouring_shows_the_same_page_as_one_that_coloured_itself() -> None:
    text = "Intro\n\n```python\n" + "print('hi')  # a comment\n" * 300 + "```\n\nDone.\n"
    whole = render_markdown(text)
    rendered = render_parts(text, highlight=False)
    [(src, language)] = rendered.code
    assert (src.strip(), language) == (("print('hi')  # a comment\n" * 300).strip(), "python")
    colouring = Colouring(rendered.code)
    while not colouring.step(lambda: True):
        pass
    assert render_markdown(text) == whole


def test_a_block_in_a_language_not_coloured_before_says_it_needs_a_lexer() -> None:
    from streamchat.stream_render import StreamRenderer

    language = "smalltalk"  # no other test colours it
    renderer = StreamRenderer(colour_later=True)
    renderer.feed("```python\nx = 1\n```\n\n```" + language + "\nx := 1.\n```\n\nEnd.\n\nMore.\n\n")
    assert renderer.uncoloured == 2
    lexer_for("python")
    assert not renderer.colour_needs_lexer, "python's lexer is made"
    while renderer.colour_next(lambda: False) == []:
        pass
    assert renderer.colour_needs_lexer, language + "'s is not"
    lexer_for(language)
    assert not renderer.colour_needs_lexer
    assert lexers_ready([("y", language), ("z", "python")])
