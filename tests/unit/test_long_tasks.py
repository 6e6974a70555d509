"""bench.long_tasks: a long task split into what ran inside it."""

from __future__ import annotations

from bench.long_tasks import category_of, long_tasks, summarise
from bench.stream_trace import Span

ORIGIN = 1_000_000.0  # µs


def at(ms: float) -> float:
    return ORIGIN + ms * 1000


def test_each_event_has_its_kind_of_work() -> None:
    assert category_of("MajorGC") == "garbage collection"
    assert category_of("V8.GC_MC_EVACUATE") == "garbage collection"
    assert category_of("wasm.CompileBaseline") == "compiling"
    assert category_of("FunctionCall") == "script"
    assert category_of("V8.HandleInterrupts") == "script"
    assert category_of("Layout") == "style and layout"
    assert category_of("PrePaint") == "paint"
    assert category_of("RunTask") == "other"


def test_a_long_task_is_split_by_self_time_and_short_and_early_ones_are_left_out() -> None:
    spans = [
        # Early (the question being asked): long, but before `after_ms`.
        Span("RunTask", at(100), at(300)),
        # A frame with a major collection inside its script.
        Span("RunTask", at(2000), at(2080)),
        Span("FunctionCall", at(2000), at(2050)),
        Span("MajorGC", at(2010), at(2040)),
        Span("wasm.CompileBaseline", at(2042), at(2047)),
        Span("Layout", at(2055), at(2065)),
        Span("Paint", at(2065), at(2075)),
        # Not long.
        Span("RunTask", at(3000), at(3040)),
        Span("FunctionCall", at(3000), at(3040)),
    ]
    spans.sort(key=lambda span: (span.start, -span.end))
    found = long_tasks(spans, origin_us=ORIGIN, after_ms=1000)
    assert found == [
        {
            "at_ms": 2000.0,
            "ms": 80.0,
            "split_ms": {
                "garbage collection": 30.0,
                "compiling": 5.0,
                "script": 15.0,
                "style and layout": 10.0,
                "paint": 10.0,
                "other": 10.0,
            },
            "major_gc_ms": 30.0,
        }
    ]
    summary = summarise(found)
    assert summary["long_tasks"] == 1
    assert summary["with_major_gc"] == 1
    assert summary["median_split_ms"]["garbage collection"] == 30.0


def test_no_long_tasks_summarise_to_none() -> None:
    assert summarise([]) == {
        "long_tasks": 0,
        "with_major_gc": 0,
        "major_gc_ms": [],
        "median_split_ms": dict.fromkeys(
            ("garbage collection", "compiling", "script", "style and layout", "paint", "other")
        ),
    }
