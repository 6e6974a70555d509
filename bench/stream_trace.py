"""Reading a Chromium trace for bench/stream_cost.py: the page's main thread in a time window.

Only complete events (`ph: X`) and begin/end pairs are read. Times are the trace's, in
microseconds; bench/stream_cost.py maps the page's `performance.now()` onto them with a
`console.timeStamp("bench-sync")` it makes in the page (a `TimeStamp` event, on the page's
main thread, at a known `performance.now()`).
"""

from __future__ import annotations

import base64
import bisect
import gzip
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from playwright.sync_api import CDPSession

#: The renderer's top-level tasks as DevTools records them: all main-thread work runs in one.
#: (The "toplevel" category's ThreadControllerImpl::RunTask is the same task, and would
#: double the trace's size.)
TASKS = frozenset({"RunTask", "ThreadControllerImpl::RunTask"})
#: What the trace records: DevTools' timeline (tasks, scripts, style, layout, paint, GC), and
#: WebAssembly compiled on the main thread (a function's first call, or its code thrown away
#: for a slower tier when a guess of the optimizing compiler failed: read by bench.long_tasks).
CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8.execute",
    "blink.user_timing",
    "v8.wasm",
    "disabled-by-default-v8.wasm.detailed",
]
SYNC = "bench-sync"
#: A long task: longer than 50 ms (µs, the trace's unit).
LONG_TASK_US = 50_000
#: For the profiled run: V8's sampling profiler, for what the scripts' time is made of.
PROFILER = "disabled-by-default-v8.cpu_profiler"
#: Room for a long run's events (recording stops, silently but for a flag, when full).
BUFFER_KB = 512 * 1024


def start(cdp: CDPSession, *, profile: bool = False) -> None:
    """Starts tracing through the page's DevTools session, to be read back gzipped (a run's
    trace is 30–90 MB of JSON); `profile` adds V8's sampling profiler."""
    cdp.send(
        "Tracing.start",
        {
            "traceConfig": {
                "includedCategories": [*CATEGORIES, *([PROFILER] if profile else [])],
                "recordMode": "recordUntilFull",
                "traceBufferSizeInKb": BUFFER_KB,
            },
            "transferMode": "ReturnAsStream",
            "streamFormat": "json",
            "streamCompression": "gzip",
        },
    )


def stop(cdp: CDPSession, wait: Callable[[float], None]) -> bytes:
    """Ends tracing and reads the trace (JSON); `wait(ms)` lets Playwright deliver events."""
    complete: dict[str, Any] = {}
    cdp.on("Tracing.tracingComplete", lambda params: complete.update(params))
    cdp.send("Tracing.end")
    for _ in range(3000):
        if complete:
            break
        wait(20)
    if "stream" not in complete:
        raise RuntimeError("the trace did not complete")
    if complete.get("dataLossOccurred"):
        raise RuntimeError("the trace buffer overflowed: raise BUFFER_KB")
    chunks = []
    while True:
        read = cdp.send("IO.read", {"handle": complete["stream"], "size": 8 << 20})
        data = read["data"]
        chunks.append(base64.b64decode(data) if read.get("base64Encoded") else data.encode())
        if read.get("eof"):
            break
    cdp.send("IO.close", {"handle": complete["stream"]})
    return gzip.decompress(b"".join(chunks))


@dataclass(frozen=True)
class Span:
    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Thread:
    pid: int
    tid: int
    #: The trace time (µs) at performance.now() = 0 on this page.
    origin_us: float


def find_page_thread(events: list[dict[str, Any]], sync_now_ms: float) -> Thread:
    """The main thread that logged the `bench-sync` time stamp, and its time origin."""
    for event in events:
        if event.get("name") == "TimeStamp":
            data = event.get("args", {}).get("data", {})
            if data.get("message") == SYNC:
                return Thread(event["pid"], event["tid"], float(event["ts"]) - sync_now_ms * 1000)
    raise RuntimeError("the trace has no bench-sync time stamp")


def page_events(trace: bytes) -> list[dict[str, Any]]:
    """The spans (complete events, begin/end pairs) of the thread that logged `bench-sync`,
    and that time stamp, from a JSON trace as Chromium streams it, one event a line, keys in
    order. Only those lines are read, and only their name, phase, time and duration (a
    regular expression; a line it does not fit is parsed as JSON). Any other layout of the
    trace is parsed whole."""
    lines = trace.split(b"\n")
    marker = f'"message":"{SYNC}"'.encode()
    found = [line for line in lines if marker in line]
    if len(found) != 1:
        whole = json.loads(trace)
        return list(whole["traceEvents"] if isinstance(whole, dict) else whole)
    sync = _first_object(found[0])
    pid, tid = sync["pid"], sync["tid"]
    pid_key, tid_key = f'"pid":{pid},'.encode(), f'"tid":{tid},'.encode()
    events = [sync]
    for line in lines:
        if pid_key not in line or tid_key not in line:
            continue
        if not any(phase in line for phase in _SPAN_PHASES):
            continue
        name_phase, time_ = _NAME_PHASE.search(line), _TIME.search(line)
        duration = _DURATION.search(line)
        if name_phase and time_ and (duration or name_phase.group(2) != b"X"):
            name = name_phase.group(1)
            event = {
                "name": json.loads(b'"' + name + b'"') if b"\\" in name else name.decode(),
                "ph": name_phase.group(2).decode(),
                "pid": pid,
                "tid": int(time_.group(1)),
                "ts": float(time_.group(2)),
            }
            if duration:
                event["dur"] = float(duration.group(1))
            events.append(event)
        elif line.lstrip().startswith(b"{"):
            events.append(_first_object(line))
    return events


