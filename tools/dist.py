"""Build dist/: the page as a static site that works from any path on any static file server.

    dist/index.html        the entry point; its #chat-config block is the site's one config file
    dist/embed.js          the widget loader that host pages link to (docs/embedding.md)
    dist/v/<version>/      everything else: app/, static/ (runtime, wheels, styles), pyscript.toml
    dist/wheels/           the `streamchat` library as a wheel (tools/build_wheel.py), for other
                           pages (docs/library.md); the page itself does not load it

Only index.html and embed.js keep their names from build to build, so only they must be
revalidated (`no-cache`); `<version>` is a hash of the content, so everything under v/ can be
cached for a year as `immutable`. Every URL is relative, so the site works under any path.
Files that compress well get `.br` and `.gz` twins (tools/precompress.py) for servers that
serve precompressed files; the runtime's twins, made once by `make setup`, are copied.

`python tools/dist.py --serve 8080` previews the build under /docs/chat/ with the headers that
docs/hosting.md recommends (the browser tests use the same server and headers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import build_wheel
import precompress as twins

ROOT = Path(__file__).resolve().parent.parent
# As a script, Python puts tools/ on the path, not the root that holds `server`.
sys.path.insert(0, str(ROOT))
from server.media_types import content_type  # noqa: E402

#: Served with their names unchanged: the only files a browser must revalidate.
ENTRY_POINTS = ("index.html", "embed.js")
#: Where `make dist` puts the streamchat wheel, beside the site (not under the version).
WHEELS = "wheels"
#: Files in static/ that are not part of the page (embed.js goes to the top level), and the
#: precompressed twins, which follow their files.
NOT_SHIPPED = re.compile(r"(^|/)\.|\.map$|^static/embed\.js$|\.(br|gz)$")

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class BuildError(Exception):
    """The source tree cannot be built into a site; the message says why."""


@dataclass(frozen=True)
class Build:
    out: Path
    version: str
    files: int
    compressed: int


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/dist.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="default: dist/")
    parser.add_argument("--endpoint", help="the back end's SSE endpoint, written to #chat-config")
    parser.add_argument(
        "--embed-origin",
        dest="embed_origins",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a host page origin allowed to embed the widget (repeatable)",
    )
    parser.add_argument(
        "--gzip-level", type=int, default=9, help="0 writes no precompressed twins at all"
    )
    parser.add_argument(
        "--brotli-quality", type=int, default=twins.BROTLI_QUALITY, help="-1 writes no .br"
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help="then preview it on this port")
    parser.add_argument("--base", default="/docs/chat/", help="the path to preview it under")
    args = parser.parse_args(argv)
    try:
        build = build_site(
            args.out,
            endpoint=args.endpoint,
            embed_origins=args.embed_origins,
            gzip_level=args.gzip_level,
            brotli_quality=args.brotli_quality,
        )
    except BuildError as error:
        print(f"dist: {error}", file=sys.stderr)
        return 1
    wheel = build_wheel.build(build.out / WHEELS)
    print(
        f"built {build.out}/ (version {build.version}: {build.files} files, "
        f"{build.compressed} precompressed twins) and {wheel.relative_to(build.out.parent)}"
    )
    if args.serve is not None:
        config = page_config(build.out)
        backend = origin_of(config["endpoint"])
        csp = content_security_policy(
            [backend] if backend else [], config.get("embedHostOrigins", [])
        )
        try:
            with preview(build.out, args.base, csp, port=args.serve) as url:
                print(f"previewing on {url} (Ctrl+C stops)", flush=True)
                with suppress(KeyboardInterrupt):
                    threading.Event().wait()
        except OSError as error:
            print(f"dist: cannot listen on port {args.serve}: {error.strerror}", file=sys.stderr)
            return 1
    return 0


def build_site(
    out: Path,
    *,
    source: Path = ROOT,
    endpoint: str | None = None,
    embed_origins: Sequence[str] = (),
    gzip_level: int = 9,
    endpoints: Sequence[str] = (),
    brotli_quality: int = twins.BROTLI_QUALITY,
) -> Build:
    """Builds the site into `out` (replaced as a whole) and returns what it built."""
    index = (source / "index.html").read_text(encoding="utf-8")
    files = _shipped_files(source, index)
    version = _version(source, files)
    prefix = f"v/{version}/"
    overrides: dict[str, Any] = {}
    if endpoint is not None:
        overrides["endpoint"] = endpoint
    if embed_origins:
        overrides["embedHostOrigins"] = [exact_origin(origin) for origin in embed_origins]
    if endpoints:
        # The other back ends `?endpoint=` (or a host's data-endpoint) may select (app/config.py).
        overrides["endpoints"] = list(endpoints)
    # Everything that can be refused is checked before anything is written.
    rewritten = {
        "index.html": rewrite_config(rewrite_index(index, prefix), overrides),
        "embed.js": rewrite_embed_js(source),
        f"{prefix}pyscript.toml": rewrite_pyscript_toml(
            (source / "pyscript.toml").read_text(encoding="utf-8"), prefix
        ),
    }
    for name in filter(_is_page_script, files):
        script = (source / name).read_text(encoding="utf-8")
        rewritten[prefix + name] = rewrite_page_urls(script, prefix, source)

    # Built next to `out` and swapped in at the end, so a failed build leaves `out` as it was.
    fresh = out.with_name(out.name + ".tmp")
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        for name in files:
            (fresh / prefix / name).parent.mkdir(parents=True, exist_ok=True)
            if prefix + name not in rewritten:
                shutil.copy2(source / name, fresh / prefix / name)
        for name, text in rewritten.items():
            (fresh / name).write_text(text, encoding="utf-8")
        compressed = (
            precompress(fresh, source, prefix, gzip_level, brotli_quality) if gzip_level > 0 else 0
        )
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    fresh.rename(out)
    return Build(out, version, len(files) + len(ENTRY_POINTS), compressed)


# What goes under v/<version>/ ---------------------------------------------------------------


def _shipped_files(source: Path, index: str) -> list[str]:
    """Paths (relative to `source`) of the files the page loads, besides the entry points."""
    names = {
        path.relative_to(source).as_posix()
        for path in (source / "static").rglob("*")
        if path.is_file()
    }
    names = {name for name in names if not NOT_SHIPPED.search(name)}
    if not any(name.startswith("static/vendor/pyodide/") for name in names):
        raise BuildError("static/vendor/ has no runtime: run `make setup` first")
    names.update(_page_references(index, source))
    toml = tomllib.loads((source / "pyscript.toml").read_text(encoding="utf-8"))
    for url in _pyscript_file_urls(toml):
        name = url.removeprefix("./")
        if not (source / name).is_file():
            raise BuildError(f"pyscript.toml lists {url}, which does not exist")
        names.add(name)
    return sorted(names)


def _page_references(index: str, source: Path) -> set[str]:
    """The files index.html's src, href and config attributes name (all must exist)."""
    names = set()
    for match in _ATTRIBUTE_URL.finditer(index):
        url = match.group(2)
        if _is_relative_path(url):
            name = _path_of(url)
            if not (source / name).is_file():
                raise BuildError(f"index.html refers to {url}, which does not exist")
            names.add(name)
    return names


