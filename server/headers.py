"""Security headers on every response, as `make dist` has a host send them (docs/hosting.md).

Every response gets `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`; an
HTML one also gets the Content-Security-Policy built from the page's own configuration
(`#chat-config` in index.html): `connect-src` from its endpoints, `frame-ancestors` from its
`embedHostOrigins`, `img-src` from its `imageOrigins`, plus the origins the command line adds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    # Types only: tools/dist.py imports this module for its policy, without the back end's
    # packages at run time.
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REFERRER_POLICY = "no-referrer"
_CONFIG = re.compile(
    r"<script[^>]*\bid=[\"']chat-config[\"'][^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


def content_security_policy(
    *,
    connect: Sequence[str] = (),
    images: Sequence[str] = (),
    frame_ancestors: Sequence[str] = (),
) -> str:
    """The policy of `tools/dist.py`, with images also from `data:`, `blob:` and `images`."""
    return strict_policy(
        connect=connect, images=["data:", "blob:", *images], frame_ancestors=frame_ancestors
    )


def strict_policy(
    *,
    connect: Sequence[str] = (),
    images: Sequence[str] = (),
    frame_ancestors: Sequence[str] = (),
) -> str:
    """The strictest policy the page works under, as `make dist` has a host send it.

    Measured in Chromium (docs/hosting.md says why each source is there): `'unsafe-eval'`
    is PyScript's need, whose core builds its worker hooks with `Function(...)` on every
    start; it also allows the WebAssembly compilation that is all Pyodide needs.
    """
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'", "'unsafe-eval'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", *_unique(images)],
        "connect-src": ["'self'", *_unique(connect)],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": [*_unique(frame_ancestors)] or ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def page_policy(
    index_html: str, *, img_origins: Sequence[str] = (), connect_origins: Sequence[str] = ()
) -> str:
    """The policy for a page whose index.html is `index_html`."""
    config = page_config(index_html)
    endpoints = [config.get("endpoint"), *_strings(config.get("endpoints"))]
    connect = [origin for e in endpoints if (origin := origin_of(e)) is not None]
    return content_security_policy(
        connect=[*connect, *_origins(connect_origins)],
        images=[*_origins(_strings(config.get("imageOrigins"))), *_origins(img_origins)],
        frame_ancestors=_origins(_strings(config.get("embedHostOrigins"))),
    )


def page_config(index_html: str) -> dict[str, object]:
    """The JSON of `#chat-config`, or {} when there is none or it is not a JSON object."""
    match = _CONFIG.search(index_html)
    if match is None:
        return {}
    try:
        config = json.loads(match.group(1))
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def origin_of(url: object) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL; None for a relative one."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return origin if _ORIGIN.fullmatch(origin) else None


class SecurityHeaders:
    """ASGI middleware that adds the headers; the policy follows edits of index.html."""

    def __init__(
        self,
        app: ASGIApp,
        root: Path,
        img_origins: Sequence[str] = (),
        connect_origins: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.index = root / "index.html"
        self.img_origins = tuple(img_origins)
        self.connect_origins = tuple(connect_origins)
        self._cached: tuple[float, bytes] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                added = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", REFERRER_POLICY.encode()),
                ]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    added.append((b"content-security-policy", self.policy()))
                headers += [(name, value) for name, value in added if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def policy(self) -> bytes:
        try:
            mtime = self.index.stat().st_mtime
        except OSError:
            mtime = -1.0
        if self._cached is None or self._cached[0] != mtime:
            try:
                html = self.index.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                html = ""
            policy = page_policy(
                html, img_origins=self.img_origins, connect_origins=self.connect_origins
            )
            self._cached = (mtime, policy.encode())
        return self._cached[1]


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _origins(values: Iterable[str]) -> list[str]:
    # Only well-formed origins: a stray `;` or space in the configuration must not add a
    # directive or a source to the policy.
    return [origin for value in values if (origin := origin_of(value)) is not None]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