_DECODER = json.JSONDecoder()
_SPAN_PHASES = (b'"ph":"X"', b'"ph":"B"', b'"ph":"E"')
# Chromium writes each event's keys in order: args, cat, dur, name, ph, pid, [s,] tid, ts.
_NAME_PHASE = re.compile(rb'"name":"((?:[^"\\]|\\.)*)","ph":"([XBE])"')
_TIME = re.compile(rb'"tid":(\d+),"ts":(\d+(?:\.\d+)?)')
_DURATION = re.compile(rb'"cat":"[^"]*","dur":(\d+(?:\.\d+)?)')


def _first_object(line: bytes) -> dict[str, Any]:
    # The last event's line goes on with the end of the array and the trace's metadata.
    found, _ = _DECODER.raw_decode(line.decode("utf-8", errors="replace").strip())
    return dict(found)


def spans(events: Iterable[dict[str, Any]], thread: Thread) -> list[Span]:
    """The thread's events as spans, complete events and begin/end pairs alike."""
    found: list[Span] = []
    open_: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if event.get("pid") != thread.pid or event.get("tid") != thread.tid:
            continue
        phase = event.get("ph")
        if phase == "X" and "dur" in event:
            start = float(event["ts"])
            found.append(Span(event["name"], start, start + float(event["dur"])))
        elif phase == "B":
            open_[event["name"]].append(float(event["ts"]))
        elif phase == "E" and open_[event.get("name", "")]:
            start = open_[event["name"]].pop()
            found.append(Span(event["name"], start, float(event["ts"])))
    found.sort(key=lambda span: (span.start, -span.end))
    return found


def merged_tasks(all_spans: list[Span]) -> list[tuple[float, float]]:
    """The top-level tasks' time as disjoint intervals (nested tasks counted once)."""
    merged: list[tuple[float, float]] = []
    for span in all_spans:
        if span.name not in TASKS:
            continue
        if merged and span.start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], span.end))
        else:
            merged.append((span.start, span.end))
    return merged


def busy_us(tasks: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in tasks)


def self_times(all_spans: list[Span], start: float, end: float) -> dict[str, float]:
    """Self time (µs) per event name inside [start, end]: each moment is counted for the
    innermost event that covers it; moments inside no event are idle and not counted."""
    totals: dict[str, float] = defaultdict(float)

    def add(name: str, a: float, b: float) -> None:
        overlap = min(b, end) - max(a, start)
        if overlap > 0:
            totals[name] += overlap

    stack: list[list[Any]] = []  # [name, end, cursor]

    def close() -> None:
        name, finish, cursor = stack.pop()
        add(name, cursor, finish)
        if stack:
            stack[-1][2] = finish

    for span in _overlapping(all_spans, start, end):
        while stack and stack[-1][1] <= span.start:
            close()
        finish = span.end
        if stack:
            add(stack[-1][0], stack[-1][2], span.start)
            stack[-1][2] = span.start
            finish = min(finish, stack[-1][1])  # a badly nested event ends with its parent
        stack.append([span.name, finish, span.start])
    while stack:
        close()
    return dict(totals)


def _overlapping(all_spans: list[Span], start: float, end: float) -> Iterator[Span]:
    for span in all_spans:
        if span.end >= start and span.start <= end:
            yield span


def less_own_time(
    tasks: list[tuple[float, float]], own: Sequence[tuple[float, float]]
) -> list[float]:
    """Each task's length less the time the benchmark's own callbacks (`own`, disjoint
    spans, in the same clock) ran inside it."""
    own = sorted(own)
    starts = [a for a, _ in own]
    lengths = []
    for a, b in tasks:
        taken = 0.0
        k = max(0, bisect.bisect_right(starts, a) - 1)
        while k < len(own) and own[k][0] < b:
            c, d = own[k]
            taken += max(0.0, min(b, d) - max(a, c))
            k += 1
        lengths.append(b - a - taken)
    return lengths


