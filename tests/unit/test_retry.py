"""streamchat.retry: back-off with jitter and the server's hints, on a fake clock."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from streamchat.retry import RetryPolicy, is_retryable_status, parse_retry_after, retry_delay

POLICY = RetryPolicy()
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


def middle() -> float:
    """An rng that always lands on the middle of the jitter range, so no jitter at all."""
    return 0.5


def test_defaults() -> None:
    assert RetryPolicy(3, 1.0, 2.0, 0.25, 30.0, 30.0) == POLICY


@pytest.mark.parametrize(("retry_number", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)])
def test_delay_doubles(retry_number: int, delay: float) -> None:
    assert retry_delay(POLICY, retry_number, middle) == pytest.approx(delay)


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.75), (0.5, 1.0), (0.999999, 1.25)])
def test_jitter_spans_the_fraction_either_side(draw: float, factor: float) -> None:
    assert retry_delay(POLICY, 3, lambda: draw) == pytest.approx(4.0 * factor, rel=1e-5)


def test_seeded_jitter_stays_within_bounds_and_varies() -> None:
    rng = random.Random(1234).random
    delays = [retry_delay(POLICY, 2, rng) for _ in range(200)]
    assert all(1.5 <= delay <= 2.5 for delay in delays)
    assert len(set(delays)) > 100


def test_no_jitter_when_the_fraction_is_zero() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert retry_delay(policy, 2, lambda: 0.0) == retry_delay(policy, 2, lambda: 0.99) == 2.0


def test_delay_is_capped_at_max_delay() -> None:
    assert retry_delay(POLICY, 10, lambda: 0.99) == 30.0
    assert retry_delay(RetryPolicy(max_delay=3.0), 3, middle) == 3.0


def test_server_retry_is_a_floor() -> None:
    assert retry_delay(POLICY, 1, middle, server_retry_ms=5000) == 5.0
    assert retry_delay(POLICY, 3, middle, server_retry_ms=500) == pytest.approx(4.0)
    # The server's wish beats the cap: the page never reconnects sooner than asked.
    assert retry_delay(POLICY, 1, middle, server_retry_ms=60_000) == 60.0


def test_retry_after_is_a_floor() -> None:
    assert retry_delay(POLICY, 1, middle, retry_after=7.0) == 7.0
    assert retry_delay(POLICY, 3, middle, retry_after=0.5) == pytest.approx(4.0)
    assert retry_delay(POLICY, 1, middle, server_retry_ms=9000, retry_after=7.0) == 9.0


def test_retry_number_counts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        retry_delay(POLICY, 0, middle)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
        (408, True),
        (429, True),
        (200, False),
        (204, False),
        (301, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (499, False),
        (600, False),
    ],
)
def test_is_retryable_status(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        (format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True), 90.0),
        ("Thu, 02 Jan 2025 03:05:05 GMT", 60.0),
        ("Thu, 02 Jan 2025 03:05:05 -0000", 60.0),
        ("Thursday, 02-Jan-25 03:05:05 GMT", 60.0),
        ("Thu Jan  2 03:05:05 2025", 60.0),
        ("Wed, 01 Jan 2025 00:00:00 GMT", 0.0),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("٣", None),
        ("soon", None),
        ("Thu, 32 Jan 2025 03:05:05 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.fixture
def local_time_far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "XYZ-14")  # POSIX spelling of UTC+14, needs no tz database
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_far_from_utc")
@pytest.mark.parametrize("value", ["Thu, 02 Jan 2025 03:05:05 -0000", "Thu Jan  2 03:05:05 2025"])
def test_retry_after_dates_without_a_zone_are_gmt_whatever_the_local_zone(value: str) -> None:
    assert parse_retry_after(value, NOW) == 60.0
