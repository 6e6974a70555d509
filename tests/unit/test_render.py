"""Rendering markdown answers to safe HTML: structure, code blocks, citations, safety.

Compared with a GitHub-flavoured renderer (markdown-it-py 4.3 in its "commonmark" preset
with tables, strikethrough and mdit-py-plugins' task lists, installed outside the venv
for a one-off script that compared the nested sequence of block-level tags), the corpus
renders with the same block structure, except:

- a table inside a list item (13_api_reference.md): Python-Markdown needs a blank line
  before the table, which makes the list loose (`<li><p>`), where GitHub keeps it tight;
- raw HTML (08_xss_discussion.md): GitHub keeps `<!-- -->` and `<iframe>` as HTML blocks
  (then filters them); we show them as text in a paragraph, on purpose.

Beyond the corpus, on small cases:

- `1. a` then `  - b` (2 spaces, less than the item's content column): GitHub starts a
  separate list; we nest it, which is what a model means by it.
- `Text` then `2. a` with no blank line: GitHub keeps a paragraph (only `1.` may interrupt
  one); we start a list at 2.
- `- a\\n- b\\n\\n- c`: GitHub makes every item loose; Python-Markdown only the items
  after the blank line.
- `> q\\n\\n> r` and `* a\\n\\n+ b` as the last, unterminated lines: GitHub makes two
  quotes/lists; Python-Markdown merges them. Once the line after is complete, the block
  splitter separates them and the output matches GitHub.
- text right after a table row, without a blank line: GitHub makes it a table row; we end
  the table and make it a paragraph (Python-Markdown breaks one-column tables otherwise).
- looseness: Python-Markdown decides per item, GitHub per list.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamchat.blocks import split_blocks
from streamchat.heal import heal
from streamchat.render import is_allowed_url, render_block, render_markdown, render_parts

CORPUS = Path(__file__).parent / "corpus"
CITATIONS = {"1": "#a1-source-1", "2": "#a1-source-2", "3": "#a1-source-3"}


# --- A small DOM, to assert on structure rather than on strings. ---


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)
    parent: Element | None = field(default=None, repr=False)

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def find_all(self, tag: str) -> list[Element]:
        return list(self.iter(tag))

    def elements(self) -> list[Element]:
        return [child for child in self.children if isinstance(child, Element)]

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


_VOID = {"br", "hr", "img", "input", "meta", "link", "base", "embed", "source", "wbr"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root")
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), parent=self.current)
        self.current.children.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, dict(attrs), parent=self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, f"stray </{tag}>"
        assert node.parent is not None
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(fragment: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(fragment)
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return builder.root


def visible_text(root: Element) -> str:
    """The text outside code, where no raw markdown marker should show."""
    parts: list[str] = []

    def walk(node: Element) -> None:
        for child in node.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag not in ("code", "pre"):
                walk(child)

    walk(root)
    return "".join(parts)


def corpus(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def render_corpus(name: str) -> Element:
    return parse(render_markdown(corpus(name), CITATIONS))


def code_blocks(root: Element) -> list[Element]:
    return [div for div in root.iter("div") if div.has_class("code-block")]


def citation_refs(node: Element) -> list[str]:
    return [
        str(link.attrs["data-ref"])
        for sup in node.iter("sup")
        if sup.has_class("citation-ref")
        for link in sup.find_all("a")
    ]


# --- The corpus: what GitHub would show, element by element. ---


def test_corpus_has_enough_realistic_answers() -> None:
    answers = sorted(CORPUS.glob("*.md"))
    assert len(answers) >= 12
    assert max(len(path.read_bytes()) for path in answers) > 18_000


def test_sse_explainer() -> None:
    root = render_corpus("01_sse_explainer.md")
    top = [element.tag for element in root.elements()]
    assert top == ["h2", "p", "p", "ul", "p", "div", "p", "p"]
    # The list follows its paragraph with no blank line between them.
    assert len(root.find_all("ul")[0].elements()) == 4
    (block,) = code_blocks(root)
    assert block.attrs["data-lang"] == "javascript"
    assert block.find_all("span")[0].has_class("code-lang")
    key_point = root.elements()[6]
    assert citation_refs(key_point) == ["1", "2"]
    (link,) = root.elements()[7].find_all("a")
    assert link.attrs["href"] == link.text()
    assert link.attrs["target"] == "_blank"
    assert link.attrs["rel"] == "noopener noreferrer nofollow"


def test_python_setup_has_code_in_list_items_and_no_emphasised_snake_case() -> None:
    root = render_corpus("02_python_setup.md")
    (steps,) = root.find_all("ol")
    items = steps.elements()
    assert len(items) == 3
    for item in items:
        (block,) = code_blocks(item)
        assert block.attrs["data-lang"] == "bash"
        assert not item.find_all("p"), "a tight list, as on GitHub"
    assert [block.attrs["data-lang"] for block in code_blocks(root)][-1] == "python"
    assert [em.text() for em in root.find_all("em")] == ["emphasis"]
    assert "max_retries and retry_delay are plain snake_case_names" in root.text()


def test_comparison_table_alignment_strikethrough_and_citations() -> None:
    root = render_corpus("03_comparison_table.md")
    (table,) = root.find_all("table")
    assert [th.attrs.get("align") for th in table.find_all("th")] == ["left", "center", "right"]
    rows = table.find_all("tbody")[0].elements()
    assert len(rows) == 5
    assert [td.attrs.get("align") for td in rows[0].elements()] == ["left", "center", "right"]
    assert [d.text() for d in root.find_all("del")] == [
        "yes",
        "The old advice to poll every second",
    ]
    assert citation_refs(root) == ["1", "2"]


def test_nested_lists_nest_by_two_spaces_and_ordered_lists_keep_their_start() -> None:
    root = render_corpus("04_nested_lists.md")
    outer = root.elements()[1]
    assert outer.tag == "ul"
    preparation, migration, verification = outer.elements()
    (preparation_steps,) = preparation.find_all("ul")[:1]
    assert [li.tag for li in preparation_steps.elements()] == ["li", "li"]
    backup = preparation_steps.elements()[1]
    (dumps,) = backup.find_all("ul")
    assert [li.text() for li in dumps.elements()] == [
        "full dump on Sunday",
        "incremental dumps every hour",
    ]
    assert len(migration.find_all("li")) == 2
    assert not verification.find_all("ul")
    (ordered,) = root.find_all("ol")
    assert ordered.attrs["start"] == "3"
    assert len(ordered.elements()) == 3
    assert len(ordered.elements()[2].find_all("li")) == 2
    # A different bullet character starts another list, as in CommonMark.
    top_lists = [element for element in root.elements() if element.tag == "ul"]
    assert [len(ul.elements()) for ul in top_lists] == [3, 2, 2]


@pytest.mark.parametrize(
    ("markdown", "tag"),
    [
        ("- a\n  * n\n\n- b\n", "ul"),
        ("1. a\n   1) n\n\n2. b\n", "ol"),
        ("- a\n  * n\n  * m\n\n- b\n\n- c\n", "ul"),
    ],
)
def test_a_nested_list_of_another_kind_leaves_its_parent_list_one_list(
    markdown: str, tag: str
) -> None:
    """After a blank line, the next item joins its list, whatever the nested list's bullet
    or delimiter (CommonMark's reference renders one list here)."""
    html = render_markdown(markdown)
    assert html.count(f"<{tag}") == 2, html  # the list and the nested one
    assert html.count("<p>") == markdown.count("\n\n") + 1, html  # a loose list


def test_task_list_checkboxes_are_disabled() -> None:
    root = render_corpus("05_task_list.md")
    boxes = root.find_all("input")
    assert len(boxes) == 6
    assert all(box.attrs["type"] == "checkbox" and "disabled" in box.attrs for box in boxes)
    assert sum("checked" in box.attrs for box in boxes) == 2
    assert [ul.has_class("task-list") for ul in root.find_all("ul")] == [True, True]
    (link,) = root.find_all("a")
    assert link.attrs["href"] == "https://lists.example.org/announce"


def test_quotes_hard_breaks_and_entities() -> None:
    root = render_corpus("06_quote_and_breaks.md")
    first_quote, second_quote = root.find_all("blockquote")
    assert [element.tag for element in first_quote.elements()] == ["p"]
    assert [element.tag for element in second_quote.elements()] == ["p", "ul"]
    contact = next(p for p in root.find_all("p") if p.text().startswith("Contact"))
    assert len(contact.find_all("br")) == 3  # two trailing spaces twice, one backslash
    assert "\\" not in contact.text()
    entities = next(p for p in root.find_all("p") if p.text().startswith("Entities"))
    assert "© 2024 Example Corp & partners" in entities.text()
    assert "Writing <script> shows the tag as text" in entities.text()
    assert "<script>alert(1)</script>" in entities.text()
    assert not root.find_all("script")


def test_code_heavy_answer() -> None:
    root = render_corpus("07_code_heavy.md")
    blocks = code_blocks(root)
    langs = [block.attrs["data-lang"] for block in blocks]
    assert langs == ["python", "bash", "json", "mermaid", "text", "text"]
    python = blocks[0].find_all("pre")[0]
    assert "\n\n" in python.text(), "a blank line inside a fence stays in the code"
    assert python.find_all("span"), "highlighted"
    plain = blocks[4].find_all("pre")[0]
    assert plain.text() == "plain text block [1]\n**still not bold** <b>not html</b>\n"
    assert not plain.find_all("sup")
    assert not plain.find_all("b")
    assert not root.find_all("strong")


def test_xss_discussion_shows_html_as_text_and_drops_script_links() -> None:
    root = render_corpus("08_xss_discussion.md")
    assert not root.find_all("img")
    assert not root.find_all("iframe")
    assert not root.find_all("script")
    text = root.text()
    assert "<img src=x onerror=alert(1)>" in text
    assert "click me" in text
    assert "logo" in text
    hrefs = [a.attrs["href"] for a in root.find_all("a")]
    assert hrefs[:4] == [
        "https://developer.mozilla.org/",
        "https://owasp.org",
        "mailto:security@example.com",
        "#top",
    ]
    top = root.find_all("a")[3]
    assert "target" not in top.attrs
    assert "rel" not in top.attrs
    assert "<!-- a comment the model should not have written -->" in text


def test_identifiers_are_not_emphasis() -> None:
    root = render_corpus("09_identifiers.md")
    assert [em.text() for em in root.find_all("em")] == ["this is emphasised", "so is this"]
    assert [strong.text() for strong in root.find_all("strong")] == [
        "this is strong",
        "so is this",
    ]
    text = visible_text(root)
    for name in ("file_name_parser.py", "MAX_BUFFER_SIZE", "read_config_file", "_private_helper"):
        assert name in text
    assert "*args and **kwargs" in text
    links = [a.attrs["href"] for a in root.find_all("a")]
    assert links == [
        "https://example.com/some_path/with_underscores_here",
        "http://www.example.org/my_page",
    ]


def test_troubleshooting_headings_rule_and_nested_ordered_list() -> None:
    root = render_corpus("10_troubleshooting.md")
    assert [element.tag for element in root.elements()] == [
        "h1", "h2", "p", "ol", "hr", "h2", "p", "blockquote", "h3", "p", "ul",
    ]  # fmt: skip
    (steps,) = root.find_all("ol")
    assert len(steps.elements()) == 3
    assert len(steps.elements()[0].find_all("li")) == 2


def test_short_answer() -> None:
    root = render_corpus("11_short.md")
    assert [element.tag for element in root.elements()] == ["p"]
    assert citation_refs(root) == ["1"]


def test_long_guide() -> None:
    root = render_corpus("12_long_guide.md")
    assert len(root.find_all("h1")) == 1
    assert len(root.find_all("h2")) == 15
    assert len(root.find_all("table")) == 7
    blocks = code_blocks(root)
    assert len(blocks) == 11
    # A fence inside a list item nested in an ordered list item.
    nested = [b for b in blocks if [a.tag for a in b.ancestors()][:4] == ["li", "ul", "li", "ol"]]
    assert len(nested) == 1
    assert nested[0].attrs["data-lang"] == "python"
    boxes = root.find_all("input")
    assert len(boxes) == 5
    assert sum("checked" in box.attrs for box in boxes) == 2
    assert set(citation_refs(root)) == {"1", "2", "3"}
    assert not [em for em in root.find_all("em") if "_" in em.text()]
    assert "**" not in visible_text(root)


def test_api_reference_has_a_table_and_code_inside_list_items() -> None:
    root = render_corpus("13_api_reference.md")
    (endpoints,) = root.find_all("ul")
    first, second, _ = endpoints.elements()
    assert first.find_all("table")
    assert [b.attrs["data-lang"] for b in code_blocks(second)] == ["json"]
    (ordered,) = root.find_all("ol")  # `1)` markers
    assert len(ordered.elements()) == 2


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.md")), ids=lambda path: path.name)
def test_corpus_renders_balanced_html_with_every_block_on_its_own(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    blocks, tail = split_blocks(text)
    for block in [*blocks, tail]:
        root = parse(render_block(block))
        assert all(not isinstance(child, str) or not child.strip() for child in root.children)
    # The corpus defines no links: each block renders as it would alone, the last unhealed.
    assert render_markdown(text) == "".join(map(render_block, [*blocks, tail]))
    # The open tail's code is left uncoloured (it is rendered every frame).
    streamed = "".join(map(render_block, blocks)) + render_parts(heal(tail), highlight=False).html
    assert render_markdown(text, streaming=True) == streamed


# --- Code blocks. ---


def test_code_block_shape() -> None:
    rendered = render_markdown("```python\nprint('hi')\n```")
    assert rendered.startswith(
        '<div class="code-block" data-lang="python"><div class="code-header">'
        '<span class="code-lang">python</span><button type="button" class="copy-code" '
        'data-action="copy-code" aria-label="Copy code">Copy</button></div>'
        '<div class="highlight"><pre tabindex="0"><span class="nb">print</span>'
    )
    assert rendered.endswith("</pre></div></div>")
    assert "style=" not in rendered


@pytest.mark.parametrize(
    ("fence", "label"),
    [("```", "text"), ("```no-such-language", "no-such-language"), ("~~~ruby", "ruby")],
)
def test_code_block_language_label(fence: str, label: str) -> None:
    closing = fence[:3]
    root = parse(render_markdown(f"{fence}\nx = 1\n{closing}"))
    (block,) = code_blocks(root)
    assert block.attrs["data-lang"] == label
    assert block.find_all("span")[0].text() == label
    assert block.find_all("pre")[0].text() == "x = 1\n"


def test_code_block_language_is_escaped() -> None:
    rendered = render_markdown('```"><img/src=x>\ncode\n```')
    root = parse(rendered)
    assert not root.find_all("img")


# --- Citations. ---


def test_citation_markers_become_links_to_their_sources() -> None:
    root = parse(render_markdown("SSE reconnects [1].", {"1": "#a1-source-1"}))
    (sup,) = root.find_all("sup")
    assert sup.attrs == {"class": "citation-ref"}
    (link,) = sup.elements()
    assert link.attrs == {"href": "#a1-source-1", "data-ref": "1"}
    assert link.text() == "[1]"
    assert root.text() == "SSE reconnects [1]."


@pytest.mark.parametrize(
    ("markdown", "refs", "text"),
    [
        ("a [1][2] b", ["1", "2"], "a [1][2] b"),
        ("a [1, 2] b", ["1", "2"], "a [1][2] b"),
        ("a [1,2,3]", ["1", "2", "3"], "a [1][2][3]"),
        ("a [9] b", [], "a [9] b"),
        ("a [1, 9] b", [], "a [1, 9] b"),
        ("a `[1]` b", [], "a [1] b"),
        ("a [see [1]](https://x.example) b", [], "a see [1] b"),
        ("a \\[1\\] b", [], "a [1] b"),
        ("# Title [2]", ["2"], "Title [2]"),
        ("- item [3]", ["3"], "item [3]"),
        ("| a |\n|---|\n| [1] |", ["1"], "a [1]"),
    ],
)
def test_citation_markers(markdown: str, refs: list[str], text: str) -> None:
    root = parse(render_markdown(markdown, CITATIONS))
    assert citation_refs(root) == refs
    assert " ".join(root.text().split()) == text


def test_citation_markers_in_code_blocks_stay_code() -> None:
    root = parse(render_markdown("```\n[1] and [1, 2]\n```", CITATIONS))
    assert not citation_refs(root)
    assert root.find_all("pre")[0].text() == "[1] and [1, 2]\n"


def test_citation_hrefs_pass_the_same_url_check() -> None:
    rendered = render_markdown(
        "a [1] b [2]", {"1": "javascript:alert(1)", "2": "https://x.example"}
    )
    root = parse(rendered)
    assert citation_refs(root) == ["2"]
    assert [sup.text() for sup in root.find_all("sup")] == ["[1]", "[2]"]
    assert_safe(rendered)


def test_without_citations_markers_stay_text() -> None:
    assert render_markdown("a [1] b") == "<p>a [1] b</p>"


# --- Markdown details. ---


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("Steps:\n1. one\n2. two", "<p>Steps:</p>\n<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        ("Steps:\n* one", "<p>Steps:</p>\n<ul>\n<li>one</li>\n</ul>"),
        ("5. five\n6. six", '<ol start="5">\n<li>five</li>\n<li>six</li>\n</ol>'),
        ("a\nb", "<p>a\nb</p>"),  # one newline is a space, as on GitHub
        ("a  \nb", "<p>a<br>\nb</p>"),
        ("a\\\nb", "<p>a<br>\nb</p>"),
        ("~~gone~~ and ~sub~", "<p><del>gone</del> and ~sub~</p>"),
        ("snake_case_word", "<p>snake_case_word</p>"),
        ("Text\n***", "<p>Text</p>\n<hr>"),
        ("Text\n---", "<h2>Text</h2>"),
        ("&copy; &amp; &lt;b&gt;", "<p>&copy; &amp; &lt;b&gt;</p>"),
    ],
)
def test_markdown_details(markdown: str, expected: str) -> None:
    assert render_markdown(markdown) == expected


def shape(fragment: str) -> str:
    """The nesting of block elements, e.g. "p ul(li ul(li li) li)"; code blocks are "code"."""

    def walk(element: Element) -> str:
        parts = []
        for child in element.elements():
            if child.has_class("code-block"):
                parts.append("code")
            elif child.tag in _SHAPE_TAGS:
                inner = walk(child)
                parts.append(f"{child.tag}({inner})" if inner else child.tag)
            else:
                inner = walk(child)
                if inner:
                    parts.append(inner)
        return " ".join(parts)

    return walk(parse(fragment))


_SHAPE_TAGS = {"p", "ul", "ol", "li", "blockquote", "table", "h1", "h2", "hr", "pre"}


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("- a\n  - b\n    - c\n- d", "ul(li(ul(li(ul(li)))) li)"),
        ("- a\n    - b\n        - c\n- d", "ul(li(ul(li(ul(li)))) li)"),
        ("1. a\n   - b\n   - c\n2. d", "ol(li(ul(li li)) li)"),
        ("1. a\n  - b\n2. d", "ol(li(ul(li)) li)"),  # lenient: GitHub wants 3 spaces
        ("10. a\n    - b", "ol(li(ul(li)))"),
        ("- a\n  1. x\n  2. y", "ul(li(ol(li li)))"),
        ("-\ta\n\t-\tb", "ul(li(ul(li)))"),
        ("- a\n  continued\n- b", "ul(li li)"),
        ("- a\nlazy\n- b", "ul(li li)"),
        ("- a\n\n  second paragraph\n- b", "ul(li(p p) li(p))"),
        ("- a\n  ```py\n  x\n  ```\n- b", "ul(li(code) li)"),
        ("- a\n  - b\n    ```py\n    x\n    ```\n  - c", "ul(li(ul(li(code) li)))"),
        ("1. a\n\n   ```py\n   x\n\n   y\n   ```\n\n2. b", "ol(li(p code) li(p))"),
        ("- a\n- b\n## Next", "ul(li li) h2"),
        ("- a\n```py\nx\n```", "ul(li) code"),
        ("Intro:\n1) one\n2) two", "p ol(li li)"),
        ("> Quote:\n> - a\n>   - b", "blockquote(p ul(li(ul(li))))"),
        ("Text\n    - not a list", "p"),
        ("| a |\n|---|\n| 1 |\nafter", "table p"),
    ],
)
def test_list_normalisation(markdown: str, expected: str) -> None:
    assert shape(render_markdown(markdown)) == expected


