"""The buffered EventSource's JavaScript exists twice: static/eventsource.js for the page, and
streamchat/browser/eventsource_helper.py's HELPER_BODY for any other page (the wheel ships no
static files). They must say the same thing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _helper_body() -> str:
    tree = ast.parse((ROOT / "streamchat/browser/eventsource_helper.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "HELPER_BODY":
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError("no HELPER_BODY")


def _code_lines(source: str) -> list[str]:
    lines = (line.strip() for line in source.splitlines())
    return [line for line in lines if line and not line.startswith("//")]


def test_helper_body_is_the_static_files_function_body() -> None:
    static = (ROOT / "static/eventsource.js").read_text("utf-8")
    match = re.search(r"window\.streamchatEventSource = \(url\) => \{\n(.*)\n\};\s*$", static, re.S)
    assert match, "static/eventsource.js no longer defines window.streamchatEventSource"
    assert _code_lines(match.group(1)) == _code_lines(_helper_body())
