"""The widget (static/embed.js on the host page, static/bridge.js in the chat page) across origins.

Three origins, as in production: the host page on http://localhost:<port>, the widget (the
built site of `make dist`) on http://127.0.0.1:<port>, and a third, hostile one on
http://127.0.0.1:<another port>. The back end allows the widget's origin with CORS. The host
page sends a strict CSP of its own (scripts only by nonce and from the widget's origin, styles
only by nonce), so the tests also show that the widget asks nothing more of a host's policy.

STREAMCHAT_SCREENSHOTS=1 makes the first test write docs/screenshots/widget.png.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any

import pytest
from playwright.sync_api import Browser, FrameLocator, Page, Request, expect

from server.retrieval import RetrievalAnswerer
from tests.browser.conftest import READY, ROOT, PageProblems, _free_port
from tests.browser.test_dist import backend, loopback_context

sys.path.insert(0, str(ROOT / "tools"))
from dist import build_site, content_security_policy, preview

SAMPLE_HOST_PAGE = (Path(__file__).parent / "host" / "index.html").read_text("utf-8")
NONCE = "c2FtcGxlLW5vbmNl"
QUESTION = "How does the page resume a dropped stream?"
# What the host page hears from the widget, recorded through the command queue.
LISTEN = """
  <script nonce="$nonce">
    window.heard = [];
    ["ready", "answer-started", "answer-changed", "answer", "error", "open", "close"]
    .forEach(function (name) {
      StreamChat.push(["on", name, function (detail) {
        heard.push({name: name, detail: detail});
      }]);
    });
  </script>
"""
# Counts the changes to the chat's answers, to see that an answer streamed in.
COUNT_UPDATES = """() => {
  window.updates = 0;
  new MutationObserver(() => { window.updates += 1; }).observe(
    document.querySelector("[data-role=answers]"),
    {childList: true, subtree: true, characterData: true});
}"""
LAUNCHER = "streamchat-widget .launcher"
PANEL = "streamchat-widget .panel"
WIDGET_FRAME = "streamchat-widget iframe"


class Pages:
    """Serves the pages a test registers, with the Content-Security-Policy in `csp`."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.csp = "default-src 'none'"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", owner.csp)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Origins:
    host: Pages
    host_origin: str
    third: Pages
    third_origin: str
    widget: str  # the directory of embed.js and the widget's index.html, no trailing slash
    widget_origin: str
    endpoint: str

    def page(
        self,
        name: str,
        *,
        extra: str = "",
        attributes: str = "",
        endpoint: str = "",
        third: bool = False,
    ) -> str:
        """Registers the sample host page, with `extra` markup before embed.js; its URL.

        `attributes` are added to embed.js's script tag, `endpoint` replaces the back end's
        usual one, and `third` serves the page from the third origin instead of the host's.
        """
        values = {"nonce": NONCE, "widget": self.widget, "endpoint": endpoint or self.endpoint}
        html = Template(SAMPLE_HOST_PAGE).substitute(
            values, extra=Template(extra).substitute(values)
        )
        html = html.replace(" defer></script>", f" {attributes} defer></script>".replace("  ", " "))
        pages, origin = (self.third, self.third_origin) if third else (self.host, self.host_origin)
        pages.pages[f"/{name}"] = html
        return f"{origin}/{name}"

    def raw(self, name: str, html: str) -> str:
        """Registers a page of the third origin; its URL."""
        self.third.pages[f"/{name}"] = Template(html).substitute(nonce=NONCE)
        return f"{self.third_origin}/{name}"


@pytest.fixture(scope="module")
def origins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origins]:
    host, third = Pages(), Pages()
    host_origin = f"http://localhost:{host.port}"
    third_origin = f"http://127.0.0.1:{third.port}"
    backend_port = _free_port()
    # The host is the one origin the widget talks to (embedHostOrigins). The third may frame
    # it too (frame-ancestors), so that what keeps it out in the tests is the widget's check.
    site = build_site(
        tmp_path_factory.mktemp("widget") / "dist",
        embed_origins=[host_origin],
        gzip_level=0,
        endpoints=[f"http://127.0.0.1:{backend_port}/api/chat"],
    )
    csp = content_security_policy(
        [f"http://127.0.0.1:{backend_port}"], frame_ancestors=[host_origin, third_origin]
    )
    try:
        with preview(site.out, "/chat/", csp) as widget_url:
            widget_origin = widget_url.removesuffix("/chat/")
            for pages in (host, third):
                pages.csp = (
                    f"default-src 'none'; script-src 'nonce-{NONCE}' {widget_origin}; "
                    f"style-src 'nonce-{NONCE}'; frame-src {widget_origin} {third_origin}"
                )
            with backend(widget_origin, backend_port, faults=True) as backend_url:
                yield Origins(
                    host=host,
                    host_origin=host_origin,
                    third=third,
                    third_origin=third_origin,
                    widget=widget_url.rstrip("/"),
                    widget_origin=widget_origin,
                    endpoint=backend_url + "api/chat",
                )
    finally:
        host.close()
        third.close()


