// The browser's native EventSource, buffered for streamchat/browser/eventsource.py.
//
// A Python listener per event costs a call from JavaScript into Python and, to wake the
// waiting task, a callback scheduled back through JavaScript: about a quarter of a
// millisecond an event in Pyodide, half the main thread at 2,000 tokens a second. Here the
// events wait in a plain array and Python takes them all at once when it next runs, so
// its cost is per batch, not per event. Nothing else happens here: parsing, resuming and
// the retry policy stay in Python.
"use strict";

window.streamchatEventSource = (url) => {
  const native = new EventSource(url);
  // Flat triples: kind, value (data, or readyState for "error"), last event id.
  let items = [];
  let wake = null;
  // The browser hands over a chunk of the stream holding many events (a stream that got
  // ahead of a busy page) as one task: each event would wake Python anew, the task lasting
  // as long as all of them take. So an event that comes less than WAKE_APART_MS after
  // Python last returned wakes it in a task of its own (a MessageChannel message), which
  // takes every event of the chunk at once and works through them in time slices.
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
    // Everything received since the last take, oldest first; when there is nothing,
    // `callback` (a Python function) is called once, as soon as something arrives, with
    // what arrived (the same flat triples), so that waking costs one crossing, not two. A
    // direct call, not a promise: awaiting a promise from Python costs a microtask and
    // two short-lived proxies on every wake-up.
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
};
