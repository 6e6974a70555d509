"""Coalesce streamed tokens into one update per animation frame."""

from __future__ import annotations

__all__ = ["FrameBatcher"]


class FrameBatcher:
    """Collects text as tokens arrive; each frame takes all of it at once.

    Tokens can arrive far faster than the screen redraws; rendering once per frame
    instead of once per token keeps the page responsive. It knows nothing of time:
    the frame callback (`requestAnimationFrame`) decides when to `take`.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []

    @property
    def pending(self) -> bool:
        """Whether text has been added since the last `take`."""
        return bool(self._parts)

    def add(self, text: str) -> None:
        """Add a token's text; empty text is ignored."""
        if text:
            self._parts.append(text)

    def take(self) -> str:
        """All the text added since the last `take`, in order; "" if none."""
        text = "".join(self._parts)
        self._parts.clear()
        return text
