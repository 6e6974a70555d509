"""The page's static files: only index.html, pyscript.toml, app/ and static/, never the rest.

Compressed when the browser accepts it: a file's precompressed twin (`name.br`, `name.gz`,
written at setup by tools/precompress.py) when there is a fresh one, else, for the app's
own small files that change with every edit, gzip made once per version of the file and
kept in memory. Never compressed per request.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import threading
from collections import OrderedDict
from pathlib import Path

import anyio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import NotModifiedResponse, PathLike, StaticFiles
from starlette.types import Receive, Scope, Send

from server import page_bundle
from server.media_types import MEDIA_TYPES

#: App files change with every edit: the browser must revalidate them (ETag makes it cheap).
NO_CACHE = "no-cache"
#: Vendored files (Pyodide, PyScript, wheels) change only when tools/vendor.py pins a new
#: version. Not `immutable`: their paths carry no version, so a reload must still revalidate.
LONG_CACHE = "public, max-age=31536000"
#: Content-Encoding → suffix of the precompressed twin (tools/precompress.py), best first.
TWINS = {"br": ".br", "gzip": ".gz"}
#: The types worth compressing (the others are compressed already, or tiny). The page's zips
#: are stored, not deflated, so that the transfer compresses each whole (server/page_bundle.py).
COMPRESSIBLE = {".js", ".mjs", ".css", ".html", ".json", ".py", ".svg", ".toml", ".wasm", ".zip"}
#: Files compressed in memory: at least this big (smaller ones gain less than a packet) …
MEMORY_MIN_BYTES = 1_000
#: … and at most this big (the vendored ones have twins on disk).
MEMORY_MAX_BYTES = 2_000_000


def register_types() -> None:
    """Registers the MIME types the page needs (process-wide, as `mimetypes` is)."""
    for suffix, media_type in MEDIA_TYPES.items():
        mimetypes.add_type(media_type, suffix)


def static_routes(root: Path) -> list[BaseRoute]:
    """The routes that serve the page from `root`."""
    register_types()

    async def index(request: Request) -> Response:
        return _file(root / "index.html")

    async def config(request: Request) -> Response:
        return _file(root / "pyscript.toml")

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/index.html", index, methods=["GET", "HEAD"]),
        Route("/pyscript.toml", config, methods=["GET", "HEAD"]),
        Mount("/app", app=Directory(root / "app", NO_CACHE)),
        Mount("/streamchat", app=Directory(root / "streamchat", NO_CACHE)),
        # Before /static: the page's own Python in one archive, made again after an edit.
        Route(f"/{page_bundle.BUNDLE}", _Bundle(root), methods=["GET", "HEAD"]),
        # Before /static, which would otherwise match first.
        Mount("/static/vendor", app=Directory(root / "static" / "vendor", LONG_CACHE)),
        Mount("/static", app=Directory(root / "static", NO_CACHE)),
    ]


class _Bundle:
    """server/page_bundle.py's archive, made again first when a module changed, then served as
    the page's other own files are (revalidated on every visit, gzip made once per version)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # The tree's root, of which this route serves only the one file.
        self._files = Directory(root, NO_CACHE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.to_thread.run_sync(page_bundle.refresh, self.root)
        await self._files(scope, receive, send)


class Directory:
    """One directory's files, with a Cache-Control header, compressed; 404 while it is absent."""

    def __init__(self, directory: Path, cache_control: str) -> None:
        self.directory = directory
        # check_dir=False: the directory may appear after the server starts (a build step).
        self._files = _CompressedFiles(directory=directory, check_dir=False)
        self._files.cache_control = cache_control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.directory.is_dir():
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self._files(scope, receive, send)


def accepted_encodings(accept_encoding: str) -> set[str]:
    """The content codings an Accept-Encoding header allows (q=0 refuses one)."""
    accepted = set()
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding and quality > 0:
            accepted.add(coding.strip())
    return accepted


class _CompressedFiles(StaticFiles):
    """StaticFiles that sends a compressed representation when the browser accepts one."""

    cache_control = NO_CACHE

    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        path = Path(full_path)
        request_headers = Headers(scope=scope)
        headers = {"Cache-Control": self.cache_control}
        response: Response
        if path.suffix not in COMPRESSIBLE and not _has_twin(path):
            response = super().file_response(full_path, stat_result, scope, status_code)
            response.headers.update(headers)
            return response
        headers["Vary"] = "Accept-Encoding"
        accepted = accepted_encodings(request_headers.get("accept-encoding", ""))
        # A byte range names bytes of one representation: the plain file's, always.
        if "range" not in request_headers:
            for encoding, suffix in TWINS.items():
                twin = path.with_name(path.name + suffix)
                if encoding in accepted and (twin_stat := _fresh_stat(twin, stat_result)):
                    headers["Content-Encoding"] = encoding
                    response = FileResponse(
                        twin, status_code, headers, _media_type(path), stat_result=twin_stat
                    )
                    return self._unless_not_modified(response, request_headers)
            if "gzip" in accepted and MEMORY_MIN_BYTES <= stat_result.st_size <= MEMORY_MAX_BYTES:
                body, etag = _MEMORY.gzipped(path, stat_result)
                headers |= {"Content-Encoding": "gzip", "ETag": etag}
                response = Response(body, status_code, headers, _media_type(path))
                return self._unless_not_modified(response, request_headers)
        response = FileResponse(full_path, status_code, headers, stat_result=stat_result)
        return self._unless_not_modified(response, request_headers)

    def _unless_not_modified(self, response: Response, request_headers: Headers) -> Response:
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response


class _MemoryGzip:
    """gzip of small files, made once per version (mtime and size) of each, least recently
    used dropped first."""

    def __init__(self, entries: int = 256) -> None:
        self._entries = entries
        self._cache: OrderedDict[tuple[str, int, int], tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def gzipped(self, path: Path, stat_result: os.stat_result) -> tuple[bytes, str]:
        key = (str(path), stat_result.st_mtime_ns, stat_result.st_size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = path.read_bytes()
        version = f"{key[1]}-{key[2]}-gzip".encode()
        entry = (
            gzip.compress(data, compresslevel=6, mtime=0),
            f'"{hashlib.md5(version, usedforsecurity=False).hexdigest()}"',
        )
        with self._lock:
            self._cache[key] = entry
            while len(self._cache) > self._entries:
                self._cache.popitem(last=False)
        return entry


_MEMORY = _MemoryGzip()


def _has_twin(path: Path) -> bool:
    return any(path.with_name(path.name + suffix).is_file() for suffix in TWINS.values())


def _fresh_stat(twin: Path, original: os.stat_result) -> os.stat_result | None:
    """The twin's stat when it exists and is not older than its file (else it is stale)."""
    try:
        twin_stat = twin.stat()
    except OSError:
        return None
    return twin_stat if twin_stat.st_mtime_ns >= original.st_mtime_ns else None


def _media_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _file(path: Path) -> Response:
    if not path.is_file():
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": NO_CACHE})
