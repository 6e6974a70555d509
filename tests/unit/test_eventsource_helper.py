"""The buffered EventSource's JavaScript exists twice: static/eventsource.js for the page, and
streamchat/browser/eventsource_helper.py's HELPER_BODY for any other page (the wheel ships no
static files). They must say the same thing."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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


# The helper run in Node, with a stand-in EventSource whose events the test dispatches, and a
# stand-in reader that does what streamchat/browser/eventsource.py's does when woken: keeps
# what it was given, takes anything buffered since, then waits again. It logs how many events
# each wake-up took, and "task end" where the test's task that dispatched them ends.
_NODE_SCRIPT = """
const body = process.argv[1];
class FakeEventSource {
  constructor(url) { this.listeners = {}; this.readyState = 0; FakeEventSource.last = this; }
  addEventListener(type, listener) { (this.listeners[type] ||= []).push(listener); }
  emit(data) { for (const listener of this.listeners.message) listener({data, lastEventId: data}); }
  close() {}
}
globalThis.EventSource = FakeEventSource;
const buffer = new Function("url", body)("/api/chat");
const source = FakeEventSource.last;
const log = [];
const read = (given) => {
  let taken = given.length / 3;
  for (let items; (items = buffer.take(read)).length > 0;) taken += items.length / 3;
  log.push(taken);
};
buffer.take(read);
const chunk = (count) => {
  for (let i = 0; i < count; i++) source.emit(`e${i}`);
  log.push("task end");
};
chunk(50);  // a chunk of the stream holding 50 events, in one task
setTimeout(() => chunk(1), 20);  // then events in tasks of their own
setTimeout(() => chunk(1), 40);
setTimeout(() => { buffer.close(); console.log(JSON.stringify(log)); }, 60);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node")
def test_a_chunk_of_many_events_wakes_the_reader_twice_not_per_event() -> None:
    result = subprocess.run(
        ["node", "-e", _NODE_SCRIPT, _helper_body()],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    log = json.loads(result.stdout)
    # The first event wakes it at once, in its own task; the other 49 of the chunk wait for
    # one wake-up in a task after it, which takes them all; a lone event wakes it at once.
    assert log == [1, "task end", 49, 1, "task end", 1, "task end"]
