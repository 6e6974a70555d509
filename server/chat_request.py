"""Reading a chat request (GET query or POST JSON body) into one validated value."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from server.events import Message

_RID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EVENT_ID = re.compile(r"[0-9]{1,9}")


class BadRequest(ValueError):
    """The request cannot be answered as it is; the message says why, for a 400 body.

    `code` names the kind of problem for the page (streamchat.protocol.ServerError.code).
    """

    def __init__(self, message: str, code: str = "bad-request") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    """The sizes a request may have."""

    max_question_chars: int = 4000
    max_history_messages: int = 100


@dataclass(frozen=True)
class ChatRequest:
    """A question to answer, or an answer to resume after `last_event_id`."""

    rid: str
    question: str
    history: tuple[Message, ...] = ()
    last_event_id: int | None = None
    #: The rid of the answer before this question: the back end follows the conversation
    #: back from it when `history` is not sent (server/turns.py).
    parent: str | None = None
    #: Continue the answer `parent` (cut off by the model's length limit) instead of
    #: answering anew; `question` repeats that answer's question.
    continuing: bool = False
    #: The raw `fault` query parameter; only read when fault injection is on.
    fault: str | None = None


def from_query(
    query: Mapping[str, str], last_event_id_header: str | None, limits: Limits
) -> ChatRequest:
    """A GET request: `q`, `rid`, optional `last_event_id`, `parent` and `continue=1`."""
    return ChatRequest(
        rid=parse_rid(query.get("rid")),
        question=_question(query.get("q"), limits),
        last_event_id=_last_event_id(last_event_id_header, query.get("last_event_id")),
        fault=query.get("fault"),
        parent=_parent(query.get("parent")),
        continuing=_continuing(query.get("continue") == "1", query.get("parent")),
    )


def from_body(
    body: bytes, query: Mapping[str, str], last_event_id_header: str | None, limits: Limits
) -> ChatRequest:
    """A POST request: JSON `{"question", "rid", "history"}`."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body must be a JSON object.") from None
    if not isinstance(document, dict):
        raise BadRequest("The body must be a JSON object.")
    return ChatRequest(
        rid=parse_rid(document.get("rid")),
        question=_question(document.get("question"), limits),
        history=_history(document.get("history", []), limits),
        last_event_id=_last_event_id(last_event_id_header, query.get("last_event_id")),
        fault=query.get("fault"),
        parent=_parent(document.get("parent")),
        continuing=_continuing(document.get("continue") is True, document.get("parent")),
    )


def parse_rid(value: object) -> str:
    """The request id, which names an answer in the store: 1 to 64 of `A-Z a-z 0-9 _ -`."""
    if not isinstance(value, str) or not _RID.fullmatch(value):
        raise BadRequest("rid must be 1 to 64 letters, digits, '_' or '-'.")
    return value


def _question(value: object, limits: Limits) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("The question is missing.")
    if len(value) > limits.max_question_chars:
        raise BadRequest(
            f"The question is longer than {limits.max_question_chars:,} characters"
            f" ({len(value):,}); please shorten it.",
            "too-long",
        )
    return value.strip()


def _history(value: object, limits: Limits) -> tuple[Message, ...]:
    if not isinstance(value, list):
        raise BadRequest("history must be a list of messages.")
    if len(value) > limits.max_history_messages:
        raise BadRequest(f"history has more than {limits.max_history_messages} messages.")
    messages: list[Message] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            raise BadRequest('Each history message needs a "role" and a "content" string.')
        role = item.get("role")
        if role == "user":
            messages.append({"role": "user", "content": item["content"]})
        elif role == "assistant":
            messages.append({"role": "assistant", "content": item["content"]})
        else:
            raise BadRequest('A history message\'s role must be "user" or "assistant".')
    return tuple(messages)


def _parent(value: object) -> str | None:
    return None if value is None or value == "" else parse_rid(value)


def _continuing(asked: bool, parent: object) -> bool:
    if asked and not parent:
        raise BadRequest("continue needs the parent answer to continue.")
    return asked


def _last_event_id(header: str | None, parameter: str | None) -> int | None:
    # The header wins: when a page resumed with `?last_event_id=n` and the EventSource then
    # reconnects by itself, the URL still says n but the header has the later id.
    value = header if header else parameter
    if not value:
        return None
    if not _EVENT_ID.fullmatch(value.strip()):
        raise BadRequest("Last-Event-ID must be an event id this server sent (a number).")
    return int(value)
