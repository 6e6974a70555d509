"""How the report writes a figure: milliseconds, megabytes, counts, ratios, small numbers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from bench import report_text as text
from bench.records import Cpu, Distribution, LongTask, Startup


def busy(cpu: Cpu | None) -> str:
    if not cpu:
        return "n/a"
    return f"{cpu['others_cores']:.2f}"


def number(value: float | str | None) -> float | None:
    return None if value is None or isinstance(value, str) else value


def long_tasks(tasks: list[LongTask]) -> str:
    if not tasks:
        return "0"
    longest = max(task["duration_ms"] for task in tasks)
    return f"{len(tasks)} (longest {ms(longest)})"


def kb_list(values: Sequence[float]) -> str:
    shown = [f"{value:g}" for value in values]
    if len(shown) <= 1:
        return "".join(shown) + " KB"
    return f"{', '.join(shown[:-1])} and {shown[-1]} KB"


def word(value: int) -> str:
    return text.NUMBER_WORDS[value] if 0 <= value < len(text.NUMBER_WORDS) else f"{value:,}"


def ordinal(value: int) -> str:
    suffix = "th" if 10 <= value % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(value % 10)
    return f"{value}{suffix or 'th'}"


def dist(values: Distribution) -> str:
    return f"{ms(values['p50'])} / {ms(values['p95'])} / {ms(values['max'])}"


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:.1f} ms" if abs(value) < 100 else f"{value:.0f} ms"


def seconds(value_ms: float | None) -> str:
    return "–" if value_ms is None else f"{value_ms / 1000:.2f} s"


def mb(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value / 1e6:+.2f} MB" if signed else f"{value / 1e6:.2f} MB"


def kb(value: float) -> str:
    return f"{value / 1000:.1f} KB"


def kib(value: float) -> str:
    return f"{value:.1f} KiB"


def count(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def per_answer(value: float, fmt: Callable[[float | None], str]) -> str:
    if fmt is mb:
        return f"{value / 1000:+.1f} KB"
    return f"{value:+,.1f}"


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}×"


def largest(startup: Startup, count: int) -> str:
    largest = startup["cold"]["runs"][0]["largest"]
    return ", ".join(f"`{Path(item['path']).name}` {mb(item['bytes'])}" for item in largest[:count])
