"""streamchat: a resilient client for streamed chat answers and a streaming Markdown renderer.

Pure Python: everything outside `streamchat.browser` imports in plain CPython. The page in
`app/` is this package's first user; `docs/library.md` documents the public names.

`HttpxTransport` (needs httpx: `pip install streamchat[httpx]`) and `mount` (needs a
browser: PyScript or Pyodide) are imported when first used, so `import streamchat` needs
neither; so are `render_markdown` and `StreamRenderer`, which import Markdown and Pygments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamchat.answer import AnswerState, StreamingAnswer
from streamchat.client import StreamRequest, stream_query

if TYPE_CHECKING:
    from streamchat.browser.mount import mount
    from streamchat.httpx_transport import HttpxTransport
    from streamchat.render import render_markdown
    from streamchat.stream_render import StreamRenderer

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
    # The renderer imports Markdown and Pygments (about 0.1 s in the browser): not before a
    # page needs them, so that a page can be ready first (docs/startup.md).
    "render_markdown": "streamchat.render",
    "StreamRenderer": "streamchat.stream_render",
}


def __getattr__(name: str) -> Any:
    # PEP 562: the optional parts are imported on first use, not by `import streamchat`.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'streamchat' has no attribute {name!r}")
