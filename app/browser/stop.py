"""The stop request: `DELETE {endpoint}?rid=…` tells the back end that the reader stopped an
answer (docs/contract.md §1), so that it frees it at once.

Best effort: closing the connection already stops the reference back end. Sent with
keepalive, so it outlives the page, and with the access token when signed in.
"""

from __future__ import annotations

import js  # type: ignore[import-not-found]

from app.browser.auth import SignIn


def request_stop(endpoint: str, rid: str, sign_in: SignIn) -> None:
    """Ask the back end at `endpoint` (resolved against the page) to stop answer `rid`."""
    if not rid:
        return
    url = js.URL.new(endpoint, js.location.href)
    url.searchParams.set("rid", rid)
    sign_in.delete(str(url.href))
