"""sessionStorage: what this tab keeps so that a reload comes back to it (app/tab.py).

Storage may be blocked (a cross-site iframe, strict privacy settings) or full: then reading
finds nothing and writing warns in the console, and the page works without it.
"""

from __future__ import annotations

import js  # type: ignore[import-not-found]

from app.chat import Conversation
from app.tab import CONVERSATION_KEY, PLACE_KEY, Place


class TabStorage:
    """This tab's conversation and its place in the library, in sessionStorage."""

    def conversation(self) -> str | None:
        """The conversation kept before a reload (`Conversation.dumps()`), or None."""
        return _get(CONVERSATION_KEY)

    def place(self, new_id: str) -> Place:
        """The library place kept before a reload; a new one (`new_id`) when there is none."""
        return Place.loads(_get(PLACE_KEY), new_id)

    def save(self, conversation: Conversation, place: Place) -> None:
        try:
            js.sessionStorage.setItem(CONVERSATION_KEY, conversation.dumps())
            js.sessionStorage.setItem(PLACE_KEY, place.dumps())
        except Exception as error:  # storage full or blocked: the page works without it
            js.console.warn(f"streamchat: could not keep the conversation: {error!r}")


def _get(key: str) -> str | None:
    try:
        stored = js.sessionStorage.getItem(key)
    except Exception:  # storage blocked (a cross-site iframe, strict privacy settings)
        return None
    return str(stored) if stored else None
