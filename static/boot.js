// Runs before first paint, while the Python runtime loads: the page's load state, its theme,
// Enter-to-send, and the hand-over of what is given to the page before Python can take it
// (questions, access tokens). Everything else is Python (app/main.py); this file stays small
// and dependency-free, and it is the one place for each of these concerns: static/bridge.js
// (the widget's side of the page) uses them rather than doing them again.
(function () {
  "use strict";
  var root = document.documentElement;
  var params = new URLSearchParams(location.search);
  // Framed by the widget (static/embed.js): the host chooses the theme (?theme=), and
  // ?embed=1 is a hook for the stylesheet, whose top bar then keeps only what the widget's
  // panel lacks: the conversations drawer and New chat (static/style.css).
  var framed = window.parent !== window;
  if (framed && params.get("embed") === "1") root.dataset.embed = "1";

  // Theme: "light", "dark" or "auto" (the system's). The reader's stored choice, else the
  // system's; in the widget, the host's choice. The toggle works before Python is ready.
  var wanted = "auto";
  function storedTheme() {
    try { return localStorage.getItem("theme"); } catch (e) { return null; }
  }
  function systemTheme() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function applyTheme() {
    var theme = wanted === "auto" ? systemTheme() : wanted;
    root.dataset.theme = theme;
    var toggle = document.querySelector("[data-action=toggle-theme]");
    if (toggle) {
      var other = theme === "dark" ? "light" : "dark";
      toggle.setAttribute("aria-label", "Switch to " + other + " theme");
      toggle.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
    }
  }
  function setTheme(theme) {
    if (theme !== "light" && theme !== "dark" && theme !== "auto") return;
    wanted = theme;
    applyTheme();
  }
  setTheme(storedTheme());
  if (framed) setTheme(params.get("theme") || "auto");
  applyTheme();
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
  }
  // For static/bridge.js: the widget's host changed the theme.
  window.streamchatSetTheme = setTheme;

  // What is handed to the page before Python can take it waits here, in order, until
  // app/main.py registers its receiver (and then goes straight to it).
  function handOver() {
    var waiting = [], receiver = null;
    return {
      post: function (value) { if (receiver) receiver(value); else waiting.push(value); },
      receive: function (take) {
        receiver = take;
        waiting.splice(0).forEach(function (value) { take(value); });
      },
      waiting: function () { return waiting.length > 0; },
    };
  }

  // Questions: the reader's, sent while the runtime loads, and the widget host's
  // (static/bridge.js). app/main.py asks each in turn, when no answer is streaming.
  var questions = handOver();
  window.streamchatAsk = function (question) { questions.post(question); };
  window.streamchatReceiveQuestions = function (receiver) {
    if (questions.waiting()) pendingNote().hidden = true; // the page is ready: they are sent
    questions.receive(receiver);
  };
  function pendingNote() { return document.querySelector("[data-role=pending]"); }

  // Sign-in (docs/security.md): the page's own scripts, or the widget's host through
  // bridge.js, hand over an access token with window.streamchat.setToken(token) (null forgets
  // it), at any time, even before the runtime has loaded. The token is kept in this closure,
  // not on window, until app/browser/auth.py takes it and every later one.
  var tokens = handOver();
  window.streamchat = window.streamchat || {};
  window.streamchat.setToken = function (token) {
    if (token !== null && (typeof token !== "string" || !token)) {
      console.warn("streamchat: setToken takes an access token (a string), or null to forget it.");
      return;
    }
    tokens.post(token);
  };
  window.streamchatReceiveTokens = function (receiver) { tokens.receive(receiver); };

  // streamchat:answer-changed, dispatched by the page's Python once a rendered frame while an
  // answer streams (app/browser/events.py). Its detail's `question` and `markdown` (the whole
  // answer so far) are read from Python only when a listener asks for them: nothing is
  // copied, or left for the garbage collector, on the frames nobody listens to (a string
  // that is not ASCII crosses from Python one character at a time).
  window.streamchatAnswerChanged = function (name, field) {
    var detail = { state: "streaming" };
    ["question", "markdown"].forEach(function (key) {
      Object.defineProperty(detail, key, { enumerable: true, get: function () { return field(key); } });
    });
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  };

  function banner() { return document.querySelector("[data-role=load-banner]"); }

  // The load state, html[data-app-state]: "loading", then "ready" (app/main.py says so) or
  // "failed" (here, or app/main.py's own start-up errors), once. Each change is also an event
  // on document, "streamchat:ready" or "streamchat:failed" ({message}), for static/bridge.js,
  // and window.streamchatLoadState() says where it is for a script that comes later.
  var load = { state: "loading", message: "" };
  function loading() { return load.state === "loading"; }
  function settle(state, message) {
    load = { state: state, message: message };
    root.dataset.appState = state;
    document.dispatchEvent(new CustomEvent("streamchat:" + state, { detail: { message: message } }));
  }
  function fail(reason) {
    if (!loading()) return;
    var message = "The chat could not start: " + reason +
      " Reload the page to try again; if it keeps failing, the site may be updating.";
    var box = banner();
    if (box) {
      box.textContent = message;
      box.setAttribute("role", "alert");
      box.removeAttribute("aria-hidden");
    }
    settle("failed", message);
  }
  window.streamchatFail = fail;
  window.streamchatReady = function () { if (loading()) settle("ready", ""); };
  window.streamchatLoadState = function () { return { state: load.state, message: load.message }; };

  document.addEventListener("DOMContentLoaded", function () {
    applyTheme();
    document.querySelector("[data-action=toggle-theme]").addEventListener("click", function () {
      var next = root.dataset.theme === "dark" ? "light" : "dark";
      setTheme(next);
      try { localStorage.setItem("theme", next); } catch (e) { /* storage may be blocked */ }
    });
    var form = document.querySelector("form[data-role=ask]");
    var textarea = form.querySelector("textarea[name=question]");
    // Enter sends, Shift+Enter adds a line (and Enter while an input method composes is its).
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    // Until Python takes over, a sent question waits for the runtime (then app/main.py sends).
    form.addEventListener("submit", function (event) {
      if (!loading()) return;
      event.preventDefault();
      var question = textarea.value.trim();
      if (!question) return;
      questions.post(question);
      textarea.value = "";
      var note = pendingNote();
      note.textContent = "“" + question + "” will be sent as soon as the page is ready.";
      note.hidden = false;
    });
  });

  // The page's Python (index.html's #preload-python), fetched as soon as PyScript begins to
  // load Pyodide (its first py:progress event), rather than once Pyodide has started.
  function preloadPython() {
    removeEventListener("py:progress", preloadPython);
    var links = document.getElementById("preload-python");
    if (links) document.head.appendChild(links.content.cloneNode(true));
  }
  addEventListener("py:progress", preloadPython);

  // Real progress: bytes of the runtime's files (sizes in static/vendor/manifest.json)
  // that have finished loading, as the browser reports them.
  var sizes = null, total = 0, loaded = {};
  function showProgress() {
    var box = banner();
    if (!box || !loading() || !total) return;
    var done = 0;
    for (var name in loaded) done += loaded[name];
    var mb = function (n) { return (n / 1e6).toFixed(1); };
    box.textContent = "Loading the Python runtime… " + mb(done) + " of " + mb(total) + " MB";
    var bar = document.querySelector("[data-role=load-progress]");
    if (bar) { bar.max = total; bar.value = done; }
  }
  function noteResource(entry) {
    if (!sizes) return;
    var match = entry.name.match(/static\/vendor\/(.+?)(?:\?.*)?$/);
    if (match && sizes[match[1]] !== undefined) {
      loaded[match[1]] = sizes[match[1]];
      showProgress();
    }
  }
  if (window.PerformanceObserver) {
    new PerformanceObserver(function (list) { list.getEntries().forEach(noteResource); })
      .observe({ type: "resource", buffered: true });
  }
  // Against this script's own URL, not the page's: `make dist` moves static/ under
  // v/<version>/ while the page stays at the top (docs/hosting.md).
  fetch(new URL("vendor/manifest.json", document.currentScript.src)).then(function (response) {
    return response.ok ? response.json() : null;
  }).then(function (manifest) {
    if (!manifest) return;
    sizes = manifest.runtime; total = manifest.total;
    performance.getEntriesByType("resource").forEach(noteResource);
    showProgress();
  }).catch(function () { /* progress is a nicety; loading goes on without it */ });

  // The built site's service worker (static/sw.js), when #chat-config names it (`make dist`
  // does; the development back end does not, so an edited module is never served stale).
  // Registered once the page is ready and idle, so that it takes nothing from the start; then
  // told which files this start loaded, to keep them for the next one and for offline starts.
  function serviceWorkerScript() {
    if (!("serviceWorker" in navigator)) return null;
    try {
      var script = JSON.parse(document.getElementById("chat-config").textContent).serviceWorker;
      return typeof script === "string" && script ? script : null;
    } catch (e) { return null; }
  }
  function registerServiceWorker() {
    var script = serviceWorkerScript();
    if (!script) return;
    navigator.serviceWorker.register(script).then(function (registration) {
      var worker = registration.installing || registration.waiting || registration.active;
      var urls = performance.getEntriesByType("resource").map(function (entry) { return entry.name; });
      if (worker) worker.postMessage({ type: "keep", urls: urls });
    }).catch(function (error) {
      // The page works without it, only not offline.
      console.warn("streamchat: the service worker was not registered (" + error + ").");
    });
  }
  document.addEventListener("streamchat:ready", function () {
    if (window.requestIdleCallback) requestIdleCallback(registerServiceWorker, { timeout: 5000 });
    else setTimeout(registerServiceWorker, 1000);
  });

  // A resource that fails to load (the runtime, a wheel) or an error while the runtime starts.
  window.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target !== window && (target.src || target.href)) {
      fail("a file it needs did not load (" + (target.src || target.href) + ").");
    } else if (event.message) {
      fail("the Python runtime reported an error (" + event.message + ").");
    }
  }, true);
  window.addEventListener("unhandledrejection", function (event) {
    var reason = event.reason && (event.reason.message || String(event.reason));
    fail("the Python runtime did not load (" + reason + ").");
  });
  // PyScript reports its own errors by adding an element to the page's body (its
  // error.js: document.body.append). Only the body's own children are watched: watching the
  // whole tree made a record of every change to a streaming answer, for nothing.
  var errors = new MutationObserver(function (records) {
    for (var i = 0; i < records.length; i++) {
      var added = records[i].addedNodes;
      for (var j = 0; j < added.length; j++) {
        var node = added[j];
        if (node.nodeType === 1 && node.classList.contains("py-error")) {
          // The traceback's last line names the error; the whole one is in the console.
          var lines = node.textContent.trim().split("\n");
          fail("the Python runtime reported an error (" + lines[lines.length - 1].slice(0, 300) + ").");
        }
      }
    }
  });
  function watchErrors() { errors.observe(document.body, { childList: true }); }
  if (document.body) watchErrors(); else document.addEventListener("DOMContentLoaded", watchErrors);
})();