def test_fence_right_after_a_paragraph_is_not_inside_it() -> None:
    root = parse(render_markdown("Run this:\n```bash\nls\n```\nThen that."))
    assert [element.tag for element in root.elements()] == ["p", "div", "p"]


def test_table_right_after_a_paragraph() -> None:
    root = parse(render_markdown("Compare:\n| a | b |\n|---|--:|\n| 1 | 2 |"))
    assert [element.tag for element in root.elements()] == ["p", "table"]
    assert root.find_all("th")[1].attrs == {"align": "right"}


def test_reference_definitions_do_not_leak_between_renders() -> None:
    assert 'href="https://a.example"' in render_markdown("[x][r]\n\n[r]: https://a.example")
    assert render_markdown("[x][r]") == "<p>[x][r]</p>"


def test_empty_text_renders_nothing() -> None:
    assert render_markdown("") == ""
    assert render_markdown("\n\n") == ""


# --- Safety. ---

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<!-- <script>alert(1)</script> -->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<a href="javascript:alert(1)">x</a>',
    "<a href=#x onclick=alert(1)>x</a>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<details open ontoggle=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    "[x](<java\nscript:alert(1)>)",
    "[x](  javascript:alert(1))",
    "[x](\x01javascript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](&#0000106;avascript:alert(1))",
    "[x](&#106avascript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](jav&NewLine;ascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](&amp;#106;avascript:alert(1))",
    "[x](%6Aavascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x](//evil.example/x)",
    "[x](javascript:alert(1)#https://ok.example)",
    '[x](#" onmouseover="alert(1))',
    '[x](https://ok.example "t\\" onmouseover=\\"alert(1)")',
    "[x][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "<vbscript:msgbox(1)>",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    '![x](https://ok.example/a.png" onerror="alert(1))',
    "[<img src=x onerror=alert(1)>](https://ok.example)",
    "**<img src=x onerror=alert(1)>**",
    "`<script>` <script>alert(1)</script>",
    "```html\n<script>alert(1)</script>\n```",
    '```"><script>alert(1)</script>\nx\n```',
    "- [ ] <input onfocus=alert(1) autofocus>",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "> <script>alert(1)</script>",
    "www.example.com/<script>alert(1)</script>",
    "x@example.com<script>alert(1)</script>",
    "[a](https://ok.example) [1]",
    '<https://ok.example/"onmouseover=alert(1)>',
    "<JAVASCRIPT:alert(1)>",
    "[a](<javascript:alert(1)>)",
    "[see <javascript:alert(1)>](https://ok.example)",
    '![*x* ![y](javascript:alert(1)) "<img src=x onerror=alert(1)>"](https://ok.example/a.png)',
    'mailto:x@ok.example"onmouseover=alert(1)',
    "xmpp:x@ok.example/<script>alert(1)</script>",
]

