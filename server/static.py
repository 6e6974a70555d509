"""The page's static files: only index.html, pyscript.toml, app/ and static/, never the rest."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

#: App files change with every edit: the browser must revalidate them (ETag makes it cheap).
NO_CACHE = "no-cache"
#: Vendored files (Pyodide, PyScript, wheels) change only when tools/vendor.py pins a new
#: version. Not `immutable`: their paths carry no version, so a reload must still revalidate.
LONG_CACHE = "public, max-age=31536000"

# Some systems' /etc/mime.types lack these or map .js to a legacy type; browsers refuse
# module scripts and streaming WebAssembly compilation under the wrong type.
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".toml": "application/toml",
    ".py": "text/x-python",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".json": "application/json",
    ".map": "application/json",
}


def register_types() -> None:
    """Registers the MIME types the page needs (process-wide, as `mimetypes` is)."""
    for suffix, media_type in _TYPES.items():
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
        # Before /static, which would otherwise match first.
        Mount("/static/vendor", app=Directory(root / "static" / "vendor", LONG_CACHE)),
        Mount("/static", app=Directory(root / "static", NO_CACHE)),
    ]


class Directory:
    """StaticFiles for one directory, with a Cache-Control header; 404 while it is absent."""

    def __init__(self, directory: Path, cache_control: str) -> None:
        self.directory = directory
        self.cache_control = cache_control.encode()
        # check_dir=False: the directory may appear after the server starts (a build step).
        self._files = StaticFiles(directory=directory, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.directory.is_dir():
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return

        async def send_with_cache_control(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                message["headers"] = [*message["headers"], (b"cache-control", self.cache_control)]
            await send(message)

        await self._files(scope, receive, send_with_cache_control)


def _file(path: Path) -> Response:
    if not path.is_file():
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": NO_CACHE})
