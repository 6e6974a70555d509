"""What a tab keeps for itself (sessionStorage), so that a reload comes back to it (pure).

Two entries: the conversation it shows (`Conversation.dumps()`, under `CONVERSATION_KEY`),
and its place in the library of past conversations (`Place`, under `PLACE_KEY`). Each tab
keeps its own: sessionStorage is per tab. app/browser/storage.py reads and writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["CONVERSATION_KEY", "PLACE_KEY", "Place"]

CONVERSATION_KEY = "streamchat:conversation"
#: Which stored conversation this tab shows: {"id", "rev", "title", "named"}.
PLACE_KEY = "streamchat:current"


@dataclass
class Place:
    """The conversation's place in the library (IndexedDB): its id, the revision this tab
    last wrote, its title, and whether the user named it (else: the first question)."""

    id: str
    rev: int = 0
    title: str = ""
    named: bool = False

    def dumps(self) -> str:
        return json.dumps(
            {"id": self.id, "rev": self.rev, "title": self.title, "named": self.named}
        )

    @classmethod
    def loads(cls, stored: str | None, new_id: str) -> Place:
        """The place kept before a reload; a new conversation (`new_id`) when there is none or
        it is unreadable (another version's format, a hand-edited store)."""
        try:
            place = json.loads(stored or "{}")
            return cls(
                str(place["id"]) or new_id,
                int(place["rev"]),
                str(place["title"]),
                place["named"] is True,
            )
        except (ValueError, TypeError, KeyError):
            return cls(new_id)
