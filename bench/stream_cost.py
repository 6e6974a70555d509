"""Stream cost (issue 16 item 3): the whole main-thread cost of streaming one answer into a
page, the real page against two anchors measured in the same run.

Variants, each in a fresh browser context (one Chromium for the whole part):
- *page*: the real page (`index.html`, served by the back end, default EventSource
  transport), the question asked through its textarea and `form.requestSubmit()`. The
  page's configuration allows 4,000-character questions; the benchmark raises that to the
  back end's `--max-question-chars 40000` in the HTML as it is served (Playwright route).
- *streaming-markdown*: bench/anchors/streaming-markdown.html, the npm package
  `streaming-markdown` (pinned in package.json) fed by a native EventSource on the same
  endpoint: each `token` event's text goes to `parser_write`, `[DONE]` to `parser_end`.
- *bare*: bench/anchors/bare.html, a native EventSource and each token's text appended to
  one text node: the least any page can do.
The anchors are served on the back end's own origin by Playwright (`/bench-anchor/…`
routes), so every variant asks the same endpoint of the same server.

The answer is bench/render.py's 20 KB markdown, asked as the question and streamed back by
the back end's `echo:N` fault (N characters a token) with `pace:S` (S seconds before each
token). Scenarios: 200 tokens/s (5-character tokens, 5 ms); 2,000 tokens/s asked (3-character
tokens, 0.5 ms: the back end's asyncio sleeps no shorter than its selector's 1 ms timeout,
so it arrives at ~800 tokens/s; 2-character tokens would be over its 10,000-event cap); 200
tokens/s with the renderer's CPU slowed 4× (`Emulation.setCPUThrottlingRate`, set once the
page is ready). Runs interleave: A, B, C, A, B, C, …; the table gives the median of the
runs with their range.

What is measured (bench/stream_probe.js, an init script, does the in-page part):
- Window: from the first token's arrival to the paint after the answer is final.
- Busy: a Chromium trace (DevTools timeline categories) of the run; the union of the
  top-level tasks (`ThreadControllerImpl::RunTask`) on the page's main thread within the
  window, over the window. The probe's own callbacks are timed and subtracted ("busy");
  what they took is shown apart ("probe").
- Long tasks: top-level tasks over 50 ms in the trace, in the window, less the time the
  probe's own callbacks ran inside them (its `MutationObserver` counts the answer's letters
  after every change, in the frame's task; the count with that time is shown apart); long
  animation frames (`long-animation-frame` entries, which are over 50 ms by definition)
  likewise, with the probe's time in them.
- Arrival: when JavaScript sees each event (a `message` listener registered before the
  page's). Visible: the letters and digits of the answer element's text are counted in each
  frame that changes it, and the time noted once that frame is painted. The source's words
  are aligned with the final text's words (difflib), so each token has a count of visible
  letters that shows it; arrival → visible is the first frame at or after its arrival that
  shows that many. Tokens that add nothing visible (markup, link targets) are left out.
- Behind: the most (letters arrived − letters visible) at any arrival, over the rate of
  letters per second of the stream.
- Input: while streaming, every `input_every_s`, a click on the question box then a key
  press in it (Playwright, DevTools `Input.dispatch*Event`); delay = when the first handler
  ran − the event's `timeStamp` (Event Timing's processingStart − startTime), for keydown
  and click; p95 of all runs together.
- Final: the `[DONE]` event's arrival → the paint of the frame that shows the answer final
  (the page: `[data-role=answer][data-state=done]`; anchors: after `parser_end`).

`python -m bench.stream_cost --runs 1 --scenario 200` is the quick check (~1–2 minutes): it
starts its own back end and prints a table.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import difflib
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from bench import stream_trace
from bench.common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RAISE_QUESTION_LIMIT,
    READY,
    READY_TIMEOUT_MS,
    RENDERER_WARM,
    ROOT,
    log,
    median,
    percentile,
    server,
)
from bench.render import ANSWER_FILES, ASK, answer_text

HERE = Path(__file__).resolve().parent
PROBE = HERE / "stream_probe.js"
ANCHORS = HERE / "anchors"
SMD = ROOT / "node_modules" / "streaming-markdown" / "smd.js"
ANCHOR_PATH = "bench-anchor/"
#: The page's back end for this part: as bench/main.py's, with no per-client question limit
#: (the part asks ~30 questions from one address, after the other parts asked theirs).
SERVER_FLAGS = ("--pace", "0", "--faults", "--max-question-chars", "40000")
SERVER_EXTRA = ("--client-questions", "0")
LONG_TASK_MS = 50.0
FAILED = "html[data-app-state=failed]"
INPUT_TYPES = ("keydown", "click")
#: Event Timing entries that belong to the clicks and key presses (durations ≥ 16 ms).
INTERACTION_EVENTS = ("keydown", "keyup", "pointerdown", "pointerup", "click")
VIEWPORT = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    token_chars: int
    pace_s: float
    throttle: float
    nominal_tokens_per_s: int
    input_every_s: float


SCENARIOS = {
    "200": Scenario("200", "200 tokens/s", 5, 0.005, 1, 200, 2.5),
    "2000": Scenario("2000", "2,000 tokens/s asked", 3, 0.0005, 1, 2000, 1.0),
    "200x4": Scenario("200x4", "200 tokens/s, CPU 4× slower", 5, 0.005, 4, 200, 2.5),
}


def _package_version(package: Path) -> str:
    try:
        return str(json.loads((package / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "(not installed: npm ci)"


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    #: The answer's element (the last match), what matches once the answer is final, and
    #: what matches if it failed.
    target: str
    done: str
    failed: str


VARIANTS = {
    "page": Variant(
        "page",
        "the page (index.html, EventSource)",
        "[data-role=answer-body]",
        "[data-role=answer][data-state=done]",
        "[data-role=answer]:is([data-state=error], [data-state=stopped])",
    ),
    "streaming-markdown": Variant(
        "streaming-markdown",
        f"streaming-markdown {_package_version(SMD.parent)} + EventSource",
        "#answer",
        "body[data-state=done]",
        "body[data-state=error]",
    ),
    "bare": Variant(
        "bare",
        "EventSource + text node append",
        "#answer",
        "body[data-state=done]",
        "body[data-state=error]",
    ),
}


def _goal(scenario: str, metric: str, limit: float, text: str) -> dict[str, Any]:
    return {"scenario": scenario, "metric": metric, "limit": limit, "text": text}


#: The goals of issue 16 for the page, per scenario: the figure judged, its limit, in words.
GOALS: list[dict[str, Any]] = [
    _goal("200", "busy_vs_smd", 1.5, "busy ≤ 1.5× streaming-markdown's"),
    _goal("200", "long_tasks", 0, "no long task (> 50 ms)"),
    _goal("200", "visible_p95_ms", 33, "arrival → visible p95 ≤ 33 ms"),
    _goal("200", "final_ms", 50, "final ≤ 50 ms after [DONE]"),
    *[
        goal
        for scenario in ("2000", "200x4")
        for goal in (
            _goal(scenario, "long_tasks", 0, "no task over 50 ms"),
            _goal(scenario, "input_p95_ms", 50, "input delay p95 ≤ 50 ms"),
            _goal(scenario, "behind_s", 1.0, "never > 1 s behind"),
            _goal(scenario, "final_ms", 100, "final ≤ 100 ms after [DONE]"),
        )
    ],
]

SYNC = """() => { const now = performance.now(); console.timeStamp("bench-sync"); return now; }"""
ASK_ANCHOR = "([endpoint, question]) => window.ask(endpoint, question)"


def source_text(chars: int | None = None) -> str:
    """The answer as streamed: the page strips the question it sends, so all variants get it
    stripped; `chars` shortens it (development only)."""
    text = answer_text().strip()
    return text[:chars].strip() if chars else text


def run(
    url: str,
    *,
    runs: int = 3,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    variants: Sequence[str] = tuple(VARIANTS),
    chars: int | None = None,
    trace_dir: Path | None = None,
    profile: bool = True,
) -> dict[str, Any]:
    """Every scenario × variant `runs` times (variants interleaved); summaries and goals.
    With `profile`, one more run of the page in the first scenario, with V8's sampling
    profiler on (not counted in the figures, which it would slow), says what its scripts'
    time is made of."""
    text = source_text(chars)
    results: dict[str, Any] = {
        "method": __doc__,
        "answer": {"files": list(ANSWER_FILES), "characters": len(text)},
        "runs_per_cell": runs,
        "scenarios": {name: asdict(SCENARIOS[name]) for name in scenarios},
        "variants": {name: VARIANTS[name].label for name in variants},
        "runs": {name: {variant: [] for variant in variants} for name in scenarios},
        "failures": [],
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            for name in scenarios:
                for index in range(runs):
                    for variant in variants:
                        scenario, chosen = SCENARIOS[name], VARIANTS[variant]
                        started = time.monotonic()
                        measured = None
                        for attempt in (1, 2):  # a failed run is tried once more
                            try:
                                measured = measure_once(
                                    browser, url, chosen, scenario, text, trace_dir=trace_dir,
                                    index=index,
                                )  # fmt: skip
                                break
                            except Exception as error:  # one failure must not lose the rest
                                log(f"stream {name} {variant} #{index + 1} failed: {error!r}")
                                failure = [name, variant, index + 1, attempt, repr(error)]
                                results["failures"].append(failure)
                        if measured is None:
                            continue
                        results["runs"][name][variant].append(measured)
                        phases = ", ".join(f"{k} {v:.1f}" for k, v in measured["wall_s"].items())
                        log(
                            f"stream {name} {variant} #{index + 1}: {_brief(measured)} "
                            f"({time.monotonic() - started:.0f} s: {phases})"
                        )
            if profile and "page" in variants:
                name = scenarios[0]
                try:
                    profiled = measure_once(
                        browser, url, VARIANTS["page"], SCENARIOS[name], text,
                        trace_dir=trace_dir, profile=True,
                    )  # fmt: skip
                except Exception as error:
                    log(f"stream {name} page, profiled, failed: {error!r}")
                    results["failures"].append([name, "page (profiled)", 1, repr(error)])
                else:
                    log(f"stream {name} page, profiled: {_brief(profiled)}")
                    results["profiled"] = {"scenario": name, **profiled}
        finally:
            browser.close()
    results["summary"] = summarise(results["runs"])
    results["goals"] = judge(results["summary"])
    results["breakdown"] = breakdown(results["runs"])
    return results


# One run -------------------------------------------------------------------------------------


def measure_once(
    browser: Browser,
    url: str,
    variant: Variant,
    scenario: Scenario,
    text: str,
    *,
    trace_dir: Path | None = None,
    index: int = 0,
    profile: bool = False,
) -> dict[str, Any]:
    """One answer streamed into one variant in a fresh context: the run's figures; with
    `profile`, V8's sampling profiler runs too, and what the scripts ran is added."""
    endpoint = f"api/chat?fault=echo:{scenario.token_chars},pace:{scenario.pace_s:g}"
    clock = [time.monotonic()]  # when each phase ended: ready, streamed, traced, read
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    tracing = False
    try:
        _prepare(context, url, variant)
        page = context.new_page()
        seen: dict[str, float] = {}
        page.on("console", lambda message: _note(seen, message.text))
        if variant.name == "page":
            page.goto(f"{url}index.html?endpoint={quote(endpoint, safe='')}")
            page.wait_for_selector(f"{READY}, {FAILED}", timeout=READY_TIMEOUT_MS)
            if page.locator(FAILED).count():
                raise RuntimeError("the page failed to start: " + page.inner_text("body")[-400:])
            config = page.text_content("#chat-config") or ""
            if '"maxQuestionChars": 40000' not in config:
                raise RuntimeError("could not raise the page's maxQuestionChars: " + config)
            # Asked once the renderer is imported, after ready, as a reader who types the
            # question would: this part measures streaming, bench/startup.py the start.
            page.wait_for_function(RENDERER_WARM, timeout=READY_TIMEOUT_MS)
        else:
            page.goto(f"{url}{ANCHOR_PATH}{variant.name}.html")
            page.wait_for_selector("body[data-state=ready]")
        box = page.locator("textarea").bounding_box()
        assert box is not None, "the question box is not laid out"
        click_at = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        cdp = context.new_cdp_session(page)
        if scenario.throttle != 1:
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": scenario.throttle})
        clock.append(time.monotonic())
        stream_trace.start(cdp, profile=profile)
        tracing = True
        sync_ms = float(page.evaluate(SYNC))
        page.evaluate("window.__probe.arm()")
        if variant.name == "page":
            page.evaluate(ASK, text)
        else:
            page.evaluate(ASK_ANCHOR, ["/" + endpoint, text])
        inputs = _interact(page, seen, click_at, scenario, len(text))
        page.wait_for_timeout(300)  # the last entries of the buffered observers
        clock.append(time.monotonic())
        trace = stream_trace.stop(cdp, page.wait_for_timeout)
        tracing = False
        clock.append(time.monotonic())
        raw: dict[str, Any] = page.evaluate(
            """(selector) => {
                const found = [...document.querySelectorAll(selector)].pop();
                const {arm, ...probe} = window.__probe;
                return {...probe, finalText: found ? found.textContent : ""};
            }""",
            variant.target,
        )
    finally:
        if tracing:
            with contextlib.suppress(Exception):
                cdp.send("Tracing.end")
        context.close()
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        kind = "-profiled" if profile else ""
        name = f"{scenario.name}-{variant.name}{kind}-{index + 1}.json"
        (trace_dir / name).write_bytes(trace)
    events = stream_trace.page_events(trace)
    measured = analyse(raw, text, events, sync_ms, inputs_sent=inputs)
    if profile:
        thread = stream_trace.find_page_thread(events, sync_ms)
        window = (float(raw["firstArrival"]), float(raw["donePainted"]))
        measured["profile"] = stream_trace.cpu_profile(trace, thread, window)
    clock.append(time.monotonic())
    phases = ("ready", "streamed", "trace_read", "analysed")
    measured["wall_s"] = {
        phase: round(b - a, 2) for phase, a, b in zip(phases, clock[:-1], clock[1:], strict=True)
    }
    return measured