@pytest.fixture
def page(browser: Browser, problems: PageProblems) -> Iterator[Page]:
    with loopback_context(browser, problems) as page:
        yield page


def widget_frame(page: Page) -> FrameLocator:
    return page.frame_locator(WIDGET_FRAME)


def heard(page: Page, name: str) -> list[Any]:
    details: list[Any] = page.evaluate(
        "(name) => heard.filter((e) => e.name === name).map((e) => e.detail)", name
    )
    return details


def wait_to_hear(page: Page, name: str, count: int = 1) -> list[Any]:
    page.wait_for_function(
        "([name, count]) => heard.filter((e) => e.name === name).length >= count", arg=[name, count]
    )
    return heard(page, name)


def test_the_widget_loads_no_python_until_opened_then_answers_and_tells_the_host(
    page: Page, origins: Origins, tmp_path: Path
) -> None:
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(origins.page("sample", extra=LISTEN))

    launcher = page.locator(LAUNCHER)
    expect(launcher).to_be_visible()
    expect(launcher).to_have_accessible_name("Ask the docs")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    expect(page.locator(WIDGET_FRAME)).to_have_count(0)
    assert [r.url for r in requests if r.url.startswith(origins.widget_origin)] == [
        origins.widget + "/embed.js"
    ]

    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("dialog", name="Ask the docs")).to_be_visible()
    frame = widget_frame(page)
    frame.locator(READY).wait_for(state="attached", timeout=60_000)
    assert wait_to_hear(page, "ready") == [{}]
    src = page.locator(WIDGET_FRAME).get_attribute("src") or ""
    assert src.startswith(origins.widget + "/index.html?embed=1&endpoint=")

    chat = next(f for f in page.frames if f.url.startswith(origins.widget + "/index.html"))
    chat.evaluate(COUNT_UPDATES)
    frame.locator("textarea[name=question]").fill(QUESTION)
    frame.locator("textarea[name=question]").press("Enter")
    answer = frame.locator("[data-role=answer]").first
    expect(answer).to_have_attribute("data-state", "done")
    assert chat.evaluate("window.updates") >= 3, "the answer appeared at once, not streamed"

    [told] = wait_to_hear(page, "answer")
    assert told["state"] == "done"
    assert "Last-Event-ID" in told["text"]
    # The answer's markdown, as the model wrote it (not the rendered text read back).
    assert told["text"] == RetrievalAnswerer().compose(QUESTION).markdown
    assert told["citations"], "the answer's sources reach the host"
    assert all(c["url"].startswith("https://") and c["title"] for c in told["citations"])
    # While it streamed, the host heard it start, then change: the markdown so far, growing.
    assert heard(page, "answer-started") == [{"question": QUESTION, "text": ""}]
    changes = [detail["text"] for detail in heard(page, "answer-changed")]
    assert len(changes) >= 2, "the host did not hear the answer stream"
    assert all(told["text"].startswith(text) for text in changes)
    assert changes == sorted(changes, key=len)

    # The picture for docs/: the question and the start of its answer.
    answer.evaluate("(answer) => answer.closest('li').scrollIntoView({block: 'start'})")
    screenshots = ROOT / "docs" / "screenshots"
    keep = os.environ.get("STREAMCHAT_SCREENSHOTS") == "1"
    page.screenshot(path=(screenshots if keep else tmp_path) / "widget.png")