_FORBIDDEN_TAGS = {
    *("script", "iframe", "object", "embed", "svg", "math", "style", "form"),
    *("base", "meta", "link", "details", "textarea", "select", "frame", "frameset"),
}


def _safe_url(url: str) -> bool:
    """An independent re-statement of the allow-list (html.parser decoded the entities)."""
    while (decoded := html.unescape(url)) != url:
        url = decoded
    url = re.sub(r"[\x00-\x20\x7f]", "", url)
    return url.startswith("#") or re.match(r"(?i)(https?|mailto):", url) is not None


def assert_safe(fragment: str) -> None:
    root = parse(fragment)
    for element in root.iter():
        assert element.tag not in _FORBIDDEN_TAGS, fragment
        for name, value in element.attrs.items():
            assert not name.startswith("on"), fragment
            assert name not in ("style", "srcdoc", "formaction", "action"), fragment
            if name in ("href", "src"):
                assert value is not None, fragment
                assert _safe_url(value), fragment
        if element.tag == "input":
            assert element.attrs.get("type") == "checkbox"
            assert "disabled" in element.attrs
        if element.tag == "button":
            assert element.has_class("copy-code")


def test_there_are_enough_xss_payloads() -> None:
    assert len(XSS_PAYLOADS) >= 30


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payload_and_every_prefix_render_safely(payload: str) -> None:
    for end in range(1, len(payload) + 1):
        assert_safe(render_markdown(payload[:end], CITATIONS, streaming=True))
        assert_safe(render_markdown(payload[:end], CITATIONS))


