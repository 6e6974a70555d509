"""The messages an answer is made of, and their JSON form on the wire (contract §1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict


class Message(TypedDict):
    """One earlier turn of the conversation, as the page sends it in `history`."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Token:
    """A chunk of the answer's markdown, split anywhere."""

    text: str


@dataclass(frozen=True)
class Citation:
    """A source that `[id]` markers in the answer's text refer to."""

    id: str
    title: str
    url: str


@dataclass(frozen=True)
class Citations:
    """The sources of the answer: at most one such event, after the last token."""

    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class ServerError:
    """The answer failed on the server; `message` is shown to the user as it is."""

    message: str
    retryable: bool = False


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
