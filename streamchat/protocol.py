"""The messages of the wire protocol (docs/contract.md §1) and the errors an answer can end with.

Bounded, whatever the server sends: an event's JSON nesting is checked before it is parsed
(`MAX_JSON_DEPTH`: Python's parser recurses, and Pyodide dies of a deep enough document),
and citations are cut to size (`MAX_CITATIONS`, `MAX_CITATION_TITLE_CHARS`,
`MAX_CITATION_URL_CHARS`, `MAX_CITATION_ID_CHARS`). See docs/security.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_CITATIONS",
    "MAX_CITATION_ID_CHARS",
    "MAX_CITATION_TITLE_CHARS",
    "MAX_CITATION_URL_CHARS",
    "MAX_JSON_DEPTH",
    "AnswerFailed",
    "AnswerRefused",
    "Citation",
    "Citations",
    "Context",
    "Done",
    "Finish",
    "Message",
    "Ping",
    "ProtocolError",
    "Reasoning",
    "ServerError",
    "ServerFailed",
    "ServerUnreachable",
    "StreamBroken",
    "StreamError",
    "Token",
    "Usage",
    "load_json",
    "parse_message",
]

#: Arrays and objects nest at most this deep in an event's JSON; deeper is a protocol error,
#: found by a linear scan before the (recursive) parser sees it.
MAX_JSON_DEPTH = 64
#: Citations kept from one `citations` message; later ones are dropped.
MAX_CITATIONS = 200
#: Characters of a citation's title shown; a longer one is cut, ending in "…".
MAX_CITATION_TITLE_CHARS = 300
#: Characters of a citation's URL; a longer one is dropped: the source shows without a link.
MAX_CITATION_URL_CHARS = 2_048
#: Characters of a citation's id (a marker `[id]` has at most 32); a longer one is cut.
MAX_CITATION_ID_CHARS = 64


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
class Reasoning:
    """A chunk of the model's reasoning ("thinking"), shown apart from the answer, never in it."""

    text: str