@pytest.mark.parametrize("wrap", ["- {}", "1. x\n   {}", "> {}", "**{}**", "# {}", "| {} |"])
def test_xss_payloads_in_other_blocks_render_safely(wrap: str) -> None:
    for payload in XSS_PAYLOADS:
        assert_safe(render_markdown(wrap.format(payload), CITATIONS))


# fmt: off
MARKUP_PIECES = [
    "<", ">", "[", "]", "(", ")", "!", "`", "*", "_", "~", "&", "#", ";", ":",
    "\n", " ", "\t", '"', "'", "javascript", "java\tscript", "&#106;", "&#x6A;",
    "&colon;", "http", "https://ok.example", "mailto:", "data:", "onerror=",
    "<img src=x ", "<script>", "<svg", "- ", "1. ", "| a |\n|---|\n", "```\n",
    "[1]", "www.", "@example.com", "\\",
]
# fmt: on


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(MARKUP_PIECES), max_size=30))
def test_random_markup_renders_safely(pieces: list[str]) -> None:
    assert_safe(render_markdown("".join(pieces), CITATIONS))


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://example.com/a?b=c&d=e#f",
        "HTTPS://EXAMPLE.COM",
        "mailto:someone@example.com",
        "#a1-source-1",
        "  https://example.com",
        "&#104;ttps://example.com",
    ],
)
def test_allowed_urls(url: str) -> None:
    assert is_allowed_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x00javascript:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6a;avascript:alert(1)",
        "&#106avascript:alert(1)",
        "&amp;#106;avascript:alert(1)",
        "javascript&colon;alert(1)",
        "%6Aavascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.com",
        "//evil.example",
        "/relative/path",
        "relative/path",
        "",
    ],
)
def test_refused_urls(url: str) -> None:
    assert not is_allowed_url(url)