def _prepare(context: BrowserContext, url: str, variant: Variant) -> None:
    config = json.dumps({"target": variant.target, "done": variant.done, "failed": variant.failed})
    context.add_init_script(
        script=f"window.__probeConfig = {config};\n" + PROBE.read_text(encoding="utf-8")
    )
    if variant.name == "page":
        context.add_init_script(script=RAISE_QUESTION_LIMIT)
    else:
        context.route(f"{url}{ANCHOR_PATH}**", _serve_anchor)


def _serve_anchor(route: Route) -> None:
    name = route.request.url.split(ANCHOR_PATH, 1)[1].split("?", 1)[0]
    path = SMD if name == "smd.js" else ANCHORS / name
    if path.parent not in (ANCHORS, SMD.parent) or not path.is_file():
        route.fulfill(status=404, body="not found")
        return
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    route.fulfill(
        status=200,
        body=path.read_bytes(),
        headers={
            "Content-Type": f"{types[path.suffix]}; charset=utf-8",
            "Cache-Control": "no-store",
        },
    )


def _note(seen: dict[str, float], text: str) -> None:
    if text.startswith("bench:"):
        seen.setdefault(text, time.monotonic())


def _interact(
    page: Page,
    seen: dict[str, float],
    click_at: tuple[float, float],
    scenario: Scenario,
    chars: int,
) -> int:
    """Clicks the question box and presses a key in it every `input_every_s` while the answer
    streams; returns how many interactions were sent. Waits until the answer is final."""
    first_by = time.monotonic() + 30 * scenario.throttle
    while "bench:first" not in seen:
        _pump(page, seen, first_by)
    expected_s = chars / scenario.token_chars * max(scenario.pace_s, 0.00125)
    deadline = time.monotonic() + 60 + expected_s * 4 * scenario.throttle
    sent = 0
    next_at = seen["bench:first"] + scenario.input_every_s / 2
    while "bench:done" not in seen:
        if time.monotonic() >= next_at:
            page.mouse.click(*click_at)
            page.wait_for_timeout(100)
            page.keyboard.press("x")
            sent += 1
            next_at += scenario.input_every_s
        _pump(page, seen, deadline)
    return sent


