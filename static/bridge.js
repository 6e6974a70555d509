// The page's side of the widget (static/embed.js is the host page's side; docs/embedding.md).
// Glue only: it forwards what the page says (static/boot.js: ready or failed; the page's
// Python: an answer started, changed and ended, with the answer's markdown) to the host, and what the host
// asks to the page (questions, theme, token, focus), through static/boot.js's hand-overs. It
// reads nothing back from the page's DOM, and works while the runtime loads. It does nothing
// unless the page is framed by a host page whose origin is listed in "embedHostOrigins" of
// the page's #chat-config.
//
// Handshake: when the frame has loaded, embed.js posts {streamchat: "connect"} with a
// MessagePort, targeted at this page's exact origin. It is accepted only from window.parent and
// only if event.origin is in the allow-list; from then on both sides talk over that private
// port, which no other window can post to. Anything else that arrives is ignored.
(function () {
  "use strict";
  if (window.parent === window) return;

  var allowed = allowedHostOrigins();
  var port = null;
  var told = { ready: false, failed: false };

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.source !== window.parent || !data || data.streamchat !== "connect") return;
    var offered = event.ports && event.ports[0];
    if (!offered) return;
    if (allowed.indexOf(event.origin) < 0) {
      // Only the bare fact, on the port the host offered: this widget does not talk to it.
      offered.postMessage({ type: "refused", origin: event.origin });
      offered.close();
      return;
    }
    if (port) {
      offered.close();
      return;
    }
    port = offered;
    port.onmessage = function (message) { command(message.data); };
    post({ type: "connected" });
    loaded(window.streamchatLoadState());
  });

  // The page's load state (static/boot.js), now and as it changes.
  document.addEventListener("streamchat:ready", function () { loaded({ state: "ready" }); });
  document.addEventListener("streamchat:failed", function (event) {
    loaded({ state: "failed", message: event.detail && event.detail.message });
  });

  // The page (app/browser/events.py) says when an answer ends, with the answer's own state:
  // its markdown as the model wrote it (blocks apart, not the rendered text run together),
  // its sources, usage and finish. Answers that ended before the host connected, and those
  // restored after a reload, are not news to it: the first find no port, the second send none.
  document.addEventListener("streamchat:answer", function (event) {
    var answer = event.detail;
    if (!port || !answer || typeof answer !== "object") return;
    if (answer.state === "error") {
      post({ type: "error", message: String(answer.error || "The answer failed.") });
    } else {
      post({
        type: "answer", state: answer.state, text: String(answer.markdown || ""),
        citations: Array.isArray(answer.citations) ? answer.citations : [],
        usage: answer.usage || null, finish: answer.finish || null,
      });
    }
  });

  // An answer started streaming (also a continued or resumed one), and more of it was shown
  // (at most once a rendered frame). The changes cross into the host only once it asked for
  // them (a listener for "answer-changed"): each carries the markdown so far.
  var forwardChanges = false;
  document.addEventListener("streamchat:answer-started", function (event) {
    var answer = event.detail;
    if (!port || !answer || typeof answer !== "object") return;
    post({ type: "answer-started", question: String(answer.question || ""), text: String(answer.markdown || "") });
  });
  document.addEventListener("streamchat:answer-changed", function (event) {
    var answer = event.detail;
    if (!port || !forwardChanges || !answer || typeof answer !== "object") return;
    post({ type: "answer-changed", text: String(answer.markdown || "") });
  });

  // Escape asks the host to close the widget, unless the page used it (to stop an answer,
  // to leave editing a question): app/main.py calls preventDefault() on the Escape it uses.
  window.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.isComposing || !port) return;
    if (!event.defaultPrevented) post({ type: "close" });
  });

  function command(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "ask" && typeof message.question === "string") {
      // Into the page's own queue (static/boot.js): app/main.py asks it once it is ready and
      // no answer is streaming, after the questions asked before it. The reader's draft stays.
      var question = message.question.trim();
      if (question) window.streamchatAsk(question);
    } else if (message.type === "theme") {
      window.streamchatSetTheme(message.theme);
    } else if (message.type === "focus") {
      focusQuestion();
    } else if (message.type === "subscribe" && message.event === "answer-changed") {
      forwardChanges = true;
    } else if (message.type === "token" && (message.token === null || typeof message.token === "string")) {
      // The host's access token for the back end (static/boot.js hands it to the page).
      window.streamchat.setToken(message.token);
    }
  }

  // The host focuses the frame, then asks for this; the two travel by different routes, so
  // the frame may not have the focus yet: then the question box takes it when the frame does.
  function focusQuestion() {
    var textarea = document.querySelector("form[data-role=ask] textarea[name=question]");
    if (!textarea) return;
    textarea.focus();
    if (!document.hasFocus()) {
      window.addEventListener("focus", function () { textarea.focus(); }, { once: true });
    }
  }

  // The host hears once that the page is ready, or once why it could not start.
  function loaded(load) {
    if (!port) return;
    if (load.state === "ready" && !told.ready) {
      told.ready = true;
      post({ type: "ready" });
    } else if (load.state === "failed" && !told.failed) {
      told.failed = true;
      post({ type: "error", message: String(load.message || "The chat could not start.") });
    }
  }

  function post(message) {
    port.postMessage(message);
  }

  // The one reader of #chat-config in JavaScript: the allow-list must be known when the host
  // connects, before the Python runtime (which reads the rest) has loaded.
  function allowedHostOrigins() {
    var origins = [];
    try {
      var config = JSON.parse(document.getElementById("chat-config").textContent);
      (Array.isArray(config.embedHostOrigins) ? config.embedHostOrigins : []).forEach(function (entry) {
        // Exact origins only ("https://example.org"); no wildcards, no "null".
        var origin = typeof entry === "string" ? new URL(entry).origin : "null";
        if (origin !== "null") origins.push(origin);
      });
    } catch (error) {
      console.warn("streamchat: embedHostOrigins in #chat-config is unusable: " + error.message);
    }
    return origins;
  }
})();
