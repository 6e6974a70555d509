// Instrumentation for bench/render.py, evaluated in the page once it is ready and before the
// question is asked. It only observes: the page's own code runs unchanged.
//
// - Token arrival: the body of the chat endpoint's POST response is read eagerly as bytes
//   come in; each token event's arrival time (performance.now()) and the answer's length
//   so far (characters of token text) are noted. The page reads the same bytes from a
//   pull-based stream behind it, so `consumed` says how much text the page has taken.
// - Updates: `?measure=1` makes the page call performance.mark("answer-update-start")
//   and performance.measure("answer-update", ...) around every DOM update of the answer.
//   Wrapping those two calls notes, per update: start, duration, the text consumed by the
//   page when it started, and whether it ran inside a requestAnimationFrame callback.
// - Paint: after each update, a MessageChannel task is queued: from inside a frame callback
//   at once (it runs once that frame's style, layout and paint are done), otherwise from
//   the next frame callback. Its time is "painted": main-thread paint, not the compositor's
//   presentation, which headless Chromium does not expose.
// - Long tasks: a buffered PerformanceObserver for "longtask" entries, and one for
//   "long-animation-frame" entries, whose scripts say what ran in a long frame.
// - The end: when an answer's data-state becomes "done".
(() => {
  if (window.__bench) return;
  const bench = (window.__bench = {
    tokens: [], // [arrival ms, answer length after this token]
    updates: [], // {start, duration, consumed, inFrame, painted}
    longTasks: [], // [start ms, duration ms]
    longFrames: [], // {start, duration, scripts: [{invoker, type, duration}]}
    received: 0,
    consumed: 0,
    frameDepth: 0,
    pending: null,
    doneAt: null,
  });

  new MutationObserver(() => {
    if (bench.doneAt === null && document.querySelector("[data-role=answer][data-state=done]")) {
      bench.doneAt = performance.now();
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-state"] });

  const requestFrame = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) =>
    requestFrame((timestamp) => {
      bench.frameDepth++;
      try {
        return callback(timestamp);
      } finally {
        bench.frameDepth--;
      }
    });

  const channel = new MessageChannel();
  const afterPaint = [];
  channel.port1.onmessage = () => afterPaint.shift()();
  const whenPainted = (inFrame, callback) => {
    const queue = () => {
      afterPaint.push(callback);
      channel.port2.postMessage(null);
    };
    if (inFrame) queue();
    else requestFrame(queue);
  };

  const mark = performance.mark.bind(performance);
  performance.mark = (name, ...rest) => {
    if (name === "answer-update-start") {
      bench.pending = { consumed: bench.consumed, inFrame: bench.frameDepth > 0 };
    }
    return mark(name, ...rest);
  };
  const measure = performance.measure.bind(performance);
  performance.measure = (name, ...rest) => {
    const entry = measure(name, ...rest);
    if (name === "answer-update" && bench.pending) {
      const update = {
        start: entry.startTime,
        duration: entry.duration,
        consumed: bench.pending.consumed,
        inFrame: bench.pending.inFrame,
        painted: null,
      };
      bench.pending = null;
      bench.updates.push(update);
      whenPainted(update.inFrame, () => {
        update.painted = performance.now();
      });
    }
    return entry;
  };

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) bench.longTasks.push([entry.startTime, entry.duration]);
  }).observe({ type: "longtask", buffered: true });
  if (PerformanceObserver.supportedEntryTypes.includes("long-animation-frame")) {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        bench.longFrames.push({
          start: entry.startTime,
          duration: entry.duration,
          scripts: entry.scripts.map((script) => ({
            invoker: script.invoker,
            type: script.invokerType,
            duration: script.duration,
          })),
        });
      }
    }).observe({ type: "long-animation-frame", buffered: true });
  }

  const originalFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const response = await originalFetch(input, init);
    const method = ((init && init.method) || "GET").toUpperCase();
    const url = typeof input === "string" ? input : input.url;
    if (method !== "POST" || !url.includes("api/chat") || !response.body) return response;
    return new Response(observed(response.body), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };

  function observed(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const chunks = []; // [bytes, answer length once they are read]
    let text = "";
    let ended = false;
    let failure = null;
    let wake = null;
    (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const now = performance.now();
          text += decoder.decode(value, { stream: true });
          let end;
          while ((end = text.indexOf("\n\n")) >= 0) {
            for (const line of text.slice(0, end).split("\n")) {
              if (!line.startsWith("data: {")) continue;
              const message = JSON.parse(line.slice(6));
              if (message.type === "token") {
                bench.received += message.text.length;
                bench.tokens.push([now, bench.received]);
              }
            }
            text = text.slice(end + 2);
          }
          chunks.push([value, bench.received]);
          if (wake) wake();
        }
      } catch (error) {
        failure = error;
      }
      ended = true;
      if (wake) wake();
    })();
    return new ReadableStream(
      {
        async pull(controller) {
          while (!chunks.length && !ended) await new Promise((resolve) => (wake = resolve));
          wake = null;
          if (chunks.length) {
            const [value, length] = chunks.shift();
            bench.consumed = length;
            controller.enqueue(value);
          } else if (failure) controller.error(failure);
          else controller.close();
        },
        cancel(reason) {
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }
})();