def _pump(page: Page, seen: dict[str, float], deadline: float) -> None:
    """Lets Playwright deliver the page's console messages (20 ms, nothing sent to the page)."""
    failed = [text for text in seen if text.startswith("bench:failed")]
    if failed:
        raise RuntimeError(f"the answer failed: {failed[0].removeprefix('bench:failed ')}")
    if time.monotonic() > deadline:
        raise TimeoutError(f"the answer did not finish streaming in time (seen: {list(seen)})")
    page.wait_for_timeout(20)


# Analysis ------------------------------------------------------------------------------------

WORD = re.compile(r"[A-Za-z0-9]+")


def visible_need(source: str, final: str) -> Callable[[int], int]:
    """For a prefix of `source` (its length), how many letters and digits of the final text
    show it: words of the source aligned with words of the final text (difflib); a prefix
    ending inside a matched word needs that word's letters so far; markup and link targets,
    which never show, need no more than the words before them."""
    source_words = [(m.start(), m.group()) for m in WORD.finditer(source)]
    final_words: list[tuple[int, str]] = []
    letters = 0
    for m in WORD.finditer(final):
        final_words.append((letters, m.group()))
        letters += len(m.group())
    matcher = difflib.SequenceMatcher(
        None, [w for _, w in source_words], [w for _, w in final_words], autojunk=False
    )
    starts: list[int] = []
    offsets: list[tuple[int, int]] = []  # (final letters before the word, word length)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            start, word = source_words[block.a + k]
            starts.append(start)
            offsets.append((final_words[block.b + k][0], len(word)))

    def need(prefix: int) -> int:
        i = bisect.bisect_left(starts, prefix) - 1
        if i < 0:
            return 0
        before, length = offsets[i]
        return before + min(length, prefix - starts[i])

    return need


