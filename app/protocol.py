"""The messages of the wire protocol (docs/contract.md §1) and the errors an answer can end with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AnswerRefused",
    "Citation",
    "Citations",
    "Done",
    "Message",
    "ProtocolError",
    "ServerError",
    "ServerFailed",
    "ServerUnreachable",
    "StreamBroken",
    "StreamError",
    "Token",
    "parse_message",
]


@dataclass(frozen=True)
class Token:
    """A chunk of the answer's markdown, split anywhere."""

    text: str


@dataclass(frozen=True)
class Citation:
    """A source that markers like `[1]` in the answer refer to by `id`."""

    id: str
    title: str
    url: str


@dataclass(frozen=True)
class Citations:
    """The answer's sources, sent at most once, after the last token."""

    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class ServerError:
    """The server's report that the answer failed; `retryable`: whether asking again may help."""

    message: str
    retryable: bool = False


@dataclass(frozen=True)
class Done:
    """The `[DONE]` sentinel: the answer is complete."""


Message = Token | Citations | ServerError | Done


def parse_message(data: str) -> Message | None:
    """The message an event's `data` carries, or None for a `type` this page does not know.

    Raises ProtocolError when `data` is not `[DONE]` and not a JSON object of a known shape.
    """
    if data == "[DONE]":
        return Done()
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ProtocolError(f"event data is not JSON: {exc}: {_excerpt(data)}") from exc
    if not isinstance(payload, dict):
        raise ProtocolError(f"event data is not a JSON object: {_excerpt(data)}")
    kind = _text(payload, "type", "message")
    if kind == "token":
        return Token(_text(payload, "text", kind))
    if kind == "citations":
        entries = payload.get("citations")
        if not isinstance(entries, list):
            raise ProtocolError(f"citations.citations is not a list: {entries!r}")
        return Citations(tuple(_citation(entry) for entry in entries))
    if kind == "error":
        retryable = payload.get("retryable", False)
        if not isinstance(retryable, bool):
            raise ProtocolError(f"error.retryable is not a boolean: {retryable!r}")
        return ServerError(_text(payload, "message", kind), retryable)
    # The contract lets the back end add message types; older pages skip them.
    return None


class StreamError(Exception):
    """Why an answer could not be streamed to the end.

    `str(error)` is the technical detail, for logs; `user_message` says it in words for the
    person reading the page.
    """

    user_message: str = "Something went wrong while getting the answer."

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.user_message)


class ProtocolError(StreamError):
    """The server's reply broke the wire protocol."""

    user_message = "The server sent a reply this page could not read."


class ServerUnreachable(StreamError):
    """No connection to the server could be made."""

    user_message = "Could not reach the server. Check your connection and try again."


class ServerFailed(StreamError):
    """The server failed to produce the answer (an HTTP 5xx, or an error it said was temporary)."""

    def __init__(self, status: int | None, detail: str = "") -> None:
        self.status = status
        if status is None:
            self.user_message = "The server ran into a problem."
        else:
            self.user_message = f"The server ran into a problem (HTTP {status})."
        super().__init__(detail or (f"HTTP {status}" if status is not None else ""))


class StreamBroken(StreamError):
    """The connection kept dropping or stalling, and the answer could not be resumed."""

    user_message = "The connection dropped in the middle of the answer and could not be resumed."


class AnswerRefused(StreamError):
    """The server will not answer this question; asking again the same way will not help."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        ending = "" if reason.endswith((".", "!", "?")) else "."
        self.user_message = f"The server refused to answer: {reason}{ending}"
        super().__init__(f"answer refused: {reason}")


def _text(payload: dict[str, Any], name: str, where: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str):
        raise ProtocolError(f"{where}.{name} is not a string: {value!r}")
    return value


def _citation(entry: object) -> Citation:
    if not isinstance(entry, dict):
        raise ProtocolError(f"a citation is not a JSON object: {entry!r}")
    citation_id = entry.get("id")
    # Back ends that number their sources send `"id": 1`; markers in the text are `[1]` either
    # way. bool is a subclass of int, so `true` must be kept out explicitly.
    if isinstance(citation_id, int) and not isinstance(citation_id, bool):
        entry = {**entry, "id": str(citation_id)}
    return Citation(
        _text(entry, "id", "citation"),
        _text(entry, "title", "citation"),
        _text(entry, "url", "citation"),
    )


def _excerpt(data: str, limit: int = 80) -> str:
    return repr(data if len(data) <= limit else data[:limit] + "…")
