"""static/sw.js, the built site's service worker, run in Node with stand-ins for the browser's
`caches`, `fetch` and `clients`: what it serves, what it leaves alone, what it keeps and drops.

The browser test (tests/browser/test_dist.py) shows a repeat visit and an offline start in
Chromium; these pin down the rules, each of which that test cannot provoke on cue.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = "https://chat.example.org/docs/chat/"

_NODE_SCRIPT = r"""
const [source, site] = process.argv.slice(1);
const stores = new Map();  // cache name -> Map(url -> response)
const network = { down: false, asked: [], failing: new Set() };
const response = (url) => ({ ok: !network.failing.has(url), type: "basic", url,
  clone() { return this; } });
const urlOf = (request) => new URL(typeof request === "string" ? request : request.url, site).href;
const fetch = async (request) => {
  const url = urlOf(request);
  network.asked.push(url);
  if (network.down) throw new TypeError("Failed to fetch");
  return response(url);
};
class Cache {
  constructor(entries) { this.entries = entries; }
  async match(request) { return this.entries.get(urlOf(request)); }
  async put(request, value) { this.entries.set(urlOf(request), value); }
  async add(request) {
    const value = await fetch(request);
    if (!value.ok) throw new TypeError("bad status");
    this.entries.set(urlOf(request), value);
  }
}
const caches = {
  async open(name) {
    if (!stores.has(name)) stores.set(name, new Map());
    return new Cache(stores.get(name));
  },
  async keys() { return [...stores.keys()]; },
  async delete(name) { return stores.delete(name); },
};
const handlers = {};
const claimed = [];
const self = {
  registration: { scope: site },
  location: { href: site + "sw.js" },
  clients: { claim: async () => { claimed.push(true); } },
  skipWaiting: async () => {},
  addEventListener: (type, handler) => { handlers[type] = handler; },
};
new Function("self", "caches", "fetch", source)(self, caches, fetch);

const headers = (names) => ({ has: (name) => names.includes(name) });
const request = (url, { method = "GET", mode = "cors", range = false } = {}) =>
  ({ url: new URL(url, site).href, method, mode, headers: headers(range ? ["range"] : []) });
async function dispatch(type, fields) {
  const waits = [];
  let answer = null;
  const event = { ...fields, waitUntil: (p) => waits.push(p),
    respondWith: (p) => { answer = p; p.catch(() => {}); } };
  handlers[type](event);
  await Promise.all(waits);
  return { answer };  // wrapped: an async function returning a promise would wait for it
}
const served = async (req) => {
  const { answer } = await dispatch("fetch", { request: req });
  if (answer === null) return null;
  try { return (await answer).url; } catch (error) { return "error: " + error.message; }
};
const cached = (name) => [...(stores.get(name) || new Map()).keys()].sort();