def _pyscript_file_urls(toml: Mapping[str, Any]) -> list[str]:
    """pyscript.toml's [files] URLs with PyScript's {NAME} templates expanded."""
    files = dict(toml.get("files", {}))
    templates = {key: files.pop(key) for key in list(files) if re.fullmatch(r"\{\w+\}", key)}
    urls = []
    for url in files:
        for name, value in templates.items():
            url = url.replace(name, value)
        urls.append(url)
    return urls


def _version(source: Path, names: Sequence[str]) -> str:
    """A hash of what goes under v/, and of this file, which decides how it is rewritten."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name in names:
        digest.update(name.encode() + b"\0" + (source / name).read_bytes() + b"\0")
    return digest.hexdigest()[:12]


# Rewriting URLs ------------------------------------------------------------------------------

_ATTRIBUTE_URL = re.compile(r"""(\s(?:src|href|config)=")([^"]*)(")""")
_QUOTED_PATH = re.compile(r"""(["'])((?:static|app)/[^"'\s]+)\1""")


def rewrite_index(html: str, prefix: str) -> str:
    """Points index.html's relative src, href and config attributes into `prefix`."""

    def rewrite(match: re.Match[str]) -> str:
        url = match.group(2)
        if not _is_relative_path(url):
            return match.group(0)
        return match.group(1) + prefix + url.removeprefix("./") + match.group(3)

    return _ATTRIBUTE_URL.sub(rewrite, html)


