"""Sign-in in the browser, against the real back end started with `--require-token`.

The back end has no token provider of its own (a deployer's sign-in issues the tokens), so
the tests serve `/auth/token` with Playwright's `page.route`, minting tokens with
server.auth, and give the page a `#chat-config` with `"tokenUrl"` the same way. Every
request is recorded, to check what carries the token: the Authorization header of the
fetch transport, of each ticket request and of Stop's DELETE, and never any URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from server.auth import TokenAuthority
from tests.browser.conftest import READY, PageProblems, ask, running_backend
from tests.browser.test_dist import loopback_context
from tests.browser.test_embed import Pages

SECRET = "a-test-secret-of-32-characters!!"
QUESTION = "How does the page resume a dropped stream?"
AUTHORITY = TokenAuthority(SECRET)
EXPIRED = "The access token has expired; please sign in again."
CONFIG = re.compile(r'(<script type="application/json" id="chat-config">)(.*?)(</script>)', re.S)


@pytest.fixture(scope="module")
def signed_in_url() -> Iterator[str]:
    """The back end with sign-in (and fault injection, to drop a stream on purpose)."""
    with running_backend("--require-token", SECRET, "--faults") as url:
        yield url


def valid_token(subject: str = "alice") -> str:
    return AUTHORITY.issue(subject, 600)


def expired_token(subject: str = "alice") -> str:
    return AUTHORITY.issue(subject, -120)  # past the back end's 30 s of leeway


@dataclass
class Traffic:
    """Every request the page made."""

    requests: list[Request] = field(default_factory=list)

    def record(self, request: Request) -> None:
        self.requests.append(request)

    def to(self, path: str, method: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if urlsplit(r.url).path == path and (method is None or r.method == method)
        ]

    def assert_no_url_holds(self, *tokens: str) -> None:
        for request in self.requests:
            for token in tokens:
                assert token not in request.url, f"a token in a URL: {request.url}"


def serve_page(page: Page, **config: object) -> None:
    """The chat page with `config` merged into its `#chat-config` (and, for `embedHostOrigins`,
    the Content-Security-Policy's frame-ancestors to match, as the back end would make it)."""

    def handle(route: Route) -> None:
        response = route.fetch()
        text = response.text()
        match = CONFIG.search(text)
        assert match, "index.html has no #chat-config"
        merged = json.dumps({**json.loads(match.group(2)), **config})
        body = CONFIG.sub(lambda m: m.group(1) + merged + m.group(3), text)
        headers = dict(response.headers)
        hosts = config.get("embedHostOrigins")
        if isinstance(hosts, list):
            headers["content-security-policy"] = headers["content-security-policy"].replace(
                "frame-ancestors 'none'", "frame-ancestors " + " ".join(hosts)
            )
        route.fulfill(response=response, body=body, headers=headers)

    page.route(lambda url: urlsplit(url).path in ("/", "/index.html"), handle)


def provide_tokens(page: Page, *replies: str | tuple[int, str]) -> list[str]:
    """Serves `/auth/token`: each reply in turn (the last one again when they run out). A str is
    a token (valid for 600 s, says the reply); a tuple a status and a JSON error body. Returns
    the list of what it handed out ("" for an error)."""
    provided: list[str] = []

    def handle(route: Route) -> None:
        reply = replies[min(len(provided), len(replies) - 1)]
        if isinstance(reply, str):
            provided.append(reply)
            body = json.dumps({"token": reply, "expires_in": 600})
            route.fulfill(status=200, content_type="application/json", body=body)
        else:
            provided.append("")
            route.fulfill(status=reply[0], content_type="application/json", body=reply[1])

    page.route("**/auth/token", handle)
    return provided


def open_chat(page: Page, url: str, query: str = "", **config: object) -> Traffic:
    """The chat page from `url` with `config` in its `#chat-config`, ready; its requests."""
    traffic = Traffic()
    page.on("request", traffic.record)
    serve_page(page, **config)
    page.goto(url + ("?" + query if query else ""))
    page.wait_for_selector(READY, timeout=60_000)
    return traffic


def bearer(request: Request) -> str | None:
    return request.headers.get("authorization")


def test_eventsource_asks_a_new_ticket_for_every_connection_and_the_answer_streams(
    page: Page, signed_in_url: str
) -> None:
    token = valid_token()
    provided = provide_tokens(page, token)
    # The stream drops after event 3, so the answer needs two EventSources.
    endpoint = quote("api/chat?fault=drop:3", safe="")
    query = f"transport=eventsource&endpoint={endpoint}"
    traffic = open_chat(page, signed_in_url, query, tokenUrl="/auth/token")

    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator("[data-role=answer-body]")).to_contain_text("Last-Event-ID")

    tickets = traffic.to("/api/ticket", "POST")
    streams = traffic.to("/api/chat", "GET")
    assert len(streams) == 2, [s.url for s in streams]
    assert len(tickets) == len(streams), "one ticket before every EventSource opened"
    assert all(bearer(t) == f"Bearer {token}" for t in tickets)
    queries = [parse_qs(urlsplit(s.url).query) for s in streams]
    used = [q["ticket"][0] for q in queries]
    assert len(set(used)) == len(used), "a ticket was sent twice (a native reconnect?)"
    assert "last_event_id" not in queries[0]
    assert queries[1]["last_event_id"] == ["3"]
    assert all(bearer(s) is None for s in streams)
    assert provided == [token], "the provider's token is kept, not asked for each time"
    traffic.assert_no_url_holds(token)