def analyse(
    raw: dict[str, Any],
    text: str,
    events: list[dict[str, Any]],
    sync_ms: float,
    *,
    inputs_sent: int,
) -> dict[str, Any]:
    """One run's figures from what the probe noted and the trace."""
    arrivals: list[list[float]] = raw["arrivals"]
    frames: list[list[float]] = raw["frames"]
    if not arrivals or raw["donePainted"] is None or raw["doneArrival"] is None:
        raise RuntimeError(f"the answer did not stream to the end: {raw.get('errors')}")
    first, last = float(arrivals[0][0]), float(arrivals[-1][0])
    window = (first, float(raw["donePainted"]))
    trace = stream_trace.analyse(events, sync_ms, window, raw.get("probeSpans", ()))
    window_ms = window[1] - window[0]
    busy_pct = 100 * trace["busy_ms"] / window_ms
    probe_pct = 100 * float(raw["probeMs"]) / window_ms

    need = visible_need(text, raw["finalText"])
    frame_times = [float(f[0]) for f in frames]
    to_visible: list[float] = []
    shown = 0  # the most letters needed by any token so far
    behind = 0.0
    for arrival, length in arrivals:
        needed = need(int(length))
        # Letters visible when this token arrived: the last frame painted before it.
        before = bisect.bisect_right(frame_times, arrival) - 1
        visible = float(frames[before][1]) if before >= 0 else 0.0
        behind = max(behind, max(shown, needed) - visible)
        if needed <= shown:
            continue  # nothing new to show (markup, a link's target)
        shown = needed
        for k in range(bisect.bisect_left(frame_times, arrival), len(frames)):
            if frames[k][1] >= needed:
                to_visible.append(frame_times[k] - arrival)
                break
    stream_s = (last - first) / 1000
    letters_per_s = shown / stream_s if stream_s > 0 else None

    delays = [float(d) for kind, d, _ in raw["inputs"] if kind in INPUT_TYPES]
    in_window = [
        (float(start), float(duration))
        for start, duration, *_ in raw["longFrames"]
        if window[0] <= float(start) <= window[1]
    ]
    observed_long = [
        float(duration)
        for start, duration in raw["longTasks"]
        if window[0] <= float(start) <= window[1] and float(duration) > LONG_TASK_MS
    ]
    return {
        "tokens": len(arrivals),
        "characters": int(arrivals[-1][1]),
        "tokens_per_s": (len(arrivals) - 1) / stream_s if stream_s > 0 else None,
        "stream_s": stream_s,
        "window_ms": window_ms,
        "busy_pct": busy_pct - probe_pct,
        "busy_with_probe_pct": busy_pct,
        "probe_pct": probe_pct,
        "tasks": trace["tasks"],
        "long_tasks": len(trace["long_tasks_ms"]),
        "longest_task_ms": max(trace["long_tasks_ms"], default=None),
        "long_tasks_with_probe": len(trace["long_tasks_with_probe_ms"]),
        "long_tasks_observed": len(observed_long),
        "long_frames": len(in_window),
        "longest_frame_ms": max((d for _, d in in_window), default=None),
        "visible_p50_ms": percentile(to_visible, 50),
        "visible_p95_ms": percentile(to_visible, 95),
        "visible_max_ms": max(to_visible, default=None),
        "visible_tokens": len(to_visible),
        "frames": len(frames),
        "behind_letters": behind,
        "behind_s": behind / letters_per_s if letters_per_s else None,
        "final_ms": float(raw["donePainted"]) - float(raw["doneArrival"]),
        "inputs_sent": inputs_sent,
        "input_delays_ms": [round(d, 1) for d in delays],
        "input_p95_ms": percentile(delays, 95),
        "event_timing_max_ms": max(
            (float(e[3]) for e in raw["eventTiming"] if e[0] in INTERACTION_EVENTS), default=None
        ),
        "errors": raw["errors"],
        "self_ms": trace["self_ms"],
    }


