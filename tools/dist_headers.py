"""The headers a host should send with the built site (docs/hosting.md), and its policy.

The Content-Security-Policy's directives are the back end's (server/headers.py): one table
for both, so that `make run` and a static host protect the page alike. Media types come from
server/media_types.py, the back end's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from server.headers import strict_policy
from server.media_types import content_type

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def content_security_policy(
    backend_origins: Sequence[str] = (),
    frame_ancestors: Sequence[str] = (),
    image_origins: Sequence[str] = (),
) -> str:
    """The strictest policy the page works under, measured (docs/hosting.md says why each).

    `backend_origins` go to `connect-src`, `frame_ancestors` (the sites that embed the
    widget) to `frame-ancestors`, which is `'none'` without them, and `image_origins` (the
    page's `imageOrigins`, whose images answers may show) to `img-src`.
    """
    return strict_policy(
        connect=backend_origins, images=image_origins, frame_ancestors=frame_ancestors
    )


def response_headers(name: str, csp: str) -> dict[str, str]:
    """The headers for the built site's file `name` (a path relative to the site)."""
    suffix = Path(name).suffix
    headers = {
        "Content-Type": content_type(suffix),
        "Cache-Control": IMMUTABLE if name.startswith("v/") else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
        # As the back end sends it: a link in an answer does not tell its site where it was.
        "Referrer-Policy": "no-referrer",
    }
    if suffix == ".html":
        headers["Content-Security-Policy"] = csp
    return headers
