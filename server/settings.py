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
    #: Seconds of silence after which a `: ping` comment keeps proxies from closing the stream.
    ping_interval: float = 15.0
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
    #: Fault injection through the `fault` query parameter; never on in production.
    faults: bool = False
    #: An OpenAI-compatible endpoint (e.g. https://api.openai.com/v1); None = offline answers.
    upstream_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    #: Replaces the answerer built from the fields above (tests, embedders).
    answerer: Answerer | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