def test_the_answer_event_keeps_the_markdowns_blocks_and_markers_show_their_source(
    page: Page, origins: Origins
) -> None:
    question = "What is Pyodide?"
    page.goto(origins.page("markdown", extra=LISTEN))
    page.locator(LAUNCHER).click()
    frame = widget_frame(page)
    frame.locator(READY).wait_for(state="attached", timeout=60_000)
    frame.locator("textarea[name=question]").fill(question)
    frame.locator("textarea[name=question]").press("Enter")
    answer = frame.locator("[data-role=answer]").first
    expect(answer).to_have_attribute("data-state", "done")

    [told] = wait_to_hear(page, "answer")
    # Paragraphs stay apart ("…[1].\n\nPython and…"), as the markdown has them; the text
    # read back from the DOM ran them together ("…[1].Python and…").
    assert told["text"] == RetrievalAnswerer().compose(question).markdown
    assert "micropip` [1].\n\nPython and JavaScript objects" in told["text"]
    assert told["citations"] == [
        {"id": "1", "title": "Pyodide", "url": "https://pyodide.org/en/stable/"}
    ]
    assert told["usage"] is None
    assert told["finish"] is None

    # In the widget too, a marker shows its source in a card that stays inside the panel,
    # and a click on it does not change the chat's URL.
    chat = next(f for f in page.frames if f.url.startswith(origins.widget + "/index.html"))
    before = chat.evaluate("location.href")
    marker = frame.locator("[data-role=answer-body] sup.citation-ref a").first
    expect(marker).to_have_accessible_name("Source 1: Pyodide")
    marker.click()
    card = frame.locator("[data-role=citation-card]")
    expect(card).to_be_visible()
    expect(card).to_contain_text("pyodide.org")
    assert chat.evaluate("location.href") == before
    box, panel = card.bounding_box(), page.locator(WIDGET_FRAME).bounding_box()
    assert box is not None
    assert panel is not None
    assert panel["x"] <= box["x"]
    assert box["x"] + box["width"] <= panel["x"] + panel["width"]
    assert panel["y"] <= box["y"]
    assert box["y"] + box["height"] <= panel["y"] + panel["height"]


def test_escape_stops_an_answer_then_closes_the_widget_and_the_conversation_stays(
    page: Page, origins: Origins
) -> None:
    loads: list[str] = []
    page.on("request", lambda r: loads.append(r.url) if "embed=1" in r.url else None)
    # An answer that stalls after its third event, so that it is still streaming at Escape.
    page.goto(origins.page("escape", extra=LISTEN, endpoint=origins.endpoint + "?fault=stall:3"))
    launcher = page.locator(LAUNCHER)
    launcher.focus()
    page.keyboard.press("Enter")
    frame = widget_frame(page)
    textarea = frame.locator("textarea[name=question]")
    # Opening moves the focus into the chat, so a keyboard user can type at once.
    expect(textarea).to_be_focused()
    frame.locator(READY).wait_for(state="attached", timeout=60_000)
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    answer = frame.locator("[data-role=answer]")
    expect(answer).to_have_attribute("data-state", "streaming")
    # Text has arrived: the answer is under way, and Escape will stop it.
    expect(answer.locator("[data-role=answer-body]")).not_to_be_empty()

    # The first Escape is the chat's: it stops the answer, and the panel stays open.
    page.keyboard.press("Escape")
    expect(answer).to_have_attribute("data-state", "stopped")
    expect(page.locator(PANEL)).to_be_visible()
    [told] = wait_to_hear(page, "answer")
    assert told["state"] == "stopped"

    page.keyboard.press("Escape")
    expect(page.locator(PANEL)).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Enter")
    expect(page.locator(PANEL)).to_be_visible()
    expect(textarea).to_be_focused()
    expect(answer).to_have_count(1)
    expect(answer).to_have_attribute("data-state", "stopped")
    assert len(loads) == 1, "the chat was loaded again"
    events = [event["name"] for event in page.evaluate("heard")]
    assert "answer-changed" in events[events.index("answer-started") : events.index("answer")]
    assert [name for name in events if name != "answer-changed"] == [
        "open",
        "ready",
        "answer-started",
        "answer",
        "close",
        "open",
    ]


def test_commands_pushed_before_the_script_loads_are_run(page: Page, origins: Origins) -> None:
    queue = """
  <script nonce="$nonce">
    StreamChat.push(["setTheme", "dark"], ["ask", "What is PyScript?"]);
  </script>
"""
    # With the fetch transport, for once: a POST, after a CORS preflight, to the back end.
    page.goto(origins.page("queue", extra=LISTEN + queue, attributes='data-transport="fetch"'))
    expect(page.locator(PANEL)).to_be_visible()
    frame = widget_frame(page)
    answer = frame.locator("[data-role=answer]")
    expect(answer).to_have_attribute("data-state", "done", timeout=60_000)
    [told] = wait_to_hear(page, "answer")
    assert "PyScript" in told["text"]
    assert "transport=fetch" in (page.locator(WIDGET_FRAME).get_attribute("src") or "")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("streamchat-widget .root")).to_have_attribute("data-theme", "dark")


SPOOF = """<!doctype html><title>An advertisement</title><body>
<script nonce="$nonce">
  // A third origin's frame on the host page poses as the widget. (It cannot pose as the host
  // to the widget: the widget's frame is in a shadow tree, so it is not in window.frames.)
  parent.postMessage({type: "answer", state: "done", text: "FAKE", citations: []}, "*");
  parent.postMessage({streamchat: "connect", type: "ready"}, "*");
  document.body.dataset.sent = "yes";
</script>
"""


