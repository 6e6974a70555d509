/*! streamchat embed.js: the chat as a widget on any page. See docs/embedding.md. */
// The host page's side of the widget (static/bridge.js is the chat page's side). It adds a
// launcher button; the first time it is opened, the chat page is loaded in an iframe from the
// origin this script came from, so no Python runtime is loaded before anyone asks for it. The
// iframe is hidden, never destroyed, on close, so the conversation survives.
//
// Host API: a command queue that works before this script has loaded:
//   window.StreamChat = window.StreamChat || [];
//   StreamChat.push(["open"]); StreamChat.push(["ask", "How do I resume a stream?"]);
//   StreamChat.push(["on", "answer", function (detail) { ... }]);
//   StreamChat.push(["setToken", accessToken]); // when the chat's back end needs sign-in
// and CustomEvents on window: "streamchat:ready", "streamchat:answer-started",
// "streamchat:answer", "streamchat:error", ...
(function () {
  "use strict";
  var VERSION = 1;
  if (window.StreamChat && window.StreamChat.version) return; // loaded twice
  var script = document.currentScript;
  if (!script || !script.src) {
    console.error("streamchat: load embed.js with a <script src=...> tag (not as a module).");
    return;
  }

  // The chat page, relative to this script's own URL: the index.html beside it, as in the
  // built site (dist/embed.js); for the source tree's static/embed.js (`make run`), the one in
  // the folder above. The same file serves both; nothing rewrites it (docs/hosting.md).
  var PAGE = /\/static\/embed\.js$/.test(new URL(script.src).pathname) ? "../index.html" : "index.html";
  var widgetPage = new URL(PAGE, script.src);
  var widgetOrigin = widgetPage.origin;
  var data = script.dataset;
  var options = {
    endpoint: data.endpoint || "",
    transport: data.transport || "",
    title: (data.title || "Ask the docs").trim().slice(0, 60),
    position: data.position === "bottom-left" ? "bottom-left" : "bottom-right",
    accent: data.accent && window.CSS && CSS.supports("color", data.accent) ? data.accent : "",
  };
  var theme = themeOrAuto(data.theme);
  var EVENTS = ["ready", "answer-started", "answer-changed", "answer", "error", "open", "close"];

  // Pixels, not rem: the host's root font size must not resize the widget.
  var STYLES = [
    ":host { all: initial !important; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    ".root { --accent: #1d4ed8; --accent-text: #ffffff; --surface: #ffffff; --text: #1f2328;",
    "  --muted: #57606a; --border: #d0d7de; --hover: #eef1f4; --focus: #1d4ed8;",
    "  --shadow: 0 12px 32px rgba(15, 23, 42, .20), 0 2px 6px rgba(15, 23, 42, .12);",
    "  font: 15px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif;",
    "  color: var(--text); }",
    ".root[data-theme=dark] { --surface: #161b22; --text: #e6edf3; --muted: #9da7b3;",
    "  --border: #30363d; --hover: #21262d; --focus: #79b8ff;",
    "  --shadow: 0 12px 32px rgba(0, 0, 0, .55), 0 2px 6px rgba(0, 0, 0, .4); }",
    "@media (prefers-color-scheme: dark) { .root[data-theme=auto] { --surface: #161b22;",
    "  --text: #e6edf3; --muted: #9da7b3; --border: #30363d; --hover: #21262d; --focus: #79b8ff;",
    "  --shadow: 0 12px 32px rgba(0, 0, 0, .55), 0 2px 6px rgba(0, 0, 0, .4); } }",
    "button { font: inherit; margin: 0; text-transform: none; letter-spacing: normal; }",
    "svg { fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }",
    ".launcher { position: fixed; z-index: 2147483000; right: 20px; bottom: 20px; display: inline-flex;",
    "  align-items: center; gap: 8px; height: 48px; padding: 0 20px 0 16px; border: 0;",
    "  border-radius: 24px; background: var(--accent); color: var(--accent-text);",
    "  font-weight: 600; line-height: 1; cursor: pointer; box-shadow: var(--shadow); }",
    ".launcher:hover { filter: brightness(1.1); }",
    ".launcher svg { width: 22px; height: 22px; }",
    ".root[data-open] .launcher .when-closed, .root:not([data-open]) .launcher .when-open { display: none; }",
    ".root[data-position=bottom-left] .launcher { right: auto; left: 20px; }",
    // A light gap inside the ring keeps the focus visible on any host background.
    ".launcher:focus-visible, .close:focus-visible { outline: 3px solid var(--focus);",
    "  outline-offset: 2px; box-shadow: 0 0 0 2px var(--surface), var(--shadow); }",
    ".launcher:focus:not(:focus-visible), .close:focus:not(:focus-visible) { outline: none; }",
    ".panel { position: fixed; z-index: 2147483000; right: 20px; bottom: 84px; display: flex;",
    "  flex-direction: column; width: 400px; max-width: calc(100vw - 40px); height: 640px;",
    "  max-height: calc(100vh - 108px); background: var(--surface); color: var(--text);",
    "  border: 1px solid var(--border); border-radius: 16px; box-shadow: var(--shadow);",
    "  overflow: hidden; animation: streamchat-rise .16s ease-out; }",
    ".panel[hidden] { display: none; }",
    ".root[data-position=bottom-left] .panel { right: auto; left: 20px; }",
    ".bar { flex: none; display: flex; align-items: center; justify-content: space-between;",
    "  gap: 8px; height: 48px; padding: 0 8px 0 16px; border-bottom: 1px solid var(--border); }",
    ".title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }",
    ".close { display: inline-flex; align-items: center; justify-content: center; width: 34px;",
    "  height: 34px; padding: 0; border: 0; border-radius: 8px; background: transparent;",
    "  color: var(--muted); cursor: pointer; }",
    ".close:hover { background: var(--hover); color: var(--text); }",
    ".close svg { width: 20px; height: 20px; }",
    ".frame { flex: 1; display: block; width: 100%; min-height: 0; border: 0; background: var(--surface); }",
    "@keyframes streamchat-rise { from { opacity: 0; transform: translateY(8px); } }",
    "@media (prefers-reduced-motion: reduce) { .panel { animation: none; } }",
    // Small screens: the open panel takes the whole viewport, and has its own close button.
    "@media (max-width: 480px), (max-height: 520px) { .panel { inset: 0; width: 100%; height: 100%;",
    "  max-width: none; max-height: none; border: 0; border-radius: 0; }",
    "  .root[data-open] .launcher { display: none; } }",
  ].join("\n");
  var listeners = Object.create(null);
  EVENTS.forEach(function (name) { listeners[name] = []; });

  var elements = null; // the launcher, the panel and (after the first open) the iframe
  var port = null; // the private channel to the chat page, once it accepted the connection
  var outbox = []; // messages for the chat page sent before it connected
  var isOpen = false;
  var focusOnConnect = false;

  var commands = {
    open: function () { open(); },
    close: function () { close(); },
    toggle: function () { if (isOpen) close(); else open(); },
    ask: function (question) {
      if (typeof question !== "string" || !question.trim()) return warn("ask needs a question");
      open();
      send({ type: "ask", question: question });
    },
    setTheme: function (wanted) {
      if (["auto", "light", "dark"].indexOf(wanted) < 0) return warn("setTheme takes auto, light or dark");
      theme = wanted;
      if (elements) elements.root.dataset.theme = theme;
      send({ type: "theme", theme: theme });
    },
    // Sign-in (docs/security.md): the token goes only to the chat page, over the private
    // port. Before the chat has loaded, one token waits for it: the latest, in the place of
    // the first, so that it is in place for any question asked after that first one.
    setToken: function (token) {
      if (token !== null && (typeof token !== "string" || !token)) return warn("setToken takes an access token (a string), or null to forget it");
      var waiting = port ? null : outbox.filter(function (queued) { return queued.type === "token"; })[0];
      if (waiting) waiting.token = token;
      else send({ type: "token", token: token });
    },
    on: function (name, listener) {
      if (!listeners[name] || typeof listener !== "function") return warn("on takes one of " + EVENTS.join(", ") + " and a function");
      listeners[name].push(listener);
      // The answer's text as it streams crosses the frame only for a host that listens.
      if (name === "answer-changed" && listeners[name].length === 1) send({ type: "subscribe", event: name });
    },
    off: function (name, listener) {
      if (listeners[name]) listeners[name] = listeners[name].filter(function (fn) { return fn !== listener; });
    },
  };

  var api = {
    version: VERSION,
    push: function () {
      for (var i = 0; i < arguments.length; i++) run(arguments[i]);
    },
  };
  Object.keys(commands).forEach(function (name) {
    api[name] = function () { commands[name].apply(null, arguments); };
  });
  var queued = Array.isArray(window.StreamChat) ? window.StreamChat : [];
  window.StreamChat = api;

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);

  function start() {
    elements = build();
    queued.forEach(run);
  }

  function run(command) {
    if (!Array.isArray(command) || !commands.hasOwnProperty(command[0])) {
      return warn("unknown command " + JSON.stringify(command));
    }
    if (!elements) return queued.push(command);
    commands[command[0]].apply(null, command.slice(1));
  }

  // The widget's own elements live in a shadow root, styled by a constructed stylesheet: host
  // CSS cannot reach them, and a host's Content-Security-Policy needs no style-src for them.
  function build() {
    var host = document.createElement("streamchat-widget");
    var shadow = host.attachShadow({ mode: "open" });
    adoptStyles(shadow);

    var root = el("div", { class: "root" });
    root.dataset.theme = theme;
    root.dataset.position = options.position;
    if (options.accent) root.style.setProperty("--accent", options.accent);

    var panel = el("section", { class: "panel", role: "dialog", "aria-label": options.title, id: "panel" });
    panel.hidden = true;
    var header = el("header", { class: "bar" });
    var title = el("span", { class: "title" });
    title.textContent = options.title;
    var closeButton = el("button", { type: "button", class: "close", "aria-label": "Close " + options.title });
    closeButton.appendChild(icon("M6 6l12 12M18 6L6 18"));
    closeButton.addEventListener("click", close);
    header.append(title, closeButton);
    panel.appendChild(header);

    var launcher = el("button", { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "panel" });
    var label = el("span", { class: "label" });
    label.textContent = options.title;
    var bubble = icon("M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.5 4v-4A1.5 1.5 0 0 1 4 14.5z");
    var chevron = icon("M6 9l6 6 6-6");
    bubble.setAttribute("class", "when-closed");
    chevron.setAttribute("class", "when-open");
    launcher.append(bubble, chevron, label);
    launcher.addEventListener("click", function () { commands.toggle(); });

    root.append(panel, launcher);
    shadow.appendChild(root);
    shadow.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && isOpen) close();
    });
    document.body.appendChild(host);
    return { host: host, shadow: shadow, root: root, panel: panel, launcher: launcher, iframe: null };
  }

  function open() {
    if (!elements) return run(["open"]);
    if (!elements.iframe) elements.iframe = frame();
    if (!isOpen) {
      isOpen = true;
      elements.panel.hidden = false;
      elements.root.dataset.open = "";
      elements.launcher.setAttribute("aria-expanded", "true");
      emit("open", {});
    }
    // Into the chat's question box, now, or once the chat page has connected.
    elements.iframe.focus();
    if (port) send({ type: "focus" });
    else focusOnConnect = true;
  }

  function close() {
    if (!elements || !isOpen) return;
    // Focus inside the widget (the iframe or the close button) returns to the launcher.
    var inside = document.activeElement === elements.host;
    isOpen = false;
    elements.panel.hidden = true;
    delete elements.root.dataset.open;
    elements.launcher.setAttribute("aria-expanded", "false");
    if (inside) elements.launcher.focus();
    emit("close", {});
  }

  function frame() {
    var url = new URL(widgetPage.href);
    url.searchParams.set("embed", "1");
    if (options.endpoint) url.searchParams.set("endpoint", options.endpoint);
    if (options.transport) url.searchParams.set("transport", options.transport);
    url.searchParams.set("theme", theme);
    var iframe = el("iframe", {
      title: options.title,
      class: "frame",
      // No top navigation: the chat can never navigate the host page. Links open in new tabs.
      sandbox: "allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox",
      allow: "clipboard-write",
      referrerpolicy: "origin",
    });
    iframe.addEventListener("load", connect);
    iframe.src = url.href;
    elements.panel.appendChild(iframe);
    return iframe;
  }

  // Offers the chat page a private MessagePort, posted only to the widget's exact origin.
  function connect() {
    port = null;
    var channel = new MessageChannel();
    channel.port1.onmessage = function (event) { receive(channel.port1, event.data); };
    elements.iframe.contentWindow.postMessage(
      { streamchat: "connect", version: VERSION }, widgetOrigin, [channel.port2]);
  }

  function receive(channelPort, message) {
    if (!message || typeof message !== "object") return;
    switch (message.type) {
      case "connected":
        port = channelPort;
        outbox.splice(0).forEach(send);
        // Loading the page may have taken the focus from the frame; unless the reader has
        // moved on to the host page meanwhile, it goes to the question box.
        if (focusOnConnect && isOpen && document.activeElement === elements.host) {
          elements.iframe.focus();
          send({ type: "focus" });
        }
        focusOnConnect = false;
        break;
      case "refused":
        emit("error", { message: "The chat at " + widgetOrigin + " does not allow pages from " + location.origin + " to embed it (embedHostOrigins)." });
        break;
      case "ready":
        emit("ready", {});
        break;
      case "answer-started":
        emit("answer-started", { question: String(message.question), text: String(message.text) });
        break;
      case "answer-changed":
        emit("answer-changed", { text: String(message.text) });
        break;
      case "answer":
        emit("answer", {
          state: String(message.state),
          text: String(message.text),
          citations: (Array.isArray(message.citations) ? message.citations : []).map(function (c) {
            return { id: String(c.id), title: String(c.title), url: String(c.url) };
          }),
          usage: usage(message.usage),
          finish: typeof message.finish === "string" ? message.finish : null,
        });
        break;
      case "error":
        emit("error", { message: String(message.message) });
        break;
      case "close":
        close();
        break;
    }
  }

  // The token counts the back end reported, {prompt, completion, reasoning} (each a number or
  // null), or null when it reported none.
  function usage(figures) {
    if (!figures || typeof figures !== "object") return null;
    var result = {};
    ["prompt", "completion", "reasoning"].forEach(function (kind) {
      result[kind] = typeof figures[kind] === "number" ? figures[kind] : null;
    });
    return result;
  }

  function send(message) {
    if (port) port.postMessage(message);
    else outbox.push(message);
  }

  function emit(name, detail) {
    listeners[name].forEach(function (listener) {
      try {
        listener(detail);
      } catch (error) {
        setTimeout(function () { throw error; }); // reported, without stopping the others
      }
    });
    window.dispatchEvent(new CustomEvent("streamchat:" + name, { detail: detail }));
  }

  function themeOrAuto(value) {
    return value === "light" || value === "dark" ? value : "auto";
  }

  function warn(message) {
    console.warn("streamchat: " + message);
  }

  function el(tag, attributes) {
    var element = document.createElement(tag);
    Object.keys(attributes).forEach(function (name) { element.setAttribute(name, attributes[name]); });
    return element;
  }

  function icon(path) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var line = document.createElementNS(ns, "path");
    line.setAttribute("d", path);
    svg.appendChild(line);
    return svg;
  }

  function adoptStyles(shadow) {
    if ("adoptedStyleSheets" in shadow && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLES);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      // Older browsers: a <style> element, which a strict host CSP may refuse.
      var style = document.createElement("style");
      style.textContent = STYLES;
      shadow.appendChild(style);
    }
  }
})();