(async () => {
  const out = {};
  out.handled = {};
  const requests = {
    "the page": request("", { mode: "navigate" }),
    "the page with a query": request("?endpoint=x", { mode: "navigate" }),
    "the page by name": request("index.html", { mode: "navigate" }),
    "another page of the site": request("other.html", { mode: "navigate" }),
    "a versioned file": request("v/new/static/boot.js"),
    "part of a versioned file": request("v/new/pyodide.asm.wasm", { range: true }),
    "a question (POST)": request("api/chat", { method: "POST" }),
    "a stream (GET)": request("api/chat?q=hi"),
    "the entry points": request("embed.js"),
    "another origin": request("https://cdn.example.org/docs/chat/v/new/x.js"),
    "outside the scope": request("/docs/other/v/new/x.js"),
  };
  for (const [name, req] of Object.entries(requests)) {
    out.handled[name] = (await dispatch("fetch", { request: req })).answer !== null;
  }

  // A versioned file: fetched once, then from the cache.
  network.asked = [];
  await served(request("v/new/app.zip"));
  await served(request("v/new/app.zip"));
  out.versionedAsked = network.asked.length;

  // The page: from the network while it answers (a fresh copy kept), else the kept copy.
  network.asked = [];
  out.pageOnline = await served(request("?q=1", { mode: "navigate" }));
  network.down = true;
  out.pageOffline = await served(request("?q=2", { mode: "navigate" }));
  out.versionedOffline = await served(request("v/new/app.zip"));
  out.missingOffline = await served(request("v/new/never-loaded.js"));
  network.down = false;

  // Keeping what a start loaded: only this site's versioned files, and the page; one that
  // fails does not stop the others.
  stores.clear();
  network.failing.add(site + "v/new/b.js");
  await dispatch("message", { data: { type: "keep", urls: [
    site + "v/new/a.js", site + "v/new/b.js", site + "api/chat?q=1",
    "https://cdn.example.org/v/new/c.js", site + "v/new/a.js", 42,
  ] } });
  out.kept = cached("streamchat-new");
  await dispatch("message", { data: { type: "something else", urls: [site + "v/new/d.js"] } });
  out.keptAfterOtherMessage = cached("streamchat-new");

  // Installing: the static route that sends the rest past the worker, where the browser has
  // the API; where it has not, or refuses the rule, the worker installs all the same.
  out.install = {};
  for (const [name, addRoutes] of Object.entries({
    "with routes": async (rules) => { out.install.rules = rules; },
    "refused": async () => { throw new TypeError("unknown condition"); },
    "throwing": () => { throw new TypeError("unknown condition"); },
    "without": undefined,
  })) {
    let skipped = false;
    self.skipWaiting = async () => { skipped = true; };
    const event = addRoutes ? { addRoutes } : {};
    try { await dispatch("install", event); } catch (error) { skipped = "error: " + error.message; }
    out.install[name] = skipped;
  }

  // A new version in charge: older versions' caches go, others' stay; its pages are claimed.
  await caches.open("streamchat-old");
  await caches.open("someone-else");
  await dispatch("activate", {});
  out.cachesAfterActivate = (await caches.keys()).sort();
  out.claimed = claimed.length;
  console.log(JSON.stringify(out));
})();
"""


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    if shutil.which("node") is None:
        pytest.skip("needs Node")
    source = (ROOT / "static" / "sw.js").read_text(encoding="utf-8")
    assert '"__VERSION__"' in source
    result = subprocess.run(
        ["node", "-e", _NODE_SCRIPT, source.replace('"__VERSION__"', '"new"'), SITE],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_it_serves_the_page_and_versioned_files_and_leaves_the_rest_alone(
    run: dict[str, Any],
) -> None:
    assert run["handled"] == {
        "the page": True,
        "the page with a query": True,
        "the page by name": True,
        "another page of the site": False,
        "a versioned file": True,
        "part of a versioned file": False,
        "a question (POST)": False,
        "a stream (GET)": False,
        "the entry points": False,
        "another origin": False,
        "outside the scope": False,
    }


def test_a_versioned_file_is_fetched_once(run: dict[str, Any]) -> None:
    assert run["versionedAsked"] == 1


def test_the_page_comes_from_the_network_and_offline_from_its_kept_copy(
    run: dict[str, Any],
) -> None:
    assert run["pageOnline"] == SITE + "?q=1"
    assert run["pageOffline"] == SITE + "?q=1"  # the copy kept by the visit before
    assert run["versionedOffline"] == SITE + "v/new/app.zip"
    assert run["missingOffline"] == "error: Failed to fetch"


def test_it_keeps_only_the_sites_versioned_files_and_the_page(run: dict[str, Any]) -> None:
    assert run["kept"] == [SITE, SITE + "v/new/a.js"]
    assert run["keptAfterOtherMessage"] == run["kept"]


def test_it_routes_what_it_does_not_serve_past_itself_where_the_browser_can(
    run: dict[str, Any],
) -> None:
    assert run["install"]["rules"] == {
        "condition": {
            "not": {
                "or": [
                    {"requestMode": "navigate"},
                    {"urlPattern": {"pathname": "/docs/chat/v/*"}},
                ]
            }
        },
        "source": "network",
    }
    for browser in ("with routes", "refused", "throwing", "without"):
        assert run["install"][browser] is True, browser


def test_a_new_version_drops_the_old_ones_files_only(run: dict[str, Any]) -> None:
    assert run["cachesAfterActivate"] == ["someone-else", "streamchat-new"]
    assert run["claimed"] == 1
