"""A preview server for the built site: under a subpath, with the headers of docs/hosting.md.

`python tools/dist.py --serve 8080` and the browser tests (tests/browser/test_dist.py) use it.
Like a host configured as docs/hosting.md says, it sends a file's precompressed twin to a
browser that accepts its encoding.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import precompress as twins
from dist_headers import response_headers

from server.static import accepted_encodings


@contextmanager
def preview(
    site: Path,
    base: str,
    csp: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log: list[str] | None = None,
) -> Iterator[str]:
    """Serves `site` under the path `base` in a thread; yields the site's URL. The path of
    each GET request is appended to `log`, if given."""
    if not (base.startswith("/") and base.endswith("/")):
        raise ValueError(f"base must start and end with '/': {base!r}")
    server = _PreviewServer((host, port), _PreviewHandler)
    server.site, server.base, server.csp = site.resolve(), base, csp
    server.log = log
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
    log: list[str] | None

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that closes a connection early is not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _PreviewHandler(BaseHTTPRequestHandler):
    server: _PreviewServer

    def do_GET(self) -> None:
        if self.server.log is not None:
            self.server.log.append(urlsplit(self.path).path)
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
        accepted = accepted_encodings(self.headers.get("Accept-Encoding", ""))
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
