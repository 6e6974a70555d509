"""What the long tasks in kept stream traces are made of.

`python -m bench.stream_cost --traces DIR` keeps each run's Chromium trace; this reads them
back and splits every main-thread task over 50 ms into what ran inside it: garbage
collection, compiling (WebAssembly compiled on the main thread, JavaScript compiled),
script, style and layout, paint, and the rest (the task's own time: scheduling, IPC). A
count of long tasks says that a frame was late; this says why, which decides what could be
done about it (less work a frame, less garbage, or nothing the page controls).

    python -m bench.long_tasks DIR/*.json [--after-ms 1000] [--json OUT]

Tasks that begin within `--after-ms` of the trace's `bench-sync` time stamp are left out:
the question being asked (bench/stream_cost.py puts it in the page right after that stamp),
not the answer streaming.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench import stream_trace
from bench.stream_trace import LONG_TASK_US, Span

__all__ = ["CATEGORIES", "category_of", "long_tasks", "main", "summarise"]

#: The kinds of work a task's time is split into, in the order they are shown.
CATEGORIES = ("garbage collection", "compiling", "script", "style and layout", "paint", "other")
_SCRIPT = frozenset(
    {
        "FunctionCall",
        "EventDispatch",
        "FireAnimationFrame",
        "FireIdleCallback",
        "TimerFire",
        "RunMicrotasks",
        "EvaluateScript",
        "HandlePostMessage",
        "ParseHTML",
        "XHRReadyStateChange",
    }
)
_STYLE_LAYOUT = frozenset(
    {"UpdateLayoutTree", "Layout", "RecalculateStyles", "ScheduleStyleRecalculation", "HitTest"}
)
_PAINT = frozenset(
    {"Paint", "PrePaint", "Layerize", "Commit", "UpdateLayer", "CompositeLayers", "ScrollLayer"}
)


def category_of(name: str) -> str:
    """The kind of work a trace event's self time is (one of CATEGORIES)."""
    if name in ("MajorGC", "MinorGC", "BlinkGC.AtomicPhase") or name.startswith(
        ("V8.GC", "BlinkGC", "CppGC")
    ):
        return "garbage collection"
    if name.startswith(("wasm.", "V8.Compile", "v8.compile", "V8.Parse")):
        return "compiling"
    if name in _SCRIPT or name.startswith(("V8.", "v8.")):  # V8.Execute, v8.callFunction, …
        return "script"
    if name in _STYLE_LAYOUT:
        return "style and layout"
    if name in _PAINT:
        return "paint"
    return "other"


def long_tasks(
    all_spans: list[Span], *, origin_us: float, after_ms: float = 1000.0
) -> list[dict[str, Any]]:
    """Each task over 50 ms that begins `after_ms` or more after `origin_us`: when it began
    (ms after the origin), its length and its self time per category (ms), and the longest
    major garbage collection inside it (ms, 0 for none)."""
    found = []
    for start, end in stream_trace.merged_tasks(all_spans):
        if end - start <= LONG_TASK_US or start < origin_us + after_ms * 1000:
            continue
        split = dict.fromkeys(CATEGORIES, 0.0)
        for name, us in stream_trace.self_times(all_spans, start, end).items():
            split[category_of(name)] += us / 1000
        major = max(
            (s.end - s.start for s in all_spans if s.name == "MajorGC" and start <= s.start < end),
            default=0.0,
        )
        found.append(
            {
                "at_ms": round((start - origin_us) / 1000, 1),
                "ms": round((end - start) / 1000, 1),
                "split_ms": {k: round(v, 1) for k, v in split.items()},
                "major_gc_ms": round(major / 1000, 1),
            }
        )
    return found


def summarise(tasks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """How many long tasks; how many held a major garbage collection; the median split."""
    tasks = list(tasks)
    with_gc = [t for t in tasks if t["major_gc_ms"] > 0]
    return {
        "long_tasks": len(tasks),
        "with_major_gc": len(with_gc),
        "major_gc_ms": [t["major_gc_ms"] for t in with_gc],
        "median_split_ms": {
            k: round(statistics.median(t["split_ms"][k] for t in tasks), 1) if tasks else None
            for k in CATEGORIES
        },
    }


def read(path: Path, after_ms: float) -> list[dict[str, Any]]:
    events = stream_trace.page_events(path.read_bytes())
    thread = stream_trace.find_page_thread(events, 0.0)
    return long_tasks(
        stream_trace.spans(events, thread), origin_us=thread.origin_us, after_ms=after_ms
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.long_tasks", description=__doc__)
    parser.add_argument("traces", nargs="+", type=Path, help="traces kept by bench.stream_cost")
    parser.add_argument(
        "--after-ms", type=float, default=1000.0, help="leave out tasks before this (default 1000)"
    )
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for path in args.traces:
        tasks = read(path, args.after_ms)
        results[str(path)] = {"tasks": tasks, **summarise(tasks)}
        print(f"{path}: {len(tasks)} over 50 ms")
        for task in tasks:
            split = ", ".join(f"{k} {v:.1f}" for k, v in task["split_ms"].items() if v >= 0.5)
            gc = f" (major GC {task['major_gc_ms']:.1f} ms)" if task["major_gc_ms"] else ""
            print(f"  at {task['at_ms']:8.0f} ms: {task['ms']:5.1f} ms = {split}{gc}")
    every = [t for run in results.values() for t in run["tasks"]]
    results["all"] = summarise(every)
    print(json.dumps(results["all"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