SET_TOKEN_EARLY = """(token) => document.addEventListener("DOMContentLoaded", () => {
  // The page's own script, before the Python runtime has loaded.
  window.streamchat.setToken(token);
})"""


def test_fetch_sends_the_token_in_a_header_also_to_stop_and_never_in_a_url(
    page: Page, signed_in_url: str
) -> None:
    token = valid_token()
    page.add_init_script(f"({SET_TOKEN_EARLY})({json.dumps(token)})")
    endpoint = quote("api/chat?fault=pace:0.2", safe="")  # slow, so that Stop finds it streaming
    # No provider: the page's own script set the token.
    traffic = open_chat(page, signed_in_url, f"transport=fetch&endpoint={endpoint}")

    answer = ask(page, QUESTION)
    expect(answer.locator("[data-role=answer-body]")).not_to_be_empty()
    with page.expect_response(lambda r: r.request.method == "DELETE") as stopped:
        page.click("button[data-action=stop]")
    expect(answer).to_have_attribute("data-state", "stopped")
    assert stopped.value.status == 204, "the DELETE was refused: it carried no valid token"

    [post] = traffic.to("/api/chat", "POST")
    [delete] = traffic.to("/api/chat", "DELETE")
    assert bearer(post) == f"Bearer {token}"
    assert bearer(delete) == f"Bearer {token}"
    assert traffic.to("/api/ticket") == [], "fetch sends headers: it needs no tickets"
    assert traffic.to("/auth/token") == []
    traffic.assert_no_url_holds(token)


@pytest.mark.parametrize("transport", ["eventsource", "fetch"])
def test_an_expired_token_is_renewed_from_the_provider_and_the_answer_streams(
    page: Page, signed_in_url: str, transport: str, problems: PageProblems
) -> None:
    problems.expected_errors.append("status of 401")  # the browser logs the refused request
    # The provider's first token has expired already, though its reply says 600 s.
    old, new = expired_token(), valid_token()
    provided = provide_tokens(page, old, new)
    traffic = open_chat(page, signed_in_url, f"transport={transport}", tokenUrl="/auth/token")

    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done")
    assert provided == [old, new]
    refused_path = "/api/ticket" if transport == "eventsource" else "/api/chat"
    assert [bearer(r) for r in traffic.to(refused_path, "POST")] == [
        f"Bearer {old}",
        f"Bearer {new}",
    ]
    traffic.assert_no_url_holds(old, new)


def test_a_refused_ticket_in_the_stream_is_followed_by_a_new_token_and_ticket(
    page: Page, signed_in_url: str
) -> None:
    first, second = valid_token(), valid_token("alice-again")
    provided = provide_tokens(page, first, second)
    spoiled: list[str] = []

    def spoil_the_first_ticket(route: Route) -> None:
        # As if the ticket had been spent or had expired on the way: the back end says so
        # with an error event (code "auth"), all a native EventSource can read.
        if route.request.method == "GET" and not spoiled:
            spoiled.append(route.request.url)
            route.continue_(url=re.sub(r"ticket=[^&]+", "ticket=spent", route.request.url))
        else:
            route.continue_()

    page.route(lambda url: urlsplit(url).path == "/api/chat", spoil_the_first_ticket)
    traffic = open_chat(page, signed_in_url, tokenUrl="/auth/token")

    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "done")
    assert spoiled
    assert provided == [first, second]
    assert [bearer(r) for r in traffic.to("/api/ticket")] == [f"Bearer {first}", f"Bearer {second}"]