def test_disallowed_link_is_its_text_and_image_its_alt() -> None:
    assert render_markdown("a [b *c*](javascript:x) d") == "<p>a b <em>c</em> d</p>"
    assert render_markdown("a ![the alt](javascript:x) d") == "<p>a the alt d</p>"
    assert render_markdown("[rel](foo/bar)") == "<p>rel</p>"


def test_render_imports_without_yaml() -> None:
    # The page has no PyYAML: pymdownx.blocks imports it, so we must never import that.
    code = (
        "import sys; sys.modules['yaml'] = None\n"
        "from streamchat.render import render_markdown\n"
        "print(render_markdown('```py\\nx\\n```\\n- [ ] a ~~b~~ https://x.example'))\n"
        "assert 'pymdownx.blocks' not in sys.modules\n"
    )
    root = Path(__file__).parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert 'class="code-block"' in result.stdout


def test_an_answer_that_ends_with_a_code_block_renders_it_as_code() -> None:
    html = render_markdown("It shows it in code:\n\n```python\nreturn 2**attempt\n```\n")
    assert '<div class="code-block" data-lang="python">' in html
    assert "<strong>" not in html


# --- Markdown as models write it (the spec suites are in test_conformance.py). ---


def test_reference_links_resolve_across_blocks() -> None:
    text = (
        "See [docs][1] and [the guide].\n\nMore text.\n\n"
        "[1]: https://a.example/docs\n[the guide]: https://b.example 'Guide'\n"
    )
    root = parse(render_markdown(text))
    links = [link.attrs["href"] for link in root.find_all("a")]
    assert links == ["https://a.example/docs", "https://b.example"]
    assert "[1]:" not in visible_text(root)