def analyse(
    events: list[dict[str, Any]],
    sync_now_ms: float,
    window_ms: tuple[float, float],
    own_ms: Sequence[float] = (),
) -> dict[str, Any]:
    """Busy time, tasks over 50 ms and self time per event name of the page's main thread,
    within `window_ms` (the page's performance.now() times). `own_ms` is the probe's own
    callbacks, flat start and end times: tasks over 50 ms are counted without them (those
    with them too, apart)."""
    thread = find_page_thread(events, sync_now_ms)
    start = thread.origin_us + window_ms[0] * 1000
    end = thread.origin_us + window_ms[1] * 1000
    all_spans = spans(events, thread)
    tasks = merged_tasks(all_spans)
    inside = [(a, b) for a, b in tasks if b > start and a < end]
    own = [
        (thread.origin_us + a * 1000, thread.origin_us + b * 1000)
        for a, b in zip(own_ms[0::2], own_ms[1::2], strict=True)
    ]
    net = less_own_time(inside, own)
    return {
        "window_ms": (end - start) / 1000,
        "busy_ms": busy_us(tasks, start, end) / 1000,
        "tasks": len(inside),
        "long_tasks_ms": [round(length / 1000, 1) for length in net if length > LONG_TASK_US],
        "long_tasks_with_probe_ms": [
            round((b - a) / 1000, 1) for a, b in inside if b - a > LONG_TASK_US
        ],
        "self_ms": {
            name: round(us / 1000, 2)
            for name, us in sorted(
                self_times(all_spans, start, end).items(), key=lambda item: -item[1]
            )
        },
    }


def cpu_profile(trace: bytes, thread: Thread, window_ms: tuple[float, float]) -> dict[str, Any]:
    """V8's samples of the page's main thread within the window: time per kind of code (ms)
    and the functions that were running most (self time, ms)."""
    pid = f'"pid":{thread.pid},'.encode()
    profiles: set[str] = set()
    chunks: list[dict[str, Any]] = []
    start = 0.0
    for line in trace.split(b"\n"):
        if pid not in line or b'"name":"Profile' not in line:
            continue
        event = _first_object(line)
        if event.get("name") == "Profile" and event.get("tid") == thread.tid:
            profiles.add(event["id"])
            start = float(event["args"]["data"]["startTime"])
        elif event.get("name") == "ProfileChunk":
            chunks.append(event)
    if not profiles:
        return {}
    low = thread.origin_us + window_ms[0] * 1000
    high = thread.origin_us + window_ms[1] * 1000
    nodes: dict[int, dict[str, Any]] = {}
    kinds: dict[str, float] = defaultdict(float)
    functions: dict[str, float] = defaultdict(float)
    now = start
    for chunk in chunks:
        if chunk["id"] not in profiles:
            continue
        data = chunk["args"]["data"]
        for node in data.get("cpuProfile", {}).get("nodes", []):
            nodes[node["id"]] = node
        samples = data.get("cpuProfile", {}).get("samples", [])
        for sample, delta in zip(samples, data.get("timeDeltas", []), strict=False):
            now += delta
            if not low <= now <= high:
                continue
            frame = nodes[sample]["callFrame"]
            kind, function = _code_kind(frame)
            # A sample's weight is the time since the one before (rarely negative: skipped).
            kinds[kind] += max(0, delta) / 1000
            functions[function] += max(0, delta) / 1000
    top = sorted(functions.items(), key=lambda item: -item[1])[:15]
    return {
        "kinds_ms": {k: round(v, 1) for k, v in sorted(kinds.items(), key=lambda i: -i[1])},
        "functions_ms": [[name, round(ms, 1)] for name, ms in top],
    }


def _code_kind(frame: dict[str, Any]) -> tuple[str, str]:
    name = frame.get("functionName") or "(anonymous)"
    url = str(frame.get("url", ""))
    script = url.rsplit("/", 1)[-1]
    code = frame.get("codeType")
    if code == "other":
        kind = {
            "(program)": "browser (not JavaScript: DOM, style, layout, paint, IPC)",
            "(idle)": "idle",
            "(garbage collector)": "V8 garbage collection",
        }.get(name, name)
        return kind, name
    if code == "wasm" or script.endswith(".wasm"):
        return "WebAssembly (Pyodide: the Python interpreter and the page's Python)", (
            f"{name} ({script or 'wasm'})"
        )
    if script == "pyodide.asm.mjs":
        return "Pyodide's JavaScript (the Python ↔ JavaScript bridge)", f"{name} (pyodide.asm.mjs)"
    if script.startswith("purify"):
        return "DOMPurify", f"{name} ({script})"
    if not url and frame.get("scriptId"):
        # Init scripts and Playwright's evaluations have no URL: the benchmark's probe.
        return "scripts without a URL (the benchmark's probe)", f"{name} (probe)"
    if not url:
        return "built-in functions called from scripts (DOM APIs, timers)", name
    return f"other scripts ({script})" if script else "other scripts", f"{name} ({script})"