def test_messages_from_a_third_origin_are_ignored_by_the_host(page: Page, origins: Origins) -> None:
    spoof_url = origins.raw("spoof", SPOOF)
    # Once the widget is ready, the host page gets a frame from the third origin.
    add_spoof = f"""
  <script nonce="$nonce">
    StreamChat.push(["on", "ready", function () {{
      var frame = document.createElement("iframe");
      frame.src = "{spoof_url}";
      frame.title = "An advertisement";
      document.querySelector("main").appendChild(frame);
    }}]);
  </script>
"""
    page.goto(origins.page("spoofed", extra=LISTEN + add_spoof))
    page.locator(LAUNCHER).click()
    spoof = page.frame_locator(f"iframe[src='{spoof_url}']")
    expect(spoof.locator("body")).to_have_attribute("data-sent", "yes", timeout=60_000)

    page.get_by_role("button", name="Ask the assistant about this page").click()
    [told] = wait_to_hear(page, "answer")
    assert "FAKE" not in told["text"]
    assert len(heard(page, "ready")) == 1
    expect(widget_frame(page).locator("[data-role=answer]")).to_have_count(1)


OUTSIDER = """
  <script nonce="$nonce">
    StreamChat.push(["ask", "What is PyScript?"]);
    // Refused, the outsider writes to the widget's frame itself: a bare command, and
    // another offer of a connection.
    window.replies = [];
    StreamChat.push(["on", "error", function () {
      var frame = document.querySelector("streamchat-widget").shadowRoot.querySelector("iframe");
      frame.contentWindow.postMessage({type: "ask", question: "SPOOF"}, "*");
      var channel = new MessageChannel();
      channel.port1.onmessage = function (event) { replies.push(event.data); };
      frame.contentWindow.postMessage({streamchat: "connect", version: 1}, "*", [channel.port2]);
    }]);
  </script>
"""


def test_a_page_whose_origin_is_not_allowed_cannot_drive_the_widget(
    page: Page, origins: Origins
) -> None:
    page.goto(origins.page("outsider", extra=LISTEN + OUTSIDER, third=True))
    [refusal, *_] = wait_to_hear(page, "error")
    assert "does not allow" in refusal["message"]
    assert origins.third_origin in refusal["message"]
    page.wait_for_function("replies.length === 1")
    assert page.evaluate("replies") == [{"type": "refused", "origin": origins.third_origin}]
    frame = widget_frame(page)
    frame.locator(READY).wait_for(state="attached", timeout=60_000)
    expect(frame.locator("[data-role=answer]")).to_have_count(0)
    expect(frame.locator("textarea[name=question]")).to_have_value("")
    assert heard(page, "ready") == []
    assert heard(page, "answer") == []


HOSTILE_CSS = """
  <style nonce="$nonce">
    * { color: red !important; font: 40px/3 serif !important; letter-spacing: 4px !important; }
    button { background: lime !important; border: 5px solid red !important; }
    button { padding: 30px !important; }
    iframe { border: 10px solid red !important; width: 50px !important; }
    section, header, span { display: none !important; }
  </style>
"""


def test_the_host_pages_css_does_not_reach_the_widget(page: Page, origins: Origins) -> None:
    page.goto(origins.page("hostile", extra=HOSTILE_CSS))
    launcher = page.locator(LAUNCHER)
    style = (
        "(el) => { const s = getComputedStyle(el);"
        " return [s.color, s.fontSize, s.backgroundColor, s.letterSpacing, s.paddingTop]; }"
    )
    assert launcher.evaluate(style) == [
        "rgb(255, 255, 255)",
        "15px",
        "rgb(29, 78, 216)",
        "normal",
        "0px",
    ]
    box = launcher.bounding_box()
    assert box is not None
    assert box["height"] == 48
    launcher.click()
    panel = page.locator(PANEL)
    expect(panel).to_be_visible()
    panel_box = panel.bounding_box()
    assert panel_box is not None
    assert panel_box["width"] == 400
    title = page.locator("streamchat-widget .title")
    expect(title).to_be_visible()
    assert title.evaluate(style)[:2] == ["rgb(31, 35, 40)", "15px"]
    assert (
        page.locator(WIDGET_FRAME).evaluate("(el) => getComputedStyle(el).borderTopWidth") == "0px"
    )
    # The chat page itself is another document: the host's rules do not apply there at all.
    textarea = widget_frame(page).locator("textarea[name=question]")
    assert textarea.evaluate(style)[0] != "rgb(255, 0, 0)"