#: The per-run figures the summary gives as median and range, in the order of the table.
METRICS: list[tuple[str, str]] = [
    ("tokens_per_s", "tokens/s arrived"),
    ("busy_pct", "main thread busy, %"),
    ("probe_pct", "probe's own, %"),
    ("long_tasks", "tasks > 50 ms, less the probe's own time"),
    ("long_tasks_with_probe", "tasks > 50 ms, with it"),
    ("longest_task_ms", "longest task, ms"),
    ("long_frames", "long animation frames"),
    ("longest_frame_ms", "longest frame, ms"),
    ("visible_p50_ms", "arrival → visible p50, ms"),
    ("visible_p95_ms", "arrival → visible p95, ms"),
    ("behind_s", "most behind, s"),
    ("final_ms", "[DONE] → final, ms"),
    ("input_p95_ms", "input delay p95 per run, ms"),
]


def summarise(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Per scenario and variant: median, min and max of each figure over the runs; input
    delays pooled over the runs; the most tasks over 50 ms in any run."""
    summary: dict[str, Any] = {}
    for scenario, by_variant in runs.items():
        summary[scenario] = {}
        for variant, measured in by_variant.items():
            cell: dict[str, Any] = {}
            for key, _ in METRICS:
                values = [float(run[key]) for run in measured if run.get(key) is not None]
                cell[key] = {
                    "median": median(values),
                    "min": min(values, default=None),
                    "max": max(values, default=None),
                    "n": len(values),
                }
            delays = [d for run in measured for d in run["input_delays_ms"]]
            cell["input_pooled_p95_ms"] = percentile(delays, 95)
            cell["inputs"] = len(delays)
            cell["long_tasks_total"] = sum(run["long_tasks"] for run in measured)
            with_probe = [run.get("long_tasks_with_probe") for run in measured]
            cell["long_tasks_with_probe_total"] = None if None in with_probe else sum(with_probe)
            cell["longest_task_any_ms"] = max(
                (run["longest_task_ms"] for run in measured if run["longest_task_ms"]),
                default=None,
            )
            summary[scenario][variant] = cell
    return summary


def judge(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, for the page, met or missed, with the figures."""
    verdicts = []
    for goal in GOALS:
        cell = summary.get(goal["scenario"], {}).get("page")
        if cell is None:
            continue
        value: float | None
        if goal["metric"] == "busy_vs_smd":
            smd = summary[goal["scenario"]].get("streaming-markdown")
            page_busy = cell["busy_pct"]["median"]
            smd_busy = smd["busy_pct"]["median"] if smd else None
            value = page_busy / smd_busy if page_busy is not None and smd_busy else None
            measured = (
                f"{page_busy:.1f} % vs {smd_busy:.1f} % = {value:.2f}×"
                if value is not None and page_busy is not None and smd_busy
                else "not measured"
            )
        elif goal["metric"] == "long_tasks":
            value = float(cell["long_tasks_total"])
            longest = cell["longest_task_any_ms"]
            with_probe = cell.get("long_tasks_with_probe_total")
            measured = f"{int(value)} in {cell['busy_pct']['n']} runs" + (
                f" (longest {longest:.0f} ms)" if longest else ""
            )
            if with_probe is not None and with_probe != value:
                measured += f"; {with_probe} with the probe's own time"
        elif goal["metric"] == "input_p95_ms":
            value = cell["input_pooled_p95_ms"]
            measured = (
                f"{value:.1f} ms ({cell['inputs']} events)" if value is not None else "no events"
            )
        elif goal["metric"] == "behind_s":
            value = cell["behind_s"]["max"]
            measured = f"at most {value:.2f} s" if value is not None else "not measured"
        else:
            figure = cell[goal["metric"]]
            value = figure["median"]
            measured = (
                f"{value:.1f} ms (median; runs {figure['min']:.1f}–{figure['max']:.1f})"
                if value is not None
                else "not measured"
            )
        met = value is not None and value <= goal["limit"]
        verdicts.append({**goal, "value": value, "measured": measured, "met": met})
    return verdicts


def breakdown(runs: dict[str, dict[str, list[dict[str, Any]]]], top: int = 12) -> dict[str, Any]:
    """Per scenario and variant: main-thread self time per trace event name, in ms per second
    of streaming window (all runs together), the largest `top`."""
    result: dict[str, Any] = {}
    for scenario, by_variant in runs.items():
        result[scenario] = {}
        for variant, measured in by_variant.items():
            totals: dict[str, float] = {}
            window_s = sum(run["window_ms"] for run in measured) / 1000
            for run in measured:
                for name, ms in run["self_ms"].items():
                    totals[name] = totals.get(name, 0.0) + ms
            ranked = sorted(totals.items(), key=lambda item: -item[1])[:top]
            result[scenario][variant] = [
                [name, round(ms / window_s, 2)] for name, ms in ranked if window_s
            ]
    return result


# Output --------------------------------------------------------------------------------------


def _brief(run: dict[str, Any]) -> str:
    return (
        f"{run['tokens_per_s']:.0f} tok/s, busy {run['busy_pct']:.1f} % "
        f"(+{run['probe_pct']:.1f} probe), tasks>50 {run['long_tasks']}, "
        f"visible p95 {_f(run['visible_p95_ms'])} ms, behind {_f(run['behind_s'], 2)} s, "
        f"final {run['final_ms']:.0f} ms, input p95 {_f(run['input_p95_ms'])} ms"
    )


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: dict[str, Any]) -> str:
    """A plain-text table of the medians (and ranges), then the goals."""
    lines = []
    for scenario, by_variant in results["summary"].items():
        names = list(by_variant)
        lines.append(f"\n{SCENARIOS[scenario].label} ({results['runs_per_cell']} runs each)")
        lines.append(f"{'':28}" + "".join(f"{name:>28}" for name in names))
        for key, label in METRICS:
            cells = []
            for name in names:
                figure = by_variant[name][key]
                if figure["median"] is None:
                    cells.append(f"{'–':>28}")
                    continue
                text = f"{figure['median']:.1f}"
                if figure["n"] > 1:
                    text += f" ({figure['min']:.1f}–{figure['max']:.1f})"
                cells.append(f"{text:>28}")
            lines.append(f"{label:28}" + "".join(cells))
    lines.append("\nGoals (the page):")
    for goal in results["goals"]:
        verdict = "met" if goal["met"] else "MISSED"
        lines.append(f"  {goal['scenario']:>6}  {goal['text']:34} {goal['measured']:40} {verdict}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stream_cost",
        description="Stream cost: the page against streaming-markdown and a bare append.",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument(
        "--scenario",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--variant",
        default=",".join(VARIANTS),
        help=f"comma-separated, of {', '.join(VARIANTS)} (default: all)",
    )
    parser.add_argument("--chars", type=int, help="stream only the answer's first N characters")
    parser.add_argument("--traces", type=Path, help="keep each run's trace in this directory")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more page run with V8's sampling profiler: what its scripts' time is made of",
    )
    args = parser.parse_args(argv)
    scenarios = _choices(parser, args.scenario, SCENARIOS)
    variants = _choices(parser, args.variant, VARIANTS)
    with server(*SERVER_FLAGS, *SERVER_EXTRA) as back_end:
        results = run(
            back_end.url,
            runs=args.runs,
            scenarios=scenarios,
            variants=variants,
            chars=args.chars,
            trace_dir=args.traces,
            profile=args.profile,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    print("\nPage main thread, self time by trace event (ms per s of streaming):")
    for scenario, by_variant in results["breakdown"].items():
        for variant, ranked in by_variant.items():
            shown = ", ".join(f"{name} {ms:.1f}" for name, ms in ranked[:8])
            print(f"  {scenario} {variant}: {shown}")
    if "profiled" in results:
        profiled = results["profiled"]
        window_s = profiled["window_ms"] / 1000
        print(f"\nThe page, profiled ({profiled['scenario']}), ms per s of streaming:")
        for kind, ms in profiled["profile"].get("kinds_ms", {}).items():
            print(f"  {ms / window_s:7.1f}  {kind}")
        print("  functions (self):")
        for name, ms in profiled["profile"].get("functions_ms", []):
            print(f"  {ms / window_s:7.1f}  {name}")
    return 0


def _choices(parser: argparse.ArgumentParser, given: str, known: dict[str, Any]) -> list[str]:
    chosen = [item.strip() for item in given.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        parser.error(f"choose from {', '.join(known)}; got {given!r}")
    return chosen


if __name__ == "__main__":
    sys.exit(main())
