"""The targets the report judges against, and each claim it makes, as a function of numbers.

The report's prose (bench/report_text.py) only words what these decide: a target met or
missed, a cost flat or growing with the answer's length, a machine contended or quiet.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from typing import Literal

# Targets of issue 8 (and issue 5 §6, issue 10): reported against, never asserted.
COLD_READY_S = 2.5
WARM_READY_S = 1.5
GROWTH_RATIO = 2.0
NAIVE_RATIO = 10.0
LONG_TASK_MS = 50.0
LATENESS_MS = 50.0
SCALE_OUT_STREAMS = 1000
#: "Flat" memory: what the page's two heaps (V8 and Python's malloc) keep per answer in the
#: steady state, at most about what a few copies of the answer's own text would take.
FLAT_BYTES_PER_ANSWER = 10_000

#: Within this fraction of its target, a figure can land on either side of it from run to run.
BORDERLINE = 0.1
#: Other processes keeping more cores busy than this stretch what is measured in wall time.
CONTENDED_CORES = 0.3
#: A back end using less than this many cores is far from busy.
BUSY_CORES = 0.5
#: A p99 after the ramp-up under this share of the overall p99: the ramp-up is the lateness.
RAMP_UP_SHARE = 0.7
#: A correlation of cost and length at least this strong, with growth: growing linearly.
LINEAR_CORRELATION = 0.9
#: A bin whose median update costs this many times the median bin's: a bump.
BUMP_FACTOR = 2.0

Trend = Literal["flat", "growing linearly", "growing", "falling"]


def met(value: float | None, target: float, *, lower_is_better: bool, strict: bool) -> bool:
    """Whether `value` meets `target` (`strict`: must beat it, not equal it)."""
    if value is None:
        return False
    if lower_is_better:
        return value < target if strict else value <= target
    return value > target if strict else value >= target


def borderline(value: float, target: float) -> bool:
    """Whether `value` is so near `target` that another run could land on its other side."""
    return abs(value - target) < BORDERLINE * target


def trend(centres: Sequence[float], medians: Sequence[float], low: float, high: float) -> Trend:
    """How a cost changes from answer length `low` to `high` (KB), by a least-squares line.

    Flat: the line's value at `high` is within a factor GROWTH_RATIO of its value at `low`,
    either way; growing linearly: more, and the points follow the line.
    """
    points = [(x, y) for x, y in zip(centres, medians, strict=True) if low <= x <= high]
    if len(points) < 3:
        return "flat"
    xs, ys = [x for x, _ in points], [y for _, y in points]
    slope, intercept = statistics.linear_regression(xs, ys)
    start, end = intercept + slope * low, intercept + slope * high
    if start <= 0 or end <= 0:
        return "growing" if slope > 0 else "falling"
    if end > GROWTH_RATIO * start:
        return "growing linearly" if _correlation(xs, ys) >= LINEAR_CORRELATION else "growing"
    if start > GROWTH_RATIO * end:
        return "falling"
    return "flat"


def bumps(
    centres: Sequence[float], medians: Sequence[float], low: float, high: float
) -> list[float]:
    """The bins (centres, KB) from `low` to `high` that cost BUMP_FACTOR × the median bin."""
    inside = [(x, y) for x, y in zip(centres, medians, strict=True) if low <= x <= high]
    if not inside:
        return []
    typical = statistics.median(y for _, y in inside)
    return [x for x, y in inside if y > BUMP_FACTOR * typical]


def blocks(markdown: str) -> list[tuple[int, int]]:
    """Where (character offsets) `markdown` has a fenced code block (in a list too) or table."""
    spans: list[tuple[int, int]] = []
    fence: str | None = None
    table_start: int | None = None
    start = offset = 0
    for line in markdown.splitlines(keepends=True):
        opener = re.match(r"\s*(`{3,}|~{3,})", line)
        if fence is None and opener:
            fence, start = opener.group(1), offset
        elif fence is not None and line.strip().startswith(fence):
            spans.append((start, offset + len(line)))
            fence = None
        elif fence is None and line.lstrip().startswith("|"):
            table_start = offset if table_start is None else table_start
        elif table_start is not None:
            spans.append((table_start, offset))
            table_start = None
        offset += len(line)
    if fence is not None:
        spans.append((start, offset))
    if table_start is not None:
        spans.append((table_start, offset))
    return spans


def in_block(spans: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    """Whether one of `spans` was open somewhere between answer lengths `start` and `end`."""
    return any(begin < end and start < finish for begin, finish in spans)


def transfer_dominates(arrived_ms: float, ready_ms: float) -> bool:
    """Whether the runtime's download took longer than everything after it until ready."""
    return arrived_ms >= ready_ms - arrived_ms


def same_work(warm_ms: float, cold_ms: float) -> bool:
    """Whether the work after the runtime arrived took warm about as long as cold (≥ 80 %)."""
    return warm_ms >= (1 - 2 * BORDERLINE) * cold_ms


def loop_late(client_lag_ms: float | None, probe_lag_ms: float | None) -> bool:
    """Whether the load client's event loop lagged at least twice the probes' at p99."""
    if client_lag_ms is None or probe_lag_ms is None:
        return False
    return client_lag_ms >= 2 * probe_lag_ms


def contended(others_cores: float) -> bool:
    """Whether other processes kept the machine busy enough to stretch wall-time figures."""
    return others_cores > CONTENDED_CORES


def busy_back_end(cores: float) -> bool:
    return cores >= BUSY_CORES


def lateness_is_ramp_up(overall_p99: float | None, after_ramp_up_p99: float | None) -> bool:
    """Whether the lateness is mostly the streams' start: much less of it once all run."""
    if overall_p99 is None or after_ramp_up_p99 is None:
        return False
    return after_ramp_up_p99 < overall_p99 * RAMP_UP_SHARE


def memory_flat(kept_bytes_per_answer: float) -> bool:
    """Whether the heaps keep no more per answer than the conversation's own text needs."""
    return kept_bytes_per_answer <= FLAT_BYTES_PER_ANSWER


def near(value: float, reference: float, *, within: float) -> bool:
    return abs(value - reference) <= within


def _correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:  # a constant series
        return 0.0