def test_the_first_definition_of_a_label_wins() -> None:
    text = "[x]\n\n[x]: https://first.example\n\n[x]: https://second.example\n"
    assert 'href="https://first.example"' in render_markdown(text)


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("\\$5 each", "$5 each"),
        ("\\# not a heading", "# not a heading"),
        ("a\\|b \\~ \\@ \\%", "a|b ~ @ %"),
        ("\\*not emphasis\\*", "*not emphasis*"),
    ],
)
def test_backslash_escapes_every_ascii_punctuation(markdown: str, text: str) -> None:
    assert visible_text(parse(render_markdown(markdown))) == text


@pytest.mark.parametrize(
    ("markdown", "heading"),
    [("## Getting started with C#", "Getting started with C#"), ("# Title #", "Title")],
)
def test_atx_heading_closing_hashes_need_a_space(markdown: str, heading: str) -> None:
    root = parse(render_markdown(markdown))
    assert root.find_all("h1") + root.find_all("h2")
    assert visible_text(root) == heading


def test_hashtags_are_not_a_heading() -> None:
    assert render_markdown("#AI #ML") == "<p>#AI #ML</p>"


def test_tabs_stay_in_code_blocks() -> None:
    makefile = "```make\nall:\n\tgcc -o app main.c\n```"
    assert "\t</span>gcc" in render_markdown(makefile)
    assert render_markdown("    a\tb") == "<pre><code>a\tb\n</code></pre>"


