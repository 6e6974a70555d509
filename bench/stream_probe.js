// Instrumentation for bench/stream_cost.py, added as an init script (before any page script)
// to the real page and to the anchor pages alike. It only observes; bench/stream_cost.py
// prepends `window.__probeConfig = {target, done, failed}`: the selector of the element whose
// text is the answer (the last match counts), the selector that matches once the answer is
// final, and one that matches if it failed (logged as "bench:failed …" for the benchmark).
//
// - Arrival: window.EventSource is replaced by a subclass whose constructor adds a "message"
//   listener before the page can add its own, so it runs first for every event: it notes
//   performance.now() and the answer's length so far (characters of token text) per token
//   event, and the time the "[DONE]" event came.
// - Visible: once armed, a MutationObserver watches the document. On a change it counts the
//   letters and digits ([A-Za-z0-9]) of the answer element's textContent, in the frame that
//   will paint it: at once when the change was made by a requestAnimationFrame callback
//   (window.requestAnimationFrame is wrapped to know), otherwise from a frame callback of its
//   own in the next frame. A MessageChannel message posted from the frame's first callback
//   runs once that frame's style, layout and paint are done: its time is when that count
//   became visible (main-thread paint; headless Chromium exposes no presentation time).
// - Final: when `done` first matches, the same way: the paint of the frame that shows it.
// - Input: capture listeners on window (registered before the page's) note, for keydown,
//   pointerdown and click, performance.now() − event.timeStamp: the input delay, as Event
//   Timing's processingStart − startTime. Event Timing entries (duration ≥ 16 ms) are kept
//   too, as are long tasks and long animation frames (buffered observers).
// - Its own cost: the time spent in its callbacks (probeMs, and each callback's span in
//   probeSpans), reported beside the trace's and taken out of the tasks it ran in.
(() => {
  if (window.__probe) return;
  const config = window.__probeConfig || {};
  const now = () => performance.now();
  const probe = (window.__probe = {
    armed: false,
    arrivals: [], // [ms, answer characters after this token]
    firstArrival: null,
    doneArrival: null,
    frames: [], // [painted ms, letters and digits visible]
    doneSeen: null,
    donePainted: null,
    inputs: [], // [type, delay ms, event timeStamp]
    eventTiming: [], // [name, startTime, delay, duration]
    longTasks: [], // [start, duration]
    longFrames: [], // [start, duration, blockingDuration]
    probeMs: 0,
    probeSpans: [], // flat: start, end of each of its callbacks (ms), taken out of the tasks
    errors: [],
  });
  const spent = (start) => {
    const end = now();
    probe.probeMs += end - start;
    probe.probeSpans.push(start, end);
  };
  let received = 0;

  // Arrival ---------------------------------------------------------------------------------
  const onMessage = (event) => {
    const start = now();
    const data = event.data;
    if (data === "[DONE]") {
      if (probe.doneArrival === null) probe.doneArrival = start;
    } else {
      try {
        const message = JSON.parse(data);
        if (message.type === "token") {
          received += message.text.length;
          probe.arrivals.push([start, received]);
          if (probe.firstArrival === null) {
            probe.firstArrival = start;
            console.log("bench:first");
          }
        } else if (message.type === "error") {
          probe.errors.push(String(message.message));
        }
      } catch (error) {
        probe.errors.push(String(error));
      }
    }
    spent(start);
  };
  const NativeEventSource = window.EventSource;
  window.EventSource = class ProbedEventSource extends NativeEventSource {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", onMessage);
    }
  };

  // Frames ----------------------------------------------------------------------------------
  const nativeFrame = window.requestAnimationFrame.bind(window);
  const channel = new MessageChannel();
  const counts = new Map(); // frame timestamp → letters and digits counted in that frame
  let frameStamp = null; // the timestamp of the frame being rendered now
  let inCallback = false; // a frame callback, or the microtasks right after it, is running
  let ownFramePending = false;
  let doneFrame = null;

  const enterFrame = (timestamp) => {
    if (timestamp !== frameStamp) {
      frameStamp = timestamp;
      if (probe.armed) channel.port2.postMessage(timestamp);
    }
    inCallback = true;
  };
  const leaveFrame = () => queueMicrotask(() => (inCallback = false));
  window.requestAnimationFrame = (callback) =>
    nativeFrame((timestamp) => {
      enterFrame(timestamp);
      try {
        return callback(timestamp);
      } finally {
        leaveFrame();
      }
    });

  channel.port1.onmessage = (event) => {
    const start = now();
    const stamp = event.data;
    if (counts.has(stamp)) {
      probe.frames.push([start, counts.get(stamp)]);
      counts.delete(stamp);
    }
    if (doneFrame === stamp && probe.donePainted === null) {
      probe.donePainted = start;
      console.log("bench:done");
    }
    spent(start);
  };

  const count = () => {
    const found = document.querySelectorAll(config.target);
    if (!found.length) return;
    const text = found[found.length - 1].textContent;
    let letters = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) letters++;
    }
    counts.set(frameStamp, letters);
    if (probe.doneSeen === null && document.querySelector(config.done)) {
      probe.doneSeen = now();
      doneFrame = frameStamp;
    }
  };
  let failed = false;
  const checkFailed = () => {
    const found = !failed && document.querySelector(config.failed);
    if (found) {
      failed = true;
      console.log(`bench:failed ${found.textContent.trim().slice(-300)}`);
    }
  };

  const observer = new MutationObserver(() => {
    const start = now();
    checkFailed();
    if (inCallback) {
      count();
    } else if (!ownFramePending) {
      ownFramePending = true;
      nativeFrame((timestamp) => {
        const begun = now();
        ownFramePending = false;
        enterFrame(timestamp);
        count();
        leaveFrame();
        spent(begun);
      });
    }
    spent(start);
  });

  probe.arm = () => {
    probe.armed = true;
    observer.observe(document, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ["data-state"],
    });
  };

  // Input -------------------------------------------------------------------------------------
  for (const type of ["keydown", "pointerdown", "click"]) {
    window.addEventListener(
      type,
      (event) => {
        if (probe.armed) probe.inputs.push([type, now() - event.timeStamp, event.timeStamp]);
      },
      { capture: true },
    );
  }
  const observe = (type, options, each) => {
    if (!PerformanceObserver.supportedEntryTypes.includes(type)) return;
    new PerformanceObserver((list) => list.getEntries().forEach(each)).observe({
      type,
      buffered: true,
      ...options,
    });
  };
  observe("event", { durationThreshold: 16 }, (entry) =>
    probe.eventTiming.push([
      entry.name,
      entry.startTime,
      entry.processingStart - entry.startTime,
      entry.duration,
    ]),
  );
  observe("longtask", {}, (entry) => probe.longTasks.push([entry.startTime, entry.duration]));
  observe("long-animation-frame", {}, (entry) =>
    probe.longFrames.push([entry.startTime, entry.duration, entry.blockingDuration]),
  );
})();