@dataclass(frozen=True)
class Usage:
    """Tokens the model counted for this answer, as far as the back end was told them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None


#: Why the model stopped, when it was not because the answer was complete.
FinishReason = str  # "length" | "content-filter" (others may come; treat them as "stop")


@dataclass(frozen=True)
class Finish:
    """The model stopped early: `length` (its token limit) or `content-filter`."""

    reason: FinishReason


@dataclass(frozen=True)
class Context:
    """What of the conversation the model was given, sent first when it was not everything.

    `dropped_turns` earlier turns were left out to keep within the back end's limits;
    `missing` says the back end no longer had the earlier turns at all (they expired).
    """

    kept_turns: int
    dropped_turns: int = 0
    missing: bool = False


@dataclass(frozen=True)
class Ping:
    """A heartbeat: the back end is alive and the model is still working."""


@dataclass(frozen=True)
class ServerError:
    """The server's report that the answer failed; `retryable`: whether asking again may help.

    `retry_after`: seconds to wait before asking again (an upstream's `Retry-After`).
    `code`: what kind of failure, for the page to offer the right way out: `context-length`
    (the conversation is too long: a new chat helps), `auth`, `rate-limit`, `bad-request`,
    `too-long` (the question); None when unknown.
    """

    message: str
    retryable: bool = False
    retry_after: float | None = None
    code: str | None = None


#: Error codes for which asking the same question again cannot help.
HOPELESS_CODES = frozenset({"auth", "bad-request", "context-length", "too-long"})


@dataclass(frozen=True)
class Done:
    """The `[DONE]` sentinel: the answer is complete."""


Message = Token | Reasoning | Citations | Usage | Finish | Context | Ping | ServerError | Done


def parse_message(data: str) -> Message | None:
    """The message an event's `data` carries, or None for a `type` this page does not know.

    Raises ProtocolError when `data` is not `[DONE]` and not a JSON object of a known shape.
    """
    if data == "[DONE]":
        return Done()
    try:
        payload = load_json(data)
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
            raise ProtocolError(f"citations.citations is not a list: {_shown(entries)}")
        return Citations(tuple(_citation(entry) for entry in entries[:MAX_CITATIONS]))
    if kind == "error":
        retryable = payload.get("retryable", False)
        if not isinstance(retryable, bool):
            raise ProtocolError(f"error.retryable is not a boolean: {retryable!r}")
        retry_after = _count(payload, "retry_after", kind, number=True)
        code = payload.get("code")
        return ServerError(
            _text(payload, "message", kind),
            retryable,
            float(retry_after) if retry_after is not None else None,
            code if isinstance(code, str) else None,
        )
    if kind == "reasoning":
        return Reasoning(_text(payload, "text", kind))
    if kind == "usage":
        return Usage(
            _count(payload, "prompt_tokens", kind),
            _count(payload, "completion_tokens", kind),
            _count(payload, "reasoning_tokens", kind),
        )
    if kind == "finish":
        return Finish(_text(payload, "reason", kind))
    if kind == "context":
        missing = payload.get("missing", False)
        return Context(
            _count(payload, "kept_turns", kind) or 0,
            _count(payload, "dropped_turns", kind) or 0,
            missing is True,
        )
    if kind == "ping":
        return Ping()
    # The contract lets the back end add message types; older pages skip them.
    return None


def load_json(data: str) -> Any:
    """`json.loads(data)`, but a document nested deeper than MAX_JSON_DEPTH is refused
    (ValueError) before it is parsed. The check is one linear scan, and none at all when
    `data` has too few brackets to nest that deep."""
    if data.count("[") + data.count("{") > MAX_JSON_DEPTH:
        depth = 0
        for token in _JSON_NESTING.finditer(data):
            char = token.group()[0]
            if char in "[{":
                depth += 1
                if depth > MAX_JSON_DEPTH:
                    raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            elif char in "]}":
                depth -= 1
    return json.loads(data)


class StreamError(Exception):
    """Why an answer could not be streamed to the end.

    `str(error)` is the technical detail, for logs; `user_message` says it in words for the
    person reading the page.
    """

    user_message: str = "Something went wrong while getting the answer."
    #: Whether asking the same question again may succeed (the page then offers Retry).
    retry_may_help: bool = True

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

    def __init__(self, detail: str = "", *, mid_answer: bool = True) -> None:
        if not mid_answer:
            self.user_message = (
                "The connection to the server kept dropping before the answer began."
            )
        super().__init__(detail)


class AnswerFailed(StreamError):
    """The server said the answer failed, in its own words, and retrying did not help."""

    def __init__(self, error: ServerError, attempts: int) -> None:
        self.error = error
        self.user_message = error.message
        self.retry_may_help = error.code not in HOPELESS_CODES
        super().__init__(f"{error.message} (after {attempts} attempts)")


class AnswerRefused(StreamError):
    """The server will not answer this question; asking again the same way will not help."""

    retry_may_help = False

    def __init__(self, reason: str) -> None:
        self.reason = reason
        ending = "" if reason.endswith((".", "!", "?")) else "."
        self.user_message = f"The server refused to answer: {reason}{ending}"
        super().__init__(f"answer refused: {reason}")


def _text(payload: dict[str, Any], name: str, where: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str):
        raise ProtocolError(f"{where}.{name} is not a string: {_shown(value)}")
    return value


def _count(payload: dict[str, Any], name: str, where: str, *, number: bool = False) -> Any:
    """An optional non-negative count (an int, or with `number` any real), else None."""
    value = payload.get(name)
    if value is None:
        return None
    allowed = isinstance(value, int | float) if number else isinstance(value, int)
    if isinstance(value, bool) or not allowed or value < 0:
        raise ProtocolError(f"{where}.{name} is not a non-negative number: {_shown(value)}")
    return value


def _citation(entry: object) -> Citation:
    if not isinstance(entry, dict):
        raise ProtocolError(f"a citation is not a JSON object: {_shown(entry)}")
    citation_id = entry.get("id")
    # Back ends that number their sources send `"id": 1`; markers in the text are `[1]` either
    # way. bool is a subclass of int, so `true` must be kept out explicitly.
    if isinstance(citation_id, int) and not isinstance(citation_id, bool):
        entry = {**entry, "id": str(citation_id)}
    title = _text(entry, "title", "citation")
    if len(title) > MAX_CITATION_TITLE_CHARS:
        title = title[: MAX_CITATION_TITLE_CHARS - 1].rstrip() + "…"
    url = _text(entry, "url", "citation")
    return Citation(
        _text(entry, "id", "citation")[:MAX_CITATION_ID_CHARS],
        title,
        url if len(url) <= MAX_CITATION_URL_CHARS else "",
    )


# A JSON string (to the end, if it never ends) or a bracket: strings are passed over whole.
_JSON_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')


def _shown(value: object, limit: int = 80) -> str:
    """`repr(value)`, cut to `limit` characters: a value from the server may be huge."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _excerpt(data: str, limit: int = 80) -> str:
    return repr(data if len(data) <= limit else data[:limit] + "…")
