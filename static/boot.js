// Runs before first paint: theme, and a visible failure when the Python runtime cannot start.
// Everything else is Python (app/main.py); this file stays small and dependency-free.
(function () {
  "use strict";
  var root = document.documentElement;

  var stored = null;
  try { stored = localStorage.getItem("theme"); } catch (e) { /* storage may be blocked */ }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  root.dataset.theme = stored === "dark" || stored === "light" ? stored : (dark ? "dark" : "light");

  function fail(reason) {
    if (root.dataset.appState !== "loading") return;
    root.dataset.appState = "failed";
    var banner = document.querySelector("[data-role=load-banner]");
    if (banner) {
      banner.textContent = "The chat could not start: " + reason + " Reload the page to try again.";
      banner.setAttribute("role", "alert");
      banner.removeAttribute("aria-hidden");
    }
  }
  // Exposed so that app/main.py reports its own start-up errors the same way.
  window.streamchatFail = fail;

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
