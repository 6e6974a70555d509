"""The messages an answer is made of, and their JSON form on the wire (contract §1)."""

from __future__ import annotations

import json
from typing import Literal, TypedDict

# One definition of the wire protocol's messages for both ends: the page parses into these
# same frozen dataclasses (streamchat/protocol.py is pure Python and imports anywhere).
from streamchat.protocol import (
    Citation,
    Citations,
    Context,
    Finish,
    ProtocolError,
    Reasoning,
    ServerError,
    Token,
    Usage,
    parse_message,
)

__all__ = [
    "DONE",
    "AnswerEvent",
    "Citation",
    "Citations",
    "Context",
    "Finish",
    "Message",
    "Reasoning",
    "ServerError",
    "Token",
    "Usage",
    "event_from_json",
    "event_json",
]


class Message(TypedDict):
    """One earlier turn of the conversation, as the page sends it in `history`."""

    role: Literal["user", "assistant"]
    content: str


AnswerEvent = Token | Reasoning | Citations | Usage | Finish | Context | ServerError

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
        case Reasoning(text=text):
            return {"type": "reasoning", "text": text}
        case Usage():
            usage: dict[str, object] = {"type": "usage"}
            for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
                if (value := getattr(event, name)) is not None:
                    usage[name] = value
            return usage
        case Finish(reason=reason):
            return {"type": "finish", "reason": reason}
        case Context(kept_turns=kept, dropped_turns=dropped, missing=missing):
            return {
                "type": "context",
                "kept_turns": kept,
                "dropped_turns": dropped,
                "missing": missing,
            }
        case ServerError(message=message, retryable=retryable):
            error: dict[str, object] = {"type": "error", "message": message, "retryable": retryable}
            if event.retry_after is not None:
                error["retry_after"] = event.retry_after
            if event.code is not None:
                error["code"] = event.code
            return error


def event_from_json(payload: object) -> AnswerEvent:
    """The event that `event_json` turned into `payload`: for events kept outside the process.

    Raises ValueError for anything `event_json` cannot have made.
    """
    # One parser for both ends: the page's, which knows every shape and checks each field.
    try:
        message = parse_message(json.dumps(payload))
    except ProtocolError as error:
        raise ValueError(f"not an answer event: {payload!r}") from error
    if isinstance(message, Token | Reasoning | Citations | Usage | Finish | Context | ServerError):
        return message
    raise ValueError(f"not an answer event: {payload!r}")
