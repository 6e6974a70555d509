"""Markdown rendering in the browser: hostile answers stay inert while they stream, the
final DOM is the renderer's HTML for any chunking, code blocks can be copied, finished
blocks are never replaced (so a selection survives), and half-written markup never shows.

Answers are the question itself, streamed back by the back end's test-only `echo:N`
fault in tokens of N characters; a small `pace:` spreads them over many animation frames,
so the page renders many prefixes of each answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from streamchat.blocks import split_blocks
from streamchat.md_math import MATH_ATTRIBUTES, MATH_TAGS
from streamchat.render import render_markdown
from tests.browser.conftest import PageProblems, ask, open_page

HERE = Path(__file__).parent
CORPUS = HERE.parent / "unit" / "corpus"
# The back end accepts questions up to this long (server/chat_request.py).
MAX_QUESTION = 4000
# Milliseconds to wait for a streamed answer to finish (`expect` waits 5 s unless told).
STREAMED = 30_000


@dataclass(frozen=True)
class Payload:
    name: str
    text: str


def load_payloads() -> list[Payload]:
    """The hostile markdown of xss_payloads.txt (its header says how it is written)."""
    source = (HERE / "xss_payloads.txt").read_text(encoding="utf-8")
    payloads = []
    for part in source.split("\n%% ")[1:]:
        name, _, text = part.partition("\n")
        payloads.append(Payload(name, text.rstrip("\n").replace("<TAB>", "\t")))
    return payloads


PAYLOADS = load_payloads()


def open_echo(page: Page, server_url: str, transport: str, fault: str) -> Page:
    """Open the page against the echo answerer: every answer is its question, streamed."""
    endpoint = quote(f"api/chat?fault={fault}", safe="")
    return open_page(page, server_url, f"transport={transport}&endpoint={endpoint}")


def answer_body(answer: Locator) -> Locator:
    return answer.locator("[data-role=answer-body]")


def warm_up(page: Page) -> None:
    """Answer once before watching: the first render builds the Markdown instance and
    imports Pygments, which in Pyodide takes long enough for a whole short answer to
    arrive meanwhile and show in one frame."""
    warm = ask(page, "**Warm** up:\n\n```python\nx = 1\n```")
    expect(warm).to_have_attribute("data-state", "done", timeout=STREAMED)


# --- Browser-side probes. ---

# Installs `window.__probe`: what is unsafe about an element in an answer body, by the
# contract's rules (no script-capable element, no event handler or style attribute, links
# and images only to http(s), mailto or a #fragment), judged on the live DOM.
INSTALL_PROBE = r"""() => {
  const FORBIDDEN_TAGS = new Set([
    'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'form', 'meta',
    'base', 'link', 'style', 'svg', 'template', 'noscript', 'xmp', 'noembed', 'portal',
  ]);
  // MathML: exactly the elements and attributes that streamchat/md_math.py writes.
  const MATH_TAGS = new Set(__MATH_TAGS__);
  const MATH_ATTRIBUTES = new Set(__MATH_ATTRIBUTES__);
  const MATHML = 'http://www.w3.org/1998/Math/MathML';
  const STRICT_TAGS = new Set(['details', 'textarea', 'select', 'option', 'label', 'dialog']);
  const FORBIDDEN_ATTRIBUTES = new Set([
    'style', 'srcdoc', 'srcset', 'formaction', 'action', 'xlink:href', 'background',
    'poster', 'data', 'ping', 'http-equiv', 'contenteditable',
  ]);
  const allowedUrl = (value) => {
    // As the URL parser reads it: surrounding C0 controls and spaces, and any tab or
    // newline inside, are ignored.
    const url = value.replace(/[\t\n\r]/g, '').replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');
    if (!/^(?:https?:|mailto:|#)/i.test(url)) return false;
    return ['http:', 'https:', 'mailto:'].includes(new URL(url, document.baseURI).protocol);
  };
  // Strict: in an answer body, where only what the renderer writes belongs. Not strict:
  // what matters for safety alone (DOMPurify may keep an inert <details> or <input>).
  const problemsOf = (element, strict = true) => {
    const tag = element.localName;
    const found = [];
    const say = (what) => found.push(`<${tag}> ${what}: ${element.outerHTML.slice(0, 200)}`);
    const isMath = element.namespaceURI === MATHML && MATH_TAGS.has(tag);
    const isHtml = element.namespaceURI === 'http://www.w3.org/1999/xhtml';
    if (FORBIDDEN_TAGS.has(tag) || (!isHtml && !isMath)) {
      say('element');
    }
    if (isMath) {
      for (const {name} of Array.from(element.attributes)) {
        if (!MATH_ATTRIBUTES.has(name)) say(`math attribute ${name}`);
      }
    }
    if (strict) {
      if (STRICT_TAGS.has(tag)) say('element');
      // Task list boxes only (their type is checked by the sanitizer test below).
      if (tag === 'input' && !element.disabled) say('input');
      if (tag === 'button' && element.dataset.action !== 'copy-code') say('button');
    }
    for (const {name, value} of Array.from(element.attributes)) {
      if (name.startsWith('on') || FORBIDDEN_ATTRIBUTES.has(name)) say(`attribute ${name}`);
      if (strict && name === 'autofocus') say(`attribute ${name}`);
      if ((name === 'href' || name === 'src') && !allowedUrl(value)) say(`URL ${value}`);
    }
    return found;
  };
  const inspectTree = (root, strict = true) => {
    const found = root.nodeType === Node.ELEMENT_NODE ? problemsOf(root, strict) : [];
    if (root.querySelectorAll) {
      for (const element of root.querySelectorAll('*')) found.push(...problemsOf(element, strict));
    }
    return found;
  };
  window.__probe = {problemsOf, inspectTree};
}"""

INSTALL_PROBE = INSTALL_PROBE.replace("__MATH_TAGS__", json.dumps(sorted(MATH_TAGS))).replace(
    "__MATH_ATTRIBUTES__", json.dumps(sorted(MATH_ATTRIBUTES))
)

# Before the question is asked: anything that would show a script ran bumps `__pwned`,
# and a MutationObserver inspects every element and attribute that appears in an answer
# body while it streams, including those replaced again before anyone could look.
WATCH_ANSWERS = r"""() => {
  window.__pwned = 0;
  const pwned = () => { window.__pwned += 1; };
  window.alert = pwned;
  window.confirm = pwned;
  window.prompt = pwned;
  window.__violations = [];
  window.__tailRenders = 0;
  const BODY = '[data-role=answer-body]';
  const inBody = (node) => node.nodeType === Node.ELEMENT_NODE && node.closest(BODY) !== null;
  const watch = (records) => {
    for (const record of records) {
      if (record.type === 'attributes') {
        if (inBody(record.target) && !record.target.matches(BODY)) {
          window.__violations.push(...window.__probe.problemsOf(record.target));
        }
        continue;
      }
      if (record.target.classList && record.target.classList.contains('md-tail')) {
        window.__tailRenders += 1;
      }
      for (const node of record.addedNodes) {
        if (inBody(record.target)) {
          window.__violations.push(...window.__probe.inspectTree(node));
        } else if (node.querySelectorAll) {
          for (const body of node.querySelectorAll(BODY)) {
            for (const child of body.children) {
              window.__violations.push(...window.__probe.inspectTree(child));
            }
          }
        }
      }
    }
  };
  new MutationObserver(watch).observe(
    document.querySelector('[data-role=answers]'),
    {childList: true, subtree: true, attributes: true},
  );
}"""

WATCHED = """() => ({
  pwned: window.__pwned,
  violations: window.__violations,
  tailRenders: window.__tailRenders,
})"""

# The answer body as the reader sees it, next to the renderer's HTML for the same text,
# both normalised by the browser's own parser. The page puts the finished blocks, each in a
# `div.md-block`, in one `div.md-blocks`, then the live tail in `div.md-tail` (blocks and
# tail `display: contents`).
COMPARE_WITH_RENDERER = r"""(body, html) => {
  const normal = (fragment) => {
    const template = document.createElement('template');
    template.innerHTML = fragment;
    return template.innerHTML;
  };
  const [blocks, last, ...others] = Array.from(body.children);
  const wrappers = [...(blocks ? blocks.children : []), ...(last ? [last] : [])];
  return {
    shown: normal(wrappers.map((wrapper) => wrapper.innerHTML).join('')),
    sanitized: normal(window.streamchatSanitize(html)),
    strays: [
      ...(blocks && !blocks.matches('div.md-blocks') ? [blocks] : []),
      ...wrappers.filter((wrapper) => !wrapper.matches('div.md-block, div.md-tail')),
      ...others,
    ].map((wrapper) => wrapper.outerHTML.slice(0, 200)),
    tail: last && last.matches('div.md-tail') ? last.innerHTML : null,
    layer: blocks ? getComputedStyle(blocks).position : null,
  };
}"""


INSPECT_FRAGMENT = """(html) => {
  const template = document.createElement('template');
  template.innerHTML = html;
  return window.__probe.inspectTree(template.content);
}"""


def compare_with_renderer(body: Locator, text: str) -> dict[str, Any]:
    # Finished code blocks are coloured in idle time, after the answer is done.
    expect(body).not_to_have_attribute("data-colouring", re.compile(".*"))
    result: dict[str, Any] = body.evaluate(COMPARE_WITH_RENDERER, render_markdown(text))
    return result


def assert_shows_what_the_renderer_renders(body: Locator, text: str) -> None:
    dom = compare_with_renderer(body, text)
    assert dom["strays"] == [], "the answer body holds something besides blocks and tail"
    assert dom["tail"] == "", "the live tail is not empty (or not last) after the answer"
    # Positioned: a paint layer of its own, not painted again while only the tail changes.
    assert dom["layer"] == "relative"
    assert dom["shown"] == dom["sanitized"]


# --- Hostile answers. ---

# (transport, token size, payloads): every payload goes through fetch in one of two
# answers, and every third also through EventSource (as a GET query).
XSS_ANSWERS = [
    ("fetch", 1, PAYLOADS[0::2]),
    ("fetch", 3, PAYLOADS[1::2]),
    ("eventsource", 2, PAYLOADS[::3]),
]
# An allowed remote image would be fetched from another host, which fails every test.
REMOTE_IMAGE = re.compile(r"!\[[^\]\n]*\]\(\s*<?\s*(?:https?:)?//", re.IGNORECASE)


def hostile_answer(payloads: list[Payload]) -> str:
    return "\n\n".join(payload.text for payload in payloads)


def test_the_hostile_corpus_is_big_enough_and_fits_in_questions() -> None:
    assert len(PAYLOADS) >= 25
    assert len({payload.name for payload in PAYLOADS}) == len(PAYLOADS)
    streamed = [payload.name for _, _, payloads in XSS_ANSWERS[:2] for payload in payloads]
    assert sorted(streamed) == sorted(payload.name for payload in PAYLOADS)
    assert all(len(hostile_answer(payloads)) <= MAX_QUESTION for _, _, payloads in XSS_ANSWERS)
    assert not any(REMOTE_IMAGE.search(payload.text) for payload in PAYLOADS)


@pytest.mark.parametrize(
    ("transport", "echo", "payloads"),
    [pytest.param(*run, id=f"{run[0]}-echo{run[1]}") for run in XSS_ANSWERS],
)
def test_hostile_markdown_streamed_prefix_by_prefix_never_runs_or_shows_a_script(
    page: Page, server_url: str, transport: str, echo: int, payloads: list[Payload]
) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_echo(page, server_url, transport, f"echo:{echo},pace:0.002")
    warm_up(page)
    address, base = page.url, page.evaluate("document.baseURI")
    page.evaluate(INSTALL_PROBE)
    page.evaluate(WATCH_ANSWERS)
    text = hostile_answer(payloads)
    answer_view = ask(page, text)
    expect(answer_view).to_have_attribute("data-state", "done", timeout=STREAMED)
    body = answer_body(answer_view)

    watched: dict[str, Any] = page.evaluate(WATCHED)
    # The prefix-by-prefix proof: nothing unsafe appeared at any moment of the stream...
    assert watched["violations"] == []
    assert watched["tailRenders"] >= 5, "the answer was not streamed"
    # ...nor is it there at the end, and nothing ran.
    assert body.evaluate("(body) => window.__probe.inspectTree(body)") == []
    assert watched["pwned"] == 0
    assert dialogs == []
    assert len(page.frames) == 1, "a frame was created"
    assert (page.url, page.evaluate("document.baseURI")) == (address, base)
    question = page.locator("[data-role=question]").last
    expect(question).to_have_text(text.strip())
    assert question.evaluate("(node) => node.childElementCount") == 0

    # Every payload reached the reader as the renderer meant it...
    assert_shows_what_the_renderer_renders(body, text)
    # ...and the renderer's own HTML is safe by the same rules without DOMPurify, so the
    # second layer is not hiding a hole in the first.
    assert page.evaluate(INSPECT_FRAGMENT, render_markdown(text)) == []


# --- The final DOM is the renderer's HTML, whatever the chunking. ---


def corpus_answer(name: str) -> str:
    """A corpus answer, cut at a block boundary to what the back end accepts."""
    text = (CORPUS / name).read_text(encoding="utf-8").strip()
    if len(text) <= MAX_QUESTION:
        return text
    blocks, _tail = split_blocks(text)
    kept = ""
    for block in blocks:
        if len(kept + block) > MAX_QUESTION:
            break
        kept += block
    return kept.strip()


# Three token sizes; each answer is also cut by the page's frames wherever they fall.
CORPUS_RUNS = [
    pytest.param("fetch", 1, ["06_quote_and_breaks.md"], id="fetch-echo1"),
    pytest.param(
        "eventsource",
        7,
        ["03_comparison_table.md", "05_task_list.md", "07_code_heavy.md"],
        id="eventsource-echo7",
    ),
    pytest.param(
        "fetch",
        23,
        ["04_nested_lists.md", "13_api_reference.md", "12_long_guide.md"],
        id="fetch-echo23",
    ),
]


@pytest.mark.parametrize(("transport", "echo", "names"), CORPUS_RUNS)
def test_a_streamed_answer_ends_as_the_renderer_renders_it_whole(
    page: Page, server_url: str, transport: str, echo: int, names: list[str]
) -> None:
    open_echo(page, server_url, transport, f"echo:{echo},pace:0.002")
    for name in names:
        assert_streams_as_the_renderer_renders(page, corpus_answer(name))


def assert_streams_as_the_renderer_renders(page: Page, text: str) -> None:
    answer_view = ask(page, text)
    expect(answer_view).to_have_attribute("data-state", "done", timeout=STREAMED)
    body = answer_body(answer_view)
    # More than one block, so the comparison covers the blocks and the tail alike.
    assert body.locator("div.md-block").count() >= 2
    assert_shows_what_the_renderer_renders(body, text)


#: Every frame that renders shows its patches in the next frame, as one whose rendering took
#: long does on a slow phone (`FramePacer.show_apart`).
SHOW_EVERY_FRAME_APART = """async () => {
  const core = await import(new URL("static/vendor/pyscript/core.js", location.href).href);
  const python = (await core.whenDefined("py")).interpreter;
  python.runPython(
    "from streamchat.batcher import FramePacer\\n"
    + "FramePacer.show_apart = lambda self, started, rendered: True"
  );
}"""


def test_an_answer_shown_a_frame_after_each_render_ends_as_the_renderer_renders_it(
    page: Page, server_url: str
) -> None:
    # Code blocks in two languages: they are coloured in idle callbacks, which may come
    # between a frame that rendered a block and the frame that puts it in the DOM.
    open_echo(page, server_url, "eventsource", "echo:23,pace:0.002")
    page.evaluate(SHOW_EVERY_FRAME_APART)
    for name in ["07_code_heavy.md", "02_python_setup.md"]:
        assert_streams_as_the_renderer_renders(page, corpus_answer(name))


SANITIZE_RAW = """(html) => {
  const template = document.createElement('template');
  template.innerHTML = window.streamchatSanitize(html);
  return window.__probe.inspectTree(template.content, false);
}"""


SANITIZE = """(html) => {
  const normal = (fragment) => {
    const template = document.createElement('template');
    template.innerHTML = fragment;
    return template.innerHTML;
  };
  return {rendered: normal(html), sanitized: normal(window.streamchatSanitize(html))};
}"""


def test_the_sanitizer_keeps_what_the_renderer_writes_and_alone_stops_raw_html(
    page: Page, server_url: str, problems: PageProblems
) -> None:
    # Parsing raw payloads makes Chromium try their inline handlers, which the page's
    # Content-Security-Policy (server/headers.py) refuses and reports: a third layer.
    problems.expected_errors.append("violates the following Content Security Policy directive")
    open_page(page, server_url)
    page.evaluate(INSTALL_PROBE)
    texts = {path.name: path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.md"))}
    texts["hostile"] = hostile_answer(PAYLOADS)
    # The renderer's HTML passes DOMPurify unchanged: task boxes stay checkboxes, table
    # columns keep their alignment, ordered lists their start number.
    for name, text in texts.items():
        dom: dict[str, Any] = page.evaluate(SANITIZE, render_markdown(text))
        assert dom["rendered"] == dom["sanitized"], name
    # The second layer on its own: were the renderer to let the payloads through as raw
    # HTML, DOMPurify would still leave nothing that runs or navigates.
    for payload in PAYLOADS:
        assert page.evaluate(SANITIZE_RAW, payload.text) == [], payload.name


# --- Code blocks. ---

CODE = 'def greet(name):\n    return f"Hello, {name}!"\n\nprint(greet("world"))'


def test_a_streamed_code_block_has_a_language_label_and_copies_its_code(
    page: Page, server_url: str
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_echo(page, server_url, "fetch", "echo:3,pace:0.002")
    answer_view = ask(page, f"Here it is:\n\n```python\n{CODE}\n```\n\nRun it.")
    expect(answer_view).to_have_attribute("data-state", "done", timeout=STREAMED)
    block = answer_body(answer_view).locator(".code-block[data-lang=python]")
    expect(block).to_have_count(1)
    expect(block.locator(".code-lang")).to_have_text("python")
    # Highlighted by Pygments: `def` is a keyword, `greet` a function name.
    expect(block.locator("pre span.k", has_text="def")).to_have_count(1)
    expect(block.locator("pre span.nf")).to_have_text("greet")

    button = block.locator("button[data-action=copy-code]")
    expect(button).to_have_text("Copy")
    page.evaluate("navigator.clipboard.writeText('nothing copied yet')")
    button.click()
    expect(button).to_have_text("Copied")
    page.wait_for_function(
        "async () => (await navigator.clipboard.readText()) !== 'nothing copied yet'"
    )
    copied: str = page.evaluate("navigator.clipboard.readText()")
    assert copied.rstrip("\n") == CODE


# --- Finished blocks stay put, so a selection survives the stream. ---

SLOW_ANSWER = "\n\n".join(
    [
        "The **first** paragraph is finished early.",
        "- a list\n- of two",
        "A third paragraph.",
        "A fourth one.",
        "And a fifth.",
        "A sixth.",
        "A seventh.",
        "Then the *last*.",
    ]
)

# Selects the first block's text and records every change made inside that block.
HOLD_FIRST_BLOCK = """(block) => {
  window.__firstBlock = {html: block.innerHTML, mutations: 0};
  new MutationObserver((records) => { window.__firstBlock.mutations += records.length; })
    .observe(block, {childList: true, subtree: true, attributes: true, characterData: true});
  window.getSelection().selectAllChildren(block);
  return window.getSelection().toString();
}"""

FIRST_BLOCK_NOW = """(block) => ({
  connected: block.isConnected,
  first: block.parentElement.querySelector('div.md-block') === block,
  unchanged: block.innerHTML === window.__firstBlock.html,
  mutations: window.__firstBlock.mutations,
  selection: window.getSelection().toString(),
  anchored: block.contains(window.getSelection().anchorNode),
})"""


def test_finished_blocks_are_not_replaced_while_the_answer_streams(
    page: Page, server_url: str
) -> None:
    open_echo(page, server_url, "fetch", "echo:2,pace:0.03")
    answer_view = ask(page, SLOW_ANSWER)
    blocks = answer_body(answer_view).locator("div.md-block")
    expect(blocks.nth(1)).to_be_attached(timeout=STREAMED)
    expect(answer_view).to_have_attribute("data-state", "streaming")
    first = blocks.first.element_handle()
    selected = first.evaluate(HOLD_FIRST_BLOCK)
    assert selected.strip() == "The first paragraph is finished early."

    expect(blocks.nth(4)).to_be_attached(timeout=STREAMED)
    expected = {
        "connected": True,
        "first": True,
        "unchanged": True,
        "mutations": 0,
        "selection": selected,
        "anchored": True,
    }
    assert first.evaluate(FIRST_BLOCK_NOW) == expected
    expect(answer_view).to_have_attribute("data-state", "done", timeout=STREAMED)
    assert first.evaluate(FIRST_BLOCK_NOW) == expected


# --- Half-written markup never shows. ---

# Snapshots, on every change, the answer's text outside code (where no markdown marker
# should ever show), and whether it has a code block yet.
SNAPSHOT_TEXT = r"""() => {
  window.__snapshots = [];
  const answers = document.querySelector('[data-role=answers]');
  const snapshot = () => {
    const bodies = answers.querySelectorAll('[data-role=answer-body]');
    if (bodies.length === 0) return;
    const body = bodies[bodies.length - 1];
    const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    let text = '';
    while (walker.nextNode()) {
      if (walker.currentNode.parentElement.closest('pre, code, button') === null) {
        text += walker.currentNode.data;
      }
    }
    window.__snapshots.push({text, code: body.querySelector('.code-block pre') !== null});
  };
  new MutationObserver(snapshot)
    .observe(answers, {childList: true, subtree: true, characterData: true});
}"""

# (answer, text that must never show outside code, what the finished answer holds)
HEALING_CASES = [
    (
        "Some **bold text that goes on** and on, then *an italic aside* and ~~a struck word~~.",
        ["*", "~"],
        "strong, em, del",
    ),
    (
        'Install it:\n\n```python\nimport this\nprint("ok")\n```\n\nThen run it.',
        ["`"],
        ".code-block[data-lang=python]",
    ),
    (
        "Read [the guide](https://example.org/guide) and `inline code`, then __done__ it is.",
        ["](", "(https", "`", "_"],
        "a[href='https://example.org/guide'], code, strong",
    ),
]


def test_half_written_markup_never_shows_while_streaming(page: Page, server_url: str) -> None:
    open_echo(page, server_url, "fetch", "echo:1,pace:0.01")
    warm_up(page)
    page.evaluate(SNAPSHOT_TEXT)
    for text, never_shown, final_elements in HEALING_CASES:
        page.evaluate("window.__snapshots = []")
        answer_view = ask(page, text)
        expect(answer_view).to_have_attribute("data-state", "done", timeout=STREAMED)
        body = answer_body(answer_view)
        expect(body.locator(final_elements)).to_have_count(len(final_elements.split(",")))

        snapshots: list[dict[str, Any]] = page.evaluate("window.__snapshots")
        texts = [snapshot["text"] for snapshot in snapshots]
        assert len(set(texts)) >= 5, f"{text!r} was not streamed"
        shown = [(marker, seen) for seen in texts for marker in never_shown if marker in seen]
        assert shown == [], f"half-written markup of {text!r} showed"
        if "```" in text:
            # The open fence showed as code while it streamed, before the text after it.
            assert any(shot["code"] and "Then run" not in shot["text"] for shot in snapshots)
