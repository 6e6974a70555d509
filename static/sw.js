// The built site's service worker (`make dist` writes it beside index.html as sw.js, with
// its version in VERSION; static/boot.js registers it when #chat-config names it). A repeat
// visit makes no request for the runtime or the page's Python, and the page starts offline.
//
// - Under v/ (versioned, immutable): from the cache; what is not there yet comes from the
//   network and is kept.
// - The page (a navigation to the scope itself, with any query): from the network, so that a
//   new version shows at once; the last copy kept when the network fails.
// - Anything else, the back end above all (its streams, its POSTs), is not touched.
//
// What a start loads is kept once it has started: the page posts the files it loaded
// (their URLs, from Resource Timing) and they are copied from the browser's HTTP cache, which
// has just been filled, so a first visit downloads nothing twice. docs/hosting.md says more.
"use strict";

const VERSION = "__VERSION__";
const PREFIX = "streamchat-";
const CACHE = PREFIX + VERSION;
const SCOPE = new URL(self.registration.scope);
const VERSIONED = new URL("v/", SCOPE).pathname;
// Where the page's own copy is kept: the scope's URL, with no query.
const PAGE = SCOPE.href;

// What a request is to this worker: "versioned", "page" or null (left to the browser).
function kind(request) {
  if (request.method !== "GET") return null;
  const url = new URL(request.url);
  if (url.origin !== SCOPE.origin) return null;
  if (request.mode === "navigate") {
    return url.pathname === SCOPE.pathname || url.pathname === SCOPE.pathname + "index.html"
      ? "page" : null;
  }
  // A range request wants part of a file: the cache holds whole ones.
  if (url.pathname.startsWith(VERSIONED) && !request.headers.has("range")) return "versioned";
  return null;
}

async function versioned(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request, { ignoreVary: true });
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") await cache.put(request, response.clone());
  return response;
}

async function page(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") await cache.put(PAGE, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(PAGE, { ignoreVary: true });
    if (kept) return kept;
    throw error;
  }
}

// The page's files, copied into the cache (from the HTTP cache, where the page's own start
// left them): the versioned ones this worker serves, and the page itself.
async function keep(urls) {
  const cache = await caches.open(CACHE);
  const wanted = urls.filter((url) => {
    const parsed = new URL(url, SCOPE);
    return parsed.origin === SCOPE.origin && parsed.pathname.startsWith(VERSIONED);
  });
  const missing = [];
  for (const url of new Set([...wanted, PAGE])) {
    if (!(await cache.match(url, { ignoreVary: true }))) missing.push(url);
  }
  // One by one: a file that fails to come is fetched again when next asked for, and does not
  // cost the others their place.
  await Promise.all(missing.map((url) => cache.add(url).catch(() => {})));
}

// What this worker does not serve goes straight to the network, without starting the worker
// (the Service Worker Static Routing API, where the browser has it): a question asked a
// minute after the page was used must not wait for an idle worker to start. Without the API,
// or if it refuses the rule, the fetch handler below leaves those requests alone instead.
function bypass() {
  return {
    condition: {
      not: { or: [{ requestMode: "navigate" }, { urlPattern: { pathname: VERSIONED + "*" } }] },
    },
    source: "network",
  };
}

self.addEventListener("install", (event) => {
  const routed = typeof event.addRoutes === "function"
    ? Promise.resolve().then(() => event.addRoutes(bypass())).catch(() => {})
    : Promise.resolve();
  event.waitUntil(routed.then(() => self.skipWaiting()));
});

// Older versions' files are dropped once this one is in charge; its pages are taken over at
// once, so that what they load from now on is kept.
self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const what = kind(event.request);
  if (what === "versioned") event.respondWith(versioned(event.request));
  else if (what === "page") event.respondWith(page(event.request));
});

self.addEventListener("message", (event) => {
  const data = event.data;
  if (data && data.type === "keep" && Array.isArray(data.urls)) {
    event.waitUntil(keep(data.urls.filter((url) => typeof url === "string")));
  }
});