@pytest.mark.parametrize("markdown", ["4*5.", "**foo bar **", "a `stray backtick", "x _y"])
def test_a_finished_answer_is_not_healed(markdown: str) -> None:
    assert visible_text(parse(render_markdown(markdown))) == markdown
    assert visible_text(parse(render_markdown(markdown, streaming=True))) != markdown


def test_escaped_pipe_in_a_table_code_span() -> None:
    root = parse(render_markdown("| f | g |\n|---|---|\n| `a\\|b` | x |"))
    assert [code.text() for code in root.find_all("code")] == ["a|b"]


def test_block_quote_inside_a_list_item() -> None:
    assert shape(render_markdown("- item\n\n  > quoted\n")) == "ul(li(p blockquote(p)))"


def test_quote_then_rule_is_not_a_heading() -> None:
    assert shape(render_markdown("> quote\n---\n")) == "blockquote(p) hr"


def test_setext_heading_takes_the_whole_paragraph() -> None:
    assert render_markdown("Foo\nbar\n===") == "<h1>Foo\nbar</h1>"


def test_footnotes() -> None:
    root = parse(render_markdown("Fact[^a] and more[^b].\n\n[^a]: First.\n[^b]: Second.\n"))
    refs = [(link.attrs["href"], link.text()) for link in root.find_all("a")]
    notes = [div.attrs.get("id") for div in root.find_all("div")]
    assert [href for href, _ in refs] == ["#" + str(note) for note in notes]
    assert [text for _, text in refs] == ["1", "2"]
    assert [str(note)[:5] for note in notes] == ["fn-a-", "fn-b-"]
    assert render_markdown("No note[^x].") == "<p>No note[^x].</p>"


def test_two_answers_on_one_page_have_their_own_footnote_ids() -> None:
    first = parse(render_markdown("A[^1].\n\n[^1]: From the first source.\n"))
    second = parse(render_markdown("B[^1].\n\n[^1]: From another source.\n"))
    first_id, second_id = (page.find_all("div")[0].attrs["id"] for page in (first, second))
    assert first_id != second_id
    assert first.find_all("a")[0].attrs["href"] == f"#{first_id}"
    assert second.find_all("a")[0].attrs["href"] == f"#{second_id}"


@pytest.mark.parametrize(
    ("markdown", "display"),
    [
        ("$x^2$", "inline"),
        ("\\(a^2 + b^2\\)", "inline"),
        ("$$\\frac{a}{b}$$", "block"),
        ("\\[ x = \\frac{a}{b} \\]", "block"),
    ],
)
def test_math_becomes_mathml(markdown: str, display: str) -> None:
    html = render_markdown(f"The formula {markdown} here.")
    assert f'<math display="{display}">' in html
    assert "\\" not in html
    assert "$" not in html


