"""The messages an answer is made of, and their JSON form on the wire (contract §1)."""

from __future__ import annotations

from typing import Literal, TypedDict

# One definition of the wire protocol's messages for both ends: the page parses into these
# same frozen dataclasses (app/protocol.py is pure Python and imports anywhere).
from app.protocol import Citation, Citations, ServerError, Token

__all__ = [
    "DONE",
    "AnswerEvent",
    "Citation",
    "Citations",
    "Message",
    "ServerError",
    "Token",
    "event_from_json",
    "event_json",
]


class Message(TypedDict):
    """One earlier turn of the conversation, as the page sends it in `history`."""

    role: Literal["user", "assistant"]
    content: str


AnswerEvent = Token | Citations | ServerError

#: The sentinel that ends a complete answer; the only `data` that is not a JSON object.
DONE = "[DONE]"


def event_json(event: AnswerEvent) -> dict[str, object]:
    """The JSON object sent as the event's `data`."""
    match event:
        case Token(text=text):
            return {"type": "token", "text": text}
        case Citations(citations=citations):
            return {
                "type": "citations",
                "citations": [{"id": c.id, "title": c.title, "url": c.url} for c in citations],
            }
        case ServerError(message=message, retryable=retryable):
            return {"type": "error", "message": message, "retryable": retryable}


def event_from_json(payload: object) -> AnswerEvent:
    """The event that `event_json` turned into `payload`: for events kept outside the process.

    Raises ValueError for anything `event_json` cannot have made.
    """
    match payload:
        case {"type": "token", "text": str(text)}:
            return Token(text)
        case {"type": "citations", "citations": list(items)}:
            return Citations(tuple(_citation(item) for item in items))
        case {"type": "error", "message": str(message), "retryable": bool(retryable)}:
            return ServerError(message, retryable)
    raise ValueError(f"not an answer event: {payload!r}")


def _citation(item: object) -> Citation:
    match item:
        case {"id": str(id), "title": str(title), "url": str(url)}:
            return Citation(id, title, url)
    raise ValueError(f"not a citation: {item!r}")
