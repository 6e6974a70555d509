"""Everything the back end can be configured with, in one frozen value."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.answerers import Answerer

#: The repository root: the directory that holds index.html, app/ and static/.
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """How the server behaves; tests inject `clock`, `sleep` and `answerer`."""

    root: Path = REPO_ROOT
    cors_origins: tuple[str, ...] = ()
    #: Seconds between two tokens of the offline answerer, so the page visibly streams.
    pace: float = 0.03
    #: Sent as the stream's `retry:` field: the page waits at least this long to reconnect.
    retry_ms: int = 1000
    #: Seconds of silence after which a heartbeat is sent: it keeps proxies from closing the
    #: stream, and tells the page that the model is still working while it thinks.
    ping_interval: float = 5.0
    #: An answer is kept this long after its last activity so that a reconnect can resume it.
    keep_seconds: float = 60.0
    #: How often the server looks for answers to forget when no request comes in.
    sweep_interval: float = 10.0
    #: Memory bounds: answers kept at once, events per answer, request sizes.
    max_answers: int = 1000
    max_events: int = 10_000
    max_question_chars: int = 4000
    max_history_messages: int = 100
    max_body_bytes: int = 1_000_000
    #: Where answers are kept: None = this process's memory; a `redis://HOST:PORT/DB` URL = a
    #: Redis shared by every instance, so that any of them can serve any request.
    store: str | None = None
    #: With Redis: the generating instance's lease. Readers of an answer whose generator died
    #: get an error within this time (plus at most a second).
    lease_seconds: float = 5.0
    #: How long an answer is still generated after its last reader went away (long enough for
    #: a reload to resume it); then its answerer (and upstream request) is stopped.
    reader_grace: float = 15.0
    #: With Redis: at most one write per answer per this many seconds, the events of the
    #: meantime going together (0: each event at once). Fewer, larger writes, for that much
    #: latency: a lever for many concurrent answers (docs/scaling.md).
    flush_interval: float = 0.0
    #: An OpenAI-compatible endpoint (e.g. https://api.openai.com/v1); None = offline answers.
    upstream_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    #: Sent first, as the `system` message, with every question to the model.
    system_prompt: str | None = None
    #: Sampling temperature and answer length cap for the model; None = the model's defaults.
    temperature: float | None = None
    max_tokens: int | None = None
    #: Earlier turns given to the model at most, oldest dropped first; and their characters.
    history_turns: int = 20
    history_chars: int = 24_000
    #: Seconds the server keeps a conversation's turns for follow-up questions (EventSource
    #: cannot send the history, so the server follows the turns back itself).
    history_ttl: float = 86_400.0
    #: Connections to the upstream model at most (the HTTP client's pool). When they are all
    #: taken, the answer abandoned longest is stopped to make room; failing that, a 503.
    upstream_connections: int = 100
    #: Per client (address, or token subject with `require_token`): answers streaming at once,
    #: and new questions per minute (a token bucket that holds that many). 0: no limit.
    client_streams: int = 10
    client_questions_per_minute: int = 60
    #: UTF-8 bytes of text (answer and reasoning) per answer; beyond them it is cut off.
    max_answer_bytes: int = 1_048_576
    #: Seconds a write to a client may take; a reader that stops reading is disconnected.
    write_timeout: float = 30.0
    #: The HMAC-SHA256 secret that signs access tokens (docs/security.md); None: no sign-in.
    require_token: str | None = field(default=None, repr=False)
    #: Seconds an EventSource ticket (`POST /api/ticket`) may be used, once.
    ticket_seconds: float = 30.0
    #: Origins images may come from besides the page's own, `data:` and `blob:` (the CSP's
    #: img-src), and origins the page may connect to besides its endpoints (connect-src).
    img_origins: tuple[str, ...] = ()
    connect_origins: tuple[str, ...] = ()
    #: Replaces the answerer built from the fields above (tests, embedders).
    answerer: Answerer | None = None
    clock: Callable[[], float] = time.monotonic
    #: Unix time, for the expiry of access tokens.
    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
