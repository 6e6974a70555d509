"""`python -m server` sends the security headers `make dist` has a host send (server/headers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.headers import content_security_policy, origin_of, page_policy
from server.settings import REPO_ROOT
from tests.server.conftest import AppFactory, client_for
from tests.server.helpers import ScriptedAnswerer

#: make dist's policy for a page with its back end on its own origin (docs/hosting.md).
DIST_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

pytestmark = pytest.mark.anyio


def page(config: dict[str, object]) -> str:
    return (
        '<!doctype html><html><head><script type="application/json" id="chat-config">'
        f"{json.dumps(config)}</script></head><body></body></html>"
    )


def directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";"))
    return {words[0]: words[1:] for words in parts if words}


def test_the_policy_is_make_dists_with_images_from_data_and_blob_urls() -> None:
    ours = directives(content_security_policy())
    theirs = directives(DIST_POLICY)
    assert ours.pop("img-src") == ["'self'", "data:", "blob:"]
    theirs.pop("img-src")
    assert ours == theirs


def test_the_page_configuration_names_the_back_ends_images_and_embedders() -> None:
    html = page(
        {
            "endpoint": "https://chat-api.example.org/api/chat",
            "endpoints": ["api/chat", "http://127.0.0.1:9000/api/chat", "javascript:x"],
            "embedHostOrigins": ["https://www.example.org", "https://x.example; script-src *"],
            "imageOrigins": ["https://images.example.org/"],
        }
    )
    policy = directives(page_policy(html, img_origins=["https://cdn.example.org"]))
    assert policy["connect-src"] == [
        "'self'",
        "https://chat-api.example.org",
        "http://127.0.0.1:9000",
    ]
    assert policy["img-src"] == [
        "'self'",
        "data:",
        "blob:",
        "https://images.example.org",
        "https://cdn.example.org",
    ]
    # A malformed origin is left out rather than let in a directive of its own.
    assert policy["frame-ancestors"] == ["https://www.example.org"]
    assert "script-src" in policy
    assert policy["script-src"] == ["'self'", "'unsafe-eval'"]


def test_the_repositorys_page_may_be_framed_by_nobody() -> None:
    html = (REPO_ROOT / "index.html").read_text(encoding="utf-8")
    assert directives(page_policy(html))["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://a.example/x?y", "https://a.example"),
        ("http://127.0.0.1:8000/api/chat", "http://127.0.0.1:8000"),
        ("https://user:pw@a.example/", "https://a.example"),
        ("api/chat", None),
        ("data:text/plain,x", None),
        ("https://a.example;x", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


async def test_the_page_static_files_and_api_carry_the_headers(
    make_app: AppFactory, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text(page({"embedHostOrigins": ["https://www.example.org"]}))
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "style.css").write_text("body {}")
    app = make_app(answerer=ScriptedAnswerer())
    async with client_for(app) as client:
        index = await client.get("/")
        style = await client.get("/static/style.css")
        api = await client.post("/api/chat", json={"question": "q", "rid": "r"})
        missing = await client.get("/static/nothing.js")
    for response in (index, style, api, missing):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    policy = directives(index.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["https://www.example.org"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert "content-security-policy" not in style.headers


async def test_the_policy_follows_an_edited_page(make_app: AppFactory, tmp_path: Path) -> None:
    index = tmp_path / "index.html"
    index.write_text(page({}))
    app = make_app(answerer=ScriptedAnswerer())
    async with client_for(app) as client:
        before = (await client.get("/")).headers["content-security-policy"]
        index.write_text(page({"embedHostOrigins": ["https://www.example.org"]}) + " ")
        after = (await client.get("/")).headers["content-security-policy"]
    assert "frame-ancestors 'none'" in before
    assert "frame-ancestors https://www.example.org" in after
