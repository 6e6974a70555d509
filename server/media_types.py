"""The media type of each kind of file the page loads: one table for the back end
(server/static.py) and for `make dist`'s preview and recommended headers (tools/dist.py).

Standard library only, so that tools/dist.py can import it without the back end's packages.
"""

from __future__ import annotations

# Some systems' /etc/mime.types lack these or map .js to a legacy type; browsers refuse
# module scripts and streaming WebAssembly compilation under the wrong type.
MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".map": "application/json",
    ".toml": "application/toml",
    ".py": "text/x-python",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".svg": "image/svg+xml",
}
#: For a suffix not in the table.
UNKNOWN = "application/octet-stream"


def content_type(suffix: str) -> str:
    """The Content-Type for a file ending in `suffix`: text in UTF-8, as Starlette sends it."""
    media_type = MEDIA_TYPES.get(suffix, UNKNOWN)
    return f"{media_type}; charset=utf-8" if media_type.startswith("text/") else media_type
