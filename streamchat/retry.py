"""When to reconnect after a failure: back-off, server hints, stalls. Time is passed in."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

__all__ = ["RetryPolicy", "is_retryable_status", "parse_retry_after", "retry_delay"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one answer is retried. Times are in seconds."""

    max_retries: int = 3
    base_delay: float = 1.0
    factor: float = 2.0
    jitter: float = 0.25  # the delay is multiplied by a uniform factor in [1 - jitter, 1 + jitter]
    max_delay: float = 30.0
    stall_timeout: float = 30.0  # no event for this long: the connection is treated as dropped


def retry_delay(
    policy: RetryPolicy,
    retry_number: int,
    rng: Callable[[], float],
    *,
    server_retry_ms: int | None = None,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait before retry `retry_number` (1-based): about 1 s, 2 s, 4 s by default.

    Jitter keeps many pages that lost the same server from all coming back at once. The
    server's `retry:` (milliseconds) and `Retry-After` (seconds) are floors, never capped:
    the page must not reconnect sooner than the server asked.
    """
    if retry_number < 1:
        raise ValueError(f"retry_number counts from 1, got {retry_number}")
    backoff = policy.base_delay * policy.factor ** (retry_number - 1)
    spread = 1.0 - policy.jitter + 2.0 * policy.jitter * rng()
    delay = min(policy.max_delay, backoff * spread)
    if server_retry_ms is not None:
        delay = max(delay, server_retry_ms / 1000)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def is_retryable_status(status: int) -> bool:
    """Whether asking again may get a different reply: 5xx, 408 Request Timeout, 429 Too Many."""
    return 500 <= status <= 599 or status in (408, 429)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """The seconds a `Retry-After` header asks to wait, or None when it is absent or unreadable.

    `value` is delta-seconds or an HTTP-date; `now` is the current Unix time. A date in the
    past means "now", so the result is never negative.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        # parsedate_to_datetime returns a naive datetime for "-0000"; HTTP-dates are GMT.
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
