"""streamchat: a resilient client for streamed chat answers and a streaming Markdown renderer.

Pure Python: everything outside `streamchat.browser` imports in plain CPython. The page in
`app/` is this package's first user; `docs/library.md` documents the public names.

`HttpxTransport` (needs httpx: `pip install streamchat[httpx]`) and `mount` (needs a
browser: PyScript or Pyodide) are imported when first used, so `import streamchat` needs
neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamchat.answer import AnswerState, StreamingAnswer
from streamchat.client import StreamRequest, stream_query
from streamchat.render import render_markdown
from streamchat.stream_render import StreamRenderer

if TYPE_CHECKING:
    from streamchat.browser.mount import mount
    from streamchat.httpx_transport import HttpxTransport

__all__ = [
    "AnswerState",
    "HttpxTransport",
    "StreamRenderer",
    "StreamRequest",
    "StreamingAnswer",
    "mount",
    "render_markdown",
    "stream_query",
]

_LAZY = {
    "HttpxTransport": "streamchat.httpx_transport",
    "mount": "streamchat.browser.mount",
}


def __getattr__(name: str) -> Any:
    # PEP 562: the optional parts are imported on first use, not by `import streamchat`.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'streamchat' has no attribute {name!r}")
