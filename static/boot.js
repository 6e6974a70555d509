// Runs before first paint, while the Python runtime loads: the theme, the toggle, real loading
// progress, a question asked before Python is ready, and a visible failure if it never is.
// Everything else is Python (app/main.py); this file stays small and dependency-free.
(function () {
  "use strict";
  var root = document.documentElement;
  var pending = null; // the question sent before the runtime was ready

  // Theme: the stored choice, else the system's; the toggle works before Python is ready.
  function storedTheme() {
    try { return localStorage.getItem("theme"); } catch (e) { return null; }
  }
  function systemTheme() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function applyTheme(theme) {
    root.dataset.theme = theme;
    var toggle = document.querySelector("[data-action=toggle-theme]");
    if (toggle) {
      var other = theme === "dark" ? "light" : "dark";
      toggle.setAttribute("aria-label", "Switch to " + other + " theme");
      toggle.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
    }
  }
  var chosen = storedTheme();
  applyTheme(chosen === "dark" || chosen === "light" ? chosen : systemTheme());
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
      var stored = storedTheme();
      if (stored !== "dark" && stored !== "light") applyTheme(systemTheme());
    });
  }

  function banner() { return document.querySelector("[data-role=load-banner]"); }

  function fail(reason) {
    if (root.dataset.appState !== "loading") return;
    root.dataset.appState = "failed";
    var box = banner();
    if (box) {
      box.textContent = "The chat could not start: " + reason +
        " Reload the page to try again; if it keeps failing, the site may be updating.";
      box.setAttribute("role", "alert");
      box.removeAttribute("aria-hidden");
    }
  }
  // Exposed so that app/main.py reports its own start-up errors the same way.
  window.streamchatFail = fail;
  // app/main.py takes the question asked while it loaded, once, when it is ready.
  window.streamchatTakePending = function () { var q = pending; pending = null; return q; };

  // Sign-in (docs/security.md): the page's own scripts, or the widget's host through
  // bridge.js, hand over an access token with window.streamchat.setToken(token) (null forgets
  // it), at any time, even before the runtime has loaded. The token is kept in this closure,
  // not on window, until app/browser/auth.py takes it and every later one.
  var tokens = { waiting: undefined, receiver: null };
  window.streamchat = window.streamchat || {};
  window.streamchat.setToken = function (token) {
    if (token !== null && (typeof token !== "string" || !token)) {
      console.warn("streamchat: setToken takes an access token (a string), or null to forget it.");
      return;
    }
    if (tokens.receiver) tokens.receiver(token);
    else tokens.waiting = token;
  };
  window.streamchatReceiveTokens = function (receiver) {
    tokens.receiver = receiver;
    if (tokens.waiting !== undefined) receiver(tokens.waiting);
    tokens.waiting = undefined;
  };

  function loading() { return root.dataset.appState === "loading"; }

  document.addEventListener("DOMContentLoaded", function () {
    applyTheme(root.dataset.theme);
    document.querySelector("[data-action=toggle-theme]").addEventListener("click", function () {
      var next = root.dataset.theme === "dark" ? "light" : "dark";
      applyTheme(next);
      try { localStorage.setItem("theme", next); } catch (e) { /* storage may be blocked */ }
    });
    var form = document.querySelector("form[data-role=ask]");
    var textarea = form.querySelector("textarea[name=question]");
    // Until Python takes over, Enter sends and a sent question waits for the runtime.
    textarea.addEventListener("keydown", function (event) {
      if (loading() && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", function (event) {
      if (!loading()) return;
      event.preventDefault();
      var question = textarea.value.trim();
      if (!question) return;
      pending = question;
      textarea.value = "";
      var note = document.querySelector("[data-role=pending]");
      note.textContent = "“" + question + "” will be sent as soon as the page is ready.";
      note.hidden = false;
    });
  });

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
  fetch("static/vendor/manifest.json").then(function (response) {
    return response.ok ? response.json() : null;
  }).then(function (manifest) {
    if (!manifest) return;
    sizes = manifest.runtime; total = manifest.total;
    performance.getEntriesByType("resource").forEach(noteResource);
    showProgress();
  }).catch(function () { /* progress is a nicety; loading goes on without it */ });

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
  // PyScript reports its own errors by adding an element to the page.
  new MutationObserver(function (records) {
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
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
