"""The site `make dist` builds: what ships, under which version, and the three files rewritten.

Only index.html (its URLs point into v/<version>/, its #chat-config takes the command line's
settings), pyscript.toml (its `interpreter`, which PyScript resolves against the page) and
sw.js (the version, which names its cache) are rewritten. The JavaScript is copied as it is:
each script resolves what it fetches against its own URL (`document.currentScript.src`), so
it works at the top of the source tree and under v/<version>/ alike, and static/embed.js
finds the page beside it in the site (docs/hosting.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dist_compress
import precompress as twins

from server import headers, page_bundle

ROOT = Path(__file__).resolve().parent.parent
#: Served with their names unchanged: the only files a browser must revalidate.
ENTRY_POINTS = ("index.html", "embed.js", "sw.js")
#: The widget loader, copied unchanged to the top of the site, beside index.html.
EMBED_JS = "static/embed.js"
#: The service worker, written to the top of the site (its scope) with the site's version.
SERVICE_WORKER = "static/sw.js"
SERVICE_WORKER_VERSION = "__VERSION__"
#: Files in static/ that are not part of the page (embed.js and sw.js go to the top level),
#: and the precompressed twins, which follow their files.
NOT_SHIPPED = re.compile(r"(^|/)\.|\.map$|^static/(embed|sw)\.js$|\.(br|gz)$")


class BuildError(Exception):
    """The source tree cannot be built into a site; the message says why."""


@dataclass(frozen=True)
class Build:
    out: Path
    version: str
    files: int
    compressed: int


def build_site(
    out: Path,
    *,
    source: Path = ROOT,
    endpoint: str | None = None,
    embed_origins: Sequence[str] = (),
    gzip_level: int = 9,
    endpoints: Sequence[str] = (),
    brotli_quality: int = twins.BROTLI_QUALITY,
    service_worker: bool = True,
) -> Build:
    """Builds the site into `out` (replaced as a whole) and returns what it built.

    With `service_worker`, #chat-config names sw.js, which static/boot.js then registers: a
    repeat visit starts from the browser's cache, offline too (static/sw.js)."""
    page_bundle.refresh(source)  # the page's own Python as it is now, never a stale archive
    index = (source / "index.html").read_text(encoding="utf-8")
    files = _shipped_files(source, index)
    version = _version(source, files)
    prefix = f"v/{version}/"
    overrides: dict[str, Any] = {"serviceWorker": "sw.js"} if service_worker else {}
    if endpoint is not None:
        overrides["endpoint"] = endpoint
    if embed_origins:
        overrides["embedHostOrigins"] = [exact_origin(origin) for origin in embed_origins]
    if endpoints:
        # The other back ends `?endpoint=` (or a host's data-endpoint) may select (app/config.py).
        overrides["endpoints"] = list(endpoints)
    # Everything that can be refused is checked before anything is written.
    for name in [*filter(_is_page_script, files), EMBED_JS, SERVICE_WORKER]:
        check_page_script(name, (source / name).read_text(encoding="utf-8"), source)
    rewritten = {
        "index.html": rewrite_config(rewrite_index(index, prefix), overrides),
        "sw.js": versioned_service_worker(
            (source / SERVICE_WORKER).read_text(encoding="utf-8"), version
        ),
        f"{prefix}pyscript.toml": rewrite_pyscript_toml(
            (source / "pyscript.toml").read_text(encoding="utf-8"), prefix
        ),
    }

    # Built next to `out` and swapped in at the end, so a failed build leaves `out` as it was.
    fresh = out.with_name(out.name + ".tmp")
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        for name in files:
            (fresh / prefix / name).parent.mkdir(parents=True, exist_ok=True)
            if prefix + name not in rewritten:
                shutil.copy2(source / name, fresh / prefix / name)
        shutil.copy2(source / EMBED_JS, fresh / "embed.js")
        for name, text in rewritten.items():
            (fresh / name).write_text(text, encoding="utf-8")
        compressed = (
            dist_compress.precompress(fresh, source, prefix, gzip_level, brotli_quality)
            if gzip_level > 0
            else 0
        )
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    fresh.rename(out)
    return Build(out, version, len(files) + len(ENTRY_POINTS), compressed)


# Rewriting index.html, pyscript.toml and sw.js ----------------------------------------------


def versioned_service_worker(script: str, version: str) -> str:
    """static/sw.js with the site's version, which names its cache: a new version's worker
    differs from the last one's, so browsers install it and drop the old files."""
    quoted = f'"{SERVICE_WORKER_VERSION}"'
    if script.count(quoted) != 1:
        raise BuildError(f"{SERVICE_WORKER} must hold {quoted} once, where the version goes")
    return script.replace(quoted, json.dumps(version))


_ATTRIBUTE_URL = re.compile(r"""(\s(?:src|href|config)=")([^"]*)(")""")
_CONFIG_BLOCK = re.compile(
    r'(<script type="application/json" id="chat-config">)(.*?)(</script>)', re.S
)


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


def rewrite_config(html: str, overrides: Mapping[str, Any]) -> str:
    """index.html with `overrides` merged into its #chat-config JSON."""
    match = _CONFIG_BLOCK.search(html)
    if match is None:
        raise BuildError('index.html has no <script type="application/json" id="chat-config">')
    if not overrides:
        return html
    config = {**json.loads(match.group(2)), **overrides}
    block = f"\n    {json.dumps(config)}\n  "
    return html[: match.start(2)] + block + html[match.end(2) :]


def page_config(site: Path) -> dict[str, Any]:
    """The #chat-config JSON of a built site's index.html."""
    config = headers.page_config((site / "index.html").read_text(encoding="utf-8"))
    if not config:
        raise BuildError(f"{site}/index.html has no #chat-config")
    return config


def exact_origin(text: str) -> str:
    """`scheme://host[:port]`, or BuildError: the widget trusts exact origins only."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise BuildError(f"{text!r} is not an origin such as https://www.example.org")
    if parts.query or parts.fragment or parts.username or "*" in text:
        raise BuildError(f"{text!r} is not an origin such as https://www.example.org")
    return f"{parts.scheme}://{parts.netloc.lower()}"


# The page's own scripts ----------------------------------------------------------------------

_QUOTED_PAGE_PATH = re.compile(r"""(["'])((?:static|app)/[^"'\s]+)\1""")


def check_page_script(name: str, script: str, source: Path) -> None:
    """Refuses a script of static/ that quotes a page-relative path of the tree.

    Such a path resolves against the page, which stays at the top of the site while the
    script's neighbours move under v/<version>/: resolve it against the script's own URL
    instead (`new URL("vendor/x.json", document.currentScript.src)`, or `import.meta.url`).
    """
    for match in _QUOTED_PAGE_PATH.finditer(script):
        path = match.group(2)
        if (source / _path_of(path)).is_file():
            raise BuildError(
                f"{name} names {path!r} relative to the page, which make dist moves away from "
                "it: resolve it against the script's own URL (document.currentScript.src)"
            )


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


def _is_relative_path(url: str) -> bool:
    return bool(url) and not re.match(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/|#|\?)", url)


def _path_of(url: str) -> str:
    return unquote(re.split(r"[?#]", url, maxsplit=1)[0]).removeprefix("./")


def _is_page_script(name: str) -> bool:
    return re.fullmatch(r"static/[^/]+\.m?js", name) is not None
