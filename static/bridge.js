// The page's side of the widget (static/embed.js is the host page's side; docs/embedding.md).
// Plain JavaScript on the page's stable hooks (docs/contract.md §2), so it needs no Python and
// works while the runtime loads. It does nothing unless the page is framed by a host page whose
// origin is listed in "embedHostOrigins" of the page's #chat-config.
//
// Handshake: when the frame has loaded, embed.js posts {streamchat: "connect"} with a
// MessagePort, targeted at this page's exact origin. It is accepted only from window.parent and
// only if event.origin is in the allow-list; from then on both sides talk over that private
// port, which no other window can post to. Anything else that arrives is ignored.
(function () {
  "use strict";
  // Where the browser denies this document storage (a third-party iframe when third-party
  // cookies are blocked: incognito windows, strict privacy settings), reading localStorage or
  // sessionStorage throws and indexedDB.open fails, and PyScript, which opens an IndexedDB
  // package cache on every start, cannot start at all. Then the page gets memory-only
  // stand-ins: nothing outlives the page, everything else works. This runs before PyScript,
  // whose module script comes later in the document.
  if (storageDenied()) {
    replace("localStorage", memoryStorage());
    replace("sessionStorage", memoryStorage());
    replace("indexedDB", memoryIndexedDB());
  }
  if (window.parent === window) return;

  var root = document.documentElement;
  var params = new URLSearchParams(location.search);
  var allowed = allowedHostOrigins();
  var port = null;
  var questions = []; // asked by the host, waiting for the page to be ready and idle
  var told = { ready: false, failed: false };
  var theme = "auto";
  var MAX_QUESTION = 10000;

  if (params.get("embed") === "1") {
    // A hook for the page's stylesheet. The widget's panel has its own title bar and close
    // button, and the host chooses the theme, so the page's top bar keeps only what the panel
    // lacks: the conversations drawer and New chat (static/style.css).
    root.dataset.embed = "1";
  }
  setTheme(params.get("theme") || "auto");
  if (window.matchMedia) {
    // Registered after boot.js's own listener, so a theme the host chose survives a change
    // of the system's scheme.
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () {
      setTheme(theme);
    });
  }

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
    update();
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

  new MutationObserver(update).observe(root, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["data-state", "data-app-state"],
  });

  // Escape asks the host to close the widget, unless the page used it: to stop an answer
  // (seen before the page's handlers run, which change the state), or anything else for which
  // it calls preventDefault() (seen after they have run).
  var escapeStopsAnAnswer = false;
  window.addEventListener("keydown", function (event) {
    if (event.key === "Escape") escapeStopsAnAnswer = streaming();
  }, true);
  window.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.isComposing || !port) return;
    if (!escapeStopsAnAnswer && !event.defaultPrevented) post({ type: "close" });
  });

  function command(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "ask" && typeof message.question === "string") {
      var question = message.question.trim().slice(0, MAX_QUESTION);
      if (question) {
        questions.push(question);
        update();
      }
    } else if (message.type === "theme") {
      setTheme(message.theme);
    } else if (message.type === "focus") {
      focusQuestion();
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

  // Everything the host hears, and the questions it asked, follow the page's state.
  function update() {
    if (!port) return;
    var state = root.dataset.appState;
    if (state === "ready" && !told.ready) {
      told.ready = true;
      post({ type: "ready" });
    } else if (state === "failed" && !told.failed) {
      told.failed = true;
      var banner = document.querySelector("[data-role=load-banner]");
      post({ type: "error", message: text(banner) || "The chat could not start." });
    }
    if (state === "ready" && questions.length && !streaming()) submit(questions[0]);
  }

  // The question goes into the textarea's value, never into HTML; the page sends it.
  function submit(question) {
    var form = document.querySelector("form[data-role=ask]");
    var textarea = form && form.querySelector("textarea[name=question]");
    if (!textarea) return;
    var draft = textarea.value;
    textarea.value = question;
    form.requestSubmit();
    // The page empties the textarea when it takes a question (synchronously, in its submit
    // handler); a question it did not take stays queued. Either way the reader's draft returns.
    if (textarea.value !== question) questions.shift();
    textarea.value = draft;
  }

  function post(message) {
    port.postMessage(message);
  }

  function setTheme(wanted) {
    if (wanted !== "light" && wanted !== "dark" && wanted !== "auto") return;
    theme = wanted;
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = wanted === "auto" ? (dark ? "dark" : "light") : wanted;
  }

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

  function streaming() {
    return document.querySelector("[data-role=answer][data-state=streaming]") !== null;
  }

  function text(element) {
    return element ? element.textContent.trim() : "";
  }

  function storageDenied() {
    try {
      return !window.localStorage;
    } catch (error) {
      return true;
    }
  }

  function replace(name, value) {
    Object.defineProperty(window, name, { value: value, configurable: true, enumerable: true });
  }

  function memoryStorage() {
    var items = new Map();
    return {
      get length() { return items.size; },
      key: function (index) { var keys = Array.from(items.keys()); return index < keys.length ? keys[index] : null; },
      getItem: function (key) { key = String(key); return items.has(key) ? items.get(key) : null; },
      setItem: function (key, value) { items.set(String(key), String(value)); },
      removeItem: function (key) { items.delete(String(key)); },
      clear: function () { items.clear(); },
    };
  }

  // The part of IndexedDB that PyScript's cache (@webreflection/idb-map) uses: open a
  // database, create and use object stores; requests succeed asynchronously, as real ones do.
  function memoryIndexedDB() {
    var databases = new Map();
    function request(run) {
      var pending = { result: undefined, error: null, readyState: "pending", onsuccess: null, onerror: null };
      Promise.resolve().then(function () {
        pending.result = run();
        pending.readyState = "done";
        if (pending.onsuccess) pending.onsuccess({ type: "success", target: pending });
      });
      return pending;
    }
    function storeOf(records) {
      var id = function (key) { return typeof key === "object" ? JSON.stringify(key) : key; };
      return {
        get: function (key) { return request(function () { var r = records.get(id(key)); return r && r[1]; }); },
        getKey: function (key) { return request(function () { var r = records.get(id(key)); return r && r[0]; }); },
        getAllKeys: function () { return request(function () { return Array.from(records.values(), function (r) { return r[0]; }); }); },
        count: function () { return request(function () { return records.size; }); },
        put: function (value, key) { return request(function () { records.set(id(key), [key, value]); return key; }); },
        delete: function (key) { return request(function () { records.delete(id(key)); }); },
        clear: function () { return request(function () { records.clear(); }); },
      };
    }
    function database(name) {
      var stores = new Map();
      return {
        name: name,
        version: 1,
        objectStoreNames: { get length() { return stores.size; }, contains: function (n) { return stores.has(n); } },
        createObjectStore: function (store) { stores.set(store, new Map()); return storeOf(stores.get(store)); },
        transaction: function (names) {
          var transaction = { oncomplete: null, onerror: null, onabort: null, objectStore: function (store) {
            if (!stores.has(store)) throw new DOMException("No object store " + store, "NotFoundError");
            return storeOf(stores.get(store));
          } };
          Promise.resolve().then(function () { if (transaction.oncomplete) transaction.oncomplete({ type: "complete", target: transaction }); });
          return transaction;
        },
        close: function () {},
      };
    }
    return {
      // The page's conversation list (static/conversations.js) keeps its records in memory
      // itself rather than rely on this stand-in, which covers only what PyScript needs.
      streamchatStandIn: true,
      open: function (name) {
        var opening = { result: undefined, error: null, transaction: null, readyState: "pending", onsuccess: null, onerror: null, onupgradeneeded: null, onblocked: null };
        Promise.resolve().then(function () {
          var isNew = !databases.has(name);
          if (isNew) databases.set(name, database(name));
          opening.result = databases.get(name);
          if (isNew && opening.onupgradeneeded) {
            opening.transaction = opening.result.transaction([]);
            opening.onupgradeneeded({ type: "upgradeneeded", target: opening, oldVersion: 0, newVersion: 1 });
          }
          opening.transaction = null;
          opening.readyState = "done";
          if (opening.onsuccess) opening.onsuccess({ type: "success", target: opening });
        });
        return opening;
      },
      deleteDatabase: function (name) { return request(function () { databases.delete(name); }); },
    };
  }
})();