def rewrite_pyscript_toml(text: str, prefix: str) -> str:
    """Points `interpreter` into `prefix`.

    PyScript resolves `interpreter` against the page's URL but [files] against the config
    file's, so only the interpreter moves: the config sits in `prefix` next to the files.
    """

    def rewrite(match: re.Match[str]) -> str:
        return f'{match.group(1)}"./{prefix}{match.group(2).removeprefix("./")}"'

    text, count = re.subn(r'(?m)^(interpreter\s*=\s*)"([^"]+)"', rewrite, text)
    if count != 1:
        raise BuildError("pyscript.toml must set `interpreter` (the self-hosted pyodide.mjs)")
    return text


def rewrite_page_urls(script: str, prefix: str, source: Path) -> str:
    """Points page-relative file paths quoted in one of the page's own scripts into `prefix`.

    A classic script's `fetch("static/...")` resolves against the page, which stays at the
    top level while the file moves under v/<version>/. Only quoted paths of existing files
    change; resolving such URLs against `document.currentScript.src` makes this a no-op.
    """

    def rewrite(match: re.Match[str]) -> str:
        path = match.group(2)
        if not (source / _path_of(path)).is_file():
            return match.group(0)
        return match.group(1) + prefix + path + match.group(1)

    return _QUOTED_PATH.sub(rewrite, script)


def rewrite_embed_js(source: Path) -> str:
    """static/embed.js for the top level of the site, where the chat page is its neighbour."""
    script = (source / "static" / "embed.js").read_text(encoding="utf-8")
    line = 'var PAGE = "../index.html";'
    if script.count(line) != 1:
        raise BuildError(f"static/embed.js must contain `{line}` once")
    return script.replace(line, 'var PAGE = "index.html";')


def rewrite_config(html: str, overrides: Mapping[str, Any]) -> str:
    """index.html with `overrides` merged into its #chat-config JSON."""
    pattern = re.compile(
        r'(<script type="application/json" id="chat-config">)(.*?)(</script>)', re.S
    )
    match = pattern.search(html)
    if match is None:
        raise BuildError('index.html has no <script type="application/json" id="chat-config">')
    if not overrides:
        return html
    config = {**json.loads(match.group(2)), **overrides}
    block = f"\n    {json.dumps(config)}\n  "
    return html[: match.start(2)] + block + html[match.end(2) :]


def page_config(site: Path) -> dict[str, Any]:
    """The #chat-config JSON of a built site's index.html."""
    html = (site / "index.html").read_text(encoding="utf-8")
    match = re.search(r'id="chat-config">(.*?)</script>', html, re.S)
    if match is None:
        raise BuildError(f"{site}/index.html has no #chat-config")
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def exact_origin(text: str) -> str:
    """`scheme://host[:port]`, or BuildError: the widget trusts exact origins only."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise BuildError(f"{text!r} is not an origin such as https://www.example.org")
    if parts.query or parts.fragment or parts.username or "*" in text:
        raise BuildError(f"{text!r} is not an origin such as https://www.example.org")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def origin_of(url: str) -> str | None:
    """The origin of an absolute http(s) URL; None for a relative one."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc.lower()}"
    return None