def test_a_provider_that_keeps_failing_ends_the_answer_with_a_clear_message_and_no_loop(
    page: Page, signed_in_url: str, problems: PageProblems
) -> None:
    problems.expected_errors.append("status of 401")
    # First the provider hands out only expired tokens; then it says the reader is signed out.
    provided = provide_tokens(page, expired_token(), expired_token("alice-2"))
    traffic = open_chat(page, signed_in_url, tokenUrl="/auth/token")

    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "error")
    alert = answer.locator("[role=alert]")
    expect(alert).to_contain_text(EXPIRED)  # the back end's own words
    expect(alert.locator("button[data-action=retry]")).to_have_count(0)
    assert len(provided) == 2, "asked once, and once more after the refusal"
    assert len(traffic.to("/api/ticket")) == 2
    assert traffic.to("/api/chat") == [], "no EventSource without a ticket"

    page.unroute("**/auth/token")
    provide_tokens(page, (401, '{"error": "You are signed out."}'))
    second = ask(page, "And how are tokens kept?")
    expect(second).to_have_attribute("data-state", "error")
    expect(second.locator("[role=alert]")).to_contain_text("Could not sign in: You are signed out.")
    # The refused token was forgotten: the provider was asked, once, and nothing else.
    assert len(traffic.to("/auth/token")) == 3
    assert len(traffic.to("/api/ticket")) == 2


def test_without_a_token_nothing_changes_and_no_ticket_is_asked_for(
    page: Page, signed_in_url: str
) -> None:
    traffic = open_chat(page, signed_in_url)  # no tokenUrl, no setToken

    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-state", "error")
    # The back end's own words, as its error event carried them.
    expect(answer.locator("[role=alert]")).to_contain_text(
        "Please sign in: this server needs an access token."
    )
    [stream] = traffic.to("/api/chat")
    assert "ticket" not in parse_qs(urlsplit(stream.url).query)
    assert traffic.to("/api/ticket") == []
    assert traffic.to("/auth/token") == []
    assert all(bearer(r) is None for r in traffic.requests)


def test_a_token_provider_on_another_origin_is_refused_visibly(
    page: Page, signed_in_url: str
) -> None:
    traffic = Traffic()
    page.on("request", traffic.record)
    serve_page(page, tokenUrl="https://login.example.org/token")
    page.goto(signed_in_url)
    page.wait_for_selector("html[data-app-state=failed]", timeout=60_000)
    banner = page.locator("[data-role=load-banner]")
    expect(banner).to_contain_text('"tokenUrl" must be a path on this page\'s own site')
    assert not [r for r in traffic.requests if "login.example.org" in r.url]


HOST = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title></head>
<body><h1>Someone's documentation</h1>
<script>
  window.heard = [];
  window.StreamChat = window.StreamChat || [];
  ["ready", "answer", "error"].forEach(function (name) {
    StreamChat.push(["on", name, function (detail) { heard.push({name: name, detail: detail}); }]);
  });
  // The host's own sign-in gave it a token for the chat's back end.
  StreamChat.push(["setToken", "$token"], ["ask", "$question"]);
</script>
<script src="$widget/static/embed.js" defer></script>
</body></html>"""


def test_the_widgets_host_sets_the_token(
    browser: Browser, signed_in_url: str, problems: PageProblems
) -> None:
    token = valid_token("host-user")
    widget_origin = signed_in_url.rstrip("/")
    # The host page on another origin, a real server on loopback (Chromium refuses a page
    # Playwright makes up from loading scripts from the loopback address space).
    host = Pages()
    host_origin = f"http://localhost:{host.port}"
    host.csp = (
        f"default-src 'none'; script-src 'unsafe-inline' {widget_origin}; frame-src {widget_origin}"
    )
    host.pages["/host.html"] = (
        HOST.replace("$token", token)
        .replace("$question", QUESTION)
        .replace("$widget", widget_origin)
    )
    try:
        with loopback_context(browser, problems) as page:
            traffic = Traffic()
            page.on("request", traffic.record)
            serve_page(page, embedHostOrigins=[host_origin])
            page.goto(f"{host_origin}/host.html")

            page.wait_for_function("() => heard.some((e) => e.name === 'answer')", timeout=60_000)
            answers = "() => heard.filter((e) => e.name === 'answer').map((e) => e.detail)"
            [told] = page.evaluate(answers)
            assert told["state"] == "done"
            assert "Last-Event-ID" in told["text"]
            assert page.evaluate("() => heard.filter((e) => e.name === 'error')") == []
    finally:
        host.close()
    tickets = traffic.to("/api/ticket", "POST")
    assert tickets
    assert all(bearer(t) == f"Bearer {token}" for t in tickets)
    assert traffic.to("/auth/token") == []
    traffic.assert_no_url_holds(token)
