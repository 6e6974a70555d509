"""`window.streamchatEventSource`, the buffered EventSource that `streamchat.browser.eventsource`
reads, defined from Python for a page that does not load static/eventsource.js.

The page loads the helper as a script; any other page gets the same JavaScript from here,
compiled with `Function` (PyScript pages allow it: PyScript itself needs `'unsafe-eval'`).
HELPER_BODY is static/eventsource.js's function body without its comments
(tests/unit/test_eventsource_helper.py holds them to that).
"""

from __future__ import annotations

import js  # type: ignore[import-not-found]

__all__ = ["HELPER_BODY", "ensure_eventsource_helper"]

#: The body of static/eventsource.js's `(url) => {...}`: events wait in a plain array and
#: Python takes them all at once, so the cost of crossing into Python is per batch.
HELPER_BODY = """
const native = new EventSource(url);
let items = [];
let wake = null;
const WAKE_APART_MS = 1;
let returnedAt = -Infinity;
let deferred = false;
const channel = new MessageChannel();
const wakeNow = () => {
  deferred = false;
  if (wake !== null && items.length > 0) {
    const call = wake;
    const taken = items;
    wake = null;
    items = [];
    call(taken);
    returnedAt = performance.now();
  }
};
channel.port1.onmessage = wakeNow;
const push = (kind, value, id) => {
  items.push(kind, value, id);
  if (wake === null || deferred) {
    return;
  }
  if (performance.now() - returnedAt < WAKE_APART_MS) {
    deferred = true;
    channel.port2.postMessage(null);
  } else {
    wakeNow();
  }
};
native.addEventListener("message", (event) => push("message", event.data, event.lastEventId));
native.addEventListener("open", () => push("open", null, null));
native.addEventListener("error", () => push("error", native.readyState, null));
return {
  native,
  take: (callback) => {
    const taken = items;
    items = [];
    wake = taken.length > 0 ? null : callback;
    return taken;
  },
  close: () => {
    native.close();
    channel.port1.close();
    items = [];
    wake = null;
  },
};
"""


def ensure_eventsource_helper() -> None:
    """Define `window.streamchatEventSource` unless the page already has it."""
    if not getattr(js.window, "streamchatEventSource", None):
        js.window.streamchatEventSource = js.Function.new("url", HELPER_BODY)