@pytest.mark.parametrize(
    "markdown",
    ["It costs $5 and $10.", "Pay \\$5 or `$x$` now", "Between $ 5 and $6"],
)
def test_prices_and_code_stay_text(markdown: str) -> None:
    assert "<math" not in render_markdown(markdown)


def test_math_keeps_its_underscores_and_stars_from_markdown() -> None:
    html = render_markdown("Take $a_1 * b_2$ and $c_3$.")
    assert "<em>" not in html
    assert html.count("<math") == 2


def test_math_attributes_and_elements_are_allow_listed() -> None:
    html = render_markdown("$\\href{javascript:alert(1)}{x}$ and $\\color{red}{y}$")
    assert "javascript" not in html
    assert "href=" not in html
    assert " style=" not in html


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        # CommonMark autolinks: any scheme is recognised, the URL policy decides.
        (
            "<https://ok.example/a\\[b>",
            '<p><a href="https://ok.example/a%5C%5Bb" rel="noopener noreferrer nofollow" '
            'target="_blank">https://ok.example/a\\[b</a></p>',
        ),
        ("<irc://foo.bar:2233/baz>", "<p>irc://foo.bar:2233/baz</p>"),
        ("<https://ok.example/a b>", "<p>&lt;https://ok.example/a b&gt;</p>"),
        # An inline link's destination has no spaces; its title follows whitespace.
        ("[a](/my uri)", "<p>[a](/my uri)</p>"),
        (
            '[a](https://ok.example "t "x" t")',
            '<p>[a](<a href="https://ok.example" '
            'rel="noopener noreferrer nofollow" target="_blank">https://ok.example</a> '
            '"t "x" t")</p>',
        ),
        # `[a] [b]` is two brackets, `[a][b]` with `b` undefined leaves `[b]` to be a link.
        ("[a] [b]\n\n[b]: #b", '<p>[a] <a href="#b">b</a></p>'),
        ("[a][b][c]\n\n[c]: #c", '<p>[a]<a href="#c">b</a></p>'),
        ("[a\\[][x\\[]\n\n[x\\[]: #x", '<p><a href="#x">a[</a></p>'),
        # An image's alt text is its description's plain text.
        ("![*a* `b*` ![c](#c)](#i)", '<p><img alt="a b* c" src="#i"></p>'),
        ("![**a**][i]\n\n[i]: #i", '<p><img alt="a" src="#i"></p>'),
        # GFM: `mailto:` is part of the link, `xmpp:` links are not made.
        (
            "mailto:me@ok.example.",
            '<p><a href="mailto:me@ok.example" rel="noopener noreferrer nofollow" '
            'target="_blank">mailto:me@ok.example</a>.</p>',
        ),
        ("xmpp:me@ok.example/home", "<p>xmpp:me@ok.example/home</p>"),
        # GFM strikethrough takes `~~` only: `~~~` is text.
        ("a ~~~no~~~ ~~yes~~", "<p>a ~~~no~~~ <del>yes</del></p>"),
        # A fence still open at the end of the answer runs to its end (CommonMark).
        ("Code:\n\n```\nx = 1", "<p>Code:</p>" + render_markdown("```\nx = 1\n```")),
        # An ordered item may interrupt a paragraph only if it starts at 1; 10 digits is text.
        ("Windows: 3 in\n14. rooms", "<p>Windows: 3 in\n14. rooms</p>"),
        ("1234567890. no", "<p>1234567890. no</p>"),
        ("003. yes", '<ol start="3">\n<li>yes</li>\n</ol>'),
        # Another bullet or delimiter starts another list.
        ("- a\n+ b", "<ul>\n<li>a</li>\n</ul>\n<ul>\n<li>b</li>\n</ul>"),
        ("1. a\n2) b", '<ol>\n<li>a</li>\n</ol>\n<ol start="2">\n<li>b</li>\n</ol>'),
        # Escapes: `\&` is no entity; a backtick run closes only with one as long.
        ("\\&ouml; ```a``", "<p>&amp;ouml; ```a``</p>"),
        # A table without body rows has none.
        (
            "| a |\n|---|",
            "<table>\n<thead>\n<tr>\n<th>a</th>\n</tr>\n</thead>\n<tbody></tbody>\n</table>",
        ),
        # HTML has no link inside a link: the inner one is its text.
        (
            "[see <https://x.example>](#y)",
            '<p><a href="#y">see https://x.example</a></p>',
        ),
    ],
)
def test_commonmark_and_gfm_inline_rules(markdown: str, expected: str) -> None:
    assert render_markdown(markdown) == expected
