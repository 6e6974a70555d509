"""How an answer is coming along, for its status line: phases, first words, speed (pure).

`Progress` is told what arrived and when (time is passed in); the words come from app/chat.py.
"""

from __future__ import annotations

from app.chat import progress_text, reconnect_status, speed_text
from streamchat.client import Reconnecting
from streamchat.protocol import Usage

__all__ = ["Progress"]


class Progress:
    """When the answer started and how its tokens have come, for the status line."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.words = 0
        self._mid_word = False
        self.alive = False  # a heartbeat came: the back end is there, the model working
        self.thinking_since: float | None = None
        self.retrying: Reconnecting | None = None
        self._retry_at = 0.0

    def token(self, now: float, text: str) -> None:
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        # Words begun in this chunk: a word split across chunks is counted once.
        self.words += len(text.split()) - (bool(text) and not text[0].isspace() and self._mid_word)
        self._mid_word = bool(text) and not text[-1].isspace()
        self.retrying = None

    def thinking(self, now: float) -> None:
        if self.thinking_since is None:
            self.thinking_since = now
        self.retrying = None

    def retry(self, item: Reconnecting, now: float) -> None:
        self.retrying, self._retry_at = item, now + item.delay

    def retry_text(self, now: float) -> str:
        item = self.retrying
        if item is None:
            return ""
        left = self._retry_at - now if item.message else None
        return reconnect_status(item.attempt, item.max_attempts, left, item.message)

    def waiting_for(self, now: float) -> float:
        return now - self.started if self.first_token_at is None else 0.0

    def text(self, now: float) -> str:
        return progress_text(
            now,
            self.started,
            self.first_token_at,
            self.words,
            alive=self.alive,
            thinking_since=self.thinking_since,
        )

    def summary(self, now: float, usage: Usage | None) -> str:
        if self.first_token_at is None:
            return ""
        end = self.last_token_at or now
        if usage is not None and usage.completion_tokens:
            count, unit = usage.completion_tokens, "tokens"
        else:
            count, unit = self.words, "words"
        return speed_text(
            self.first_token_at - self.started, count, end - self.first_token_at, unit
        )