def _is_relative_path(url: str) -> bool:
    return bool(url) and not re.match(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/|#|\?)", url)


def _path_of(url: str) -> str:
    return unquote(re.split(r"[?#]", url, maxsplit=1)[0]).removeprefix("./")


def _is_page_script(name: str) -> bool:
    return re.fullmatch(r"static/[^/]+\.m?js", name) is not None


# Precompressed twins ---------------------------------------------------------------------------


def precompress(site: Path, source: Path, prefix: str, gzip_level: int, brotli_quality: int) -> int:
    """Gives every file of `site` that compresses well its twins; returns how many there are.

    A file copied unchanged from `source` takes the source's fresh twins (brotli at quality
    11 takes a minute for the runtime alone); the others are compressed here.
    """
    files = [path for path in sorted(site.rglob("*")) if twins.is_compressible(path)]

    def one(path: Path) -> int:
        name = path.relative_to(site).as_posix().removeprefix(prefix)
        original = source / name
        same = original.is_file() and original.read_bytes() == path.read_bytes()
        for suffix in twins.ENCODINGS.values():
            twin = original.with_name(original.name + suffix)
            if same and twin.is_file() and twin.stat().st_mtime_ns >= original.stat().st_mtime_ns:
                shutil.copy2(twin, path.with_name(path.name + suffix))
        twins.write_twins(path, brotli_quality=brotli_quality, gzip_level=gzip_level)
        return sum(
            path.with_name(path.name + suffix).is_file() for suffix in twins.ENCODINGS.values()
        )

    with ThreadPoolExecutor() as pool:
        return sum(pool.map(one, files))


# The headers a host should send (docs/hosting.md) -------------------------------------------


def content_security_policy(
    backend_origins: Sequence[str] = (), frame_ancestors: Sequence[str] = ()
) -> str:
    """The strictest policy the page works under, measured (docs/hosting.md says why each).

    `'unsafe-eval'` is for PyScript, whose core builds its worker hooks with `Function(...)`
    on every start, workers or not; it also allows WebAssembly compilation, which is all
    Pyodide needs (`'wasm-unsafe-eval'` would do for Pyodide alone).
    """
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'", "'unsafe-eval'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'", *backend_origins],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": [*frame_ancestors] or ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def response_headers(name: str, csp: str) -> dict[str, str]:
    """The headers for the built site's file `name` (a path relative to the site)."""
    suffix = Path(name).suffix
    headers = {
        "Content-Type": content_type(suffix),
        "Cache-Control": IMMUTABLE if name.startswith("v/") else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    if suffix == ".html":
        headers["Content-Security-Policy"] = csp
    return headers


# A preview server that sends those headers ------------------------------------------------------


@contextmanager
def preview(
    site: Path, base: str, csp: str, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serves `site` under the path `base` in a thread; yields the site's URL."""
    if not (base.startswith("/") and base.endswith("/")):
        raise ValueError(f"base must start and end with '/': {base!r}")
    server = _PreviewServer((host, port), _PreviewHandler)
    server.site, server.base, server.csp = site.resolve(), base, csp
    thread = threading.Thread(target=server.serve_forever, name="dist preview", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}{base}"
    finally:
        server.shutdown()
        server.server_close()


class _PreviewServer(ThreadingHTTPServer):
    daemon_threads = True
    site: Path
    base: str
    csp: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that closes a connection early is not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _PreviewHandler(BaseHTTPRequestHandler):
    server: _PreviewServer

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _respond(self, *, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        base = self.server.base
        if path + "/" == base:
            self.send_response(301)
            self.send_header("Location", base)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = path.removeprefix(base) if path.startswith(base) else None
        if name is not None and (name == "" or name.endswith("/")):
            name += "index.html"
        site = self.server.site
        file = (site / name).resolve() if name is not None else None
        if file is None or not file.is_relative_to(site) or not file.is_file():
            self.send_error(404)
            return
        headers = response_headers(name or "", self.server.csp)
        accepted = {
            coding.split(";")[0].strip()
            for coding in self.headers.get("Accept-Encoding", "").split(",")
            if not re.search(r";\s*q=0(\.0*)?\s*$", coding)
        }
        variants = {
            encoding: file.with_name(file.name + suffix)
            for encoding, suffix in twins.ENCODINGS.items()
        }
        if any(twin.is_file() for twin in variants.values()):
            headers["Vary"] = "Accept-Encoding"
        for encoding, twin in variants.items():
            if encoding in accepted and twin.is_file():
                file = twin
                headers["Content-Encoding"] = encoding
                break
        data = file.read_bytes()
        self.send_response(200)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)


if __name__ == "__main__":
    sys.exit(main())
