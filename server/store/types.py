"""The values and errors every answer store shares; imports nothing of the stores."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from server.events import AnswerEvent, ServerError

#: Makes the events of a new answer (or of a new attempt at one); called at most once.
Start = Callable[[], AsyncIterator[AnswerEvent]]

#: A resume of an answer the store no longer has (expired, or the store lost it).
EXPIRED = ServerError("This answer is no longer on the server; please ask again.")
#: The answer cannot be read to its end (its store is unreachable, or a new attempt would
#: repeat text the client has already shown).
BROKEN_OFF = ServerError("The answer broke off and cannot be resumed; please ask again.")
#: An answerer raised: the stream still ends in a way the page understands.
FAILED = ServerError("The answer failed on the server.")
#: The answer reached the most events an answer may have.
TOO_LONG = ServerError("The answer was too long and has been cut short.")
#: Said to a reader that comes back after the grace period: the answer was stopped meanwhile.
ABANDONED = "Nobody was reading this answer, so the server stopped it; please ask again."


class Outcome(enum.Enum):
    """How an answer ended, if it has."""

    RUNNING = "running"
    #: The answerer finished: readers end the stream with `[DONE]`.
    DONE = "done"
    #: The last stored event is an error: readers end the stream after it.
    ERROR = "error"
    #: Cancelled (DELETE, expiry, shutdown): readers end the stream without `[DONE]`.
    STOPPED = "stopped"


@dataclass(frozen=True)
class Batch:
    """The events after some event number, and how the answer stands after them.

    `events` are numbered on from the number asked for. `outcome` is RUNNING while more
    may come; otherwise the answer has ended with the last of `events`.
    """

    events: tuple[AnswerEvent, ...]
    outcome: Outcome


@dataclass(frozen=True)
class AnswerState:
    """How far an answer has got: what a resume decides on before streaming."""

    count: int
    outcome: Outcome
    #: It ended with an error that says a retry may succeed.
    failed_retryably: bool
    #: Some token was produced, so a new attempt would repeat text (known once it has ended).
    has_text: bool


class StoreError(Exception):
    """Why a store cannot do what a request asks; the endpoint answers each kind its own way."""


class AnswerConflict(StoreError):
    """A request reuses a request id for a different question."""


class StoreFull(StoreError):
    """Too many answers are kept at once to start another."""


class StoreUnavailable(StoreError):
    """The store cannot be reached (or is out of memory) right now: a request should be
    retried `retry_after` seconds later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AnswerLost(StoreError):
    """The answer can no longer be read; `event` (sent without an id) tells the client why."""

    def __init__(self, event: ServerError) -> None:
        super().__init__(event.message)
        self.event = event
