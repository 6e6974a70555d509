"""Streaming render: a 20 KB markdown answer through the real page, incremental against naive.

The back end's `echo:N` fault streams the question back as the answer in tokens of N
characters, and `pace:S` waits S seconds before each token, so asking the 20 KB answer as
the question streams exactly that text on a known schedule. The incremental page (what
users get) takes 5-character tokens every 5 ms (~200 tokens/s, ~1,000 characters/s). The
naive baseline (`?render=naive`: the whole answer re-rendered on every token, no frame
batching) gets the same text at the same rate of characters; by default in 50-character
tokens every 50 ms, because with 5-character tokens it needs ~4,000 full re-renders and
about 3.5 minutes on this machine. A naive update re-renders the whole text, so its cost
at a given length does not depend on the token size; `--naive-token-chars 5` runs the
identical schedule instead. Each run has its own fresh browser: incremental, naive, then
incremental again (its summary is kept as `repeat`, to show how much two identical runs
differ on this shared machine).

Measurement is in bench/render_probe.js (read it for details): per update, main-thread
time from the page's `answer-update` measures (`?measure=1`); the answer's length at that
update (characters of answer text the page had taken from the stream when the update
started; for naive, where update i shows token i, the length after token i); the time the
update was painted (a MessageChannel task queued from the frame that follows the update);
long tasks from a buffered `longtask` PerformanceObserver, counted between the question's
submission and the answer's `data-state=done`; and token arrival as JavaScript sees the
response bytes. Arrival → paint per token is painted(first update showing it) − arrival.
A busy main thread also delays when JavaScript sees bytes arrive, so for naive that delay
is a lower bound; the stream's total time against its schedule shows the backlog.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Page, Playwright, sync_playwright

from bench.common import ROOT, distribution, log, median, ready_page

CORPUS = ROOT / "tests" / "unit" / "corpus"
#: The 20 KB answer: the corpus's long guide, then its SSE explainer (realistic answers).
ANSWER_FILES = ("12_long_guide.md", "01_sse_explainer.md")
PROBE = Path(__file__).with_name("render_probe.js")
TOKEN_CHARS = 5
TOKEN_PACE = 0.005
#: The headline's length bins, in characters of answer text: "1 KB" and "20 KB".
SMALL = (512, 1536)
LARGE = (18_432, 20_480)
LONG_TASK_MS = 50.0

ASK = """
(question) => {
  document.querySelector("textarea[name=question]").value = question;
  const asked = performance.now();
  document.querySelector("form[data-role=ask]").requestSubmit();
  return asked;
}
"""


def answer_text() -> str:
    return "\n\n".join((CORPUS / name).read_text(encoding="utf-8") for name in ANSWER_FILES)


def run(url: str, *, naive_token_chars: int) -> dict[str, Any]:
    """Streams the answer once per mode; the per-update series and their summaries."""
    answer = answer_text()
    naive_pace = TOKEN_PACE * naive_token_chars / TOKEN_CHARS
    modes: dict[str, Any] = {}
    with sync_playwright() as playwright:
        # Incremental, naive, incremental again: the repeat shows how much a second,
        # identical run differs (long tasks above all), with naive's run in between.
        for mode, chars, pace in (
            ("incremental", TOKEN_CHARS, TOKEN_PACE),
            ("naive", naive_token_chars, naive_pace),
            ("incremental", TOKEN_CHARS, TOKEN_PACE),
        ):
            log(f"render {mode}: {len(answer)} characters in tokens of {chars} every {pace} s")
            raw = stream_once(playwright, url, answer, mode=mode, chars=chars, pace=pace)
            result = {"token_chars": chars, "pace_s": pace, **analyse(raw, naive=mode == "naive")}
            if mode in modes:
                del result["series"]
                modes[mode]["repeat"] = result
            else:
                modes[mode] = result
            summary = result["update_ms"]
            log(f"render {mode}: {summary['count']} updates, p50 {summary['p50']:.1f} ms")
    incremental, naive = modes["incremental"], modes["naive"]
    headline = {
        "incremental_1kb_ms": incremental["median_at_1kb_ms"],
        "incremental_20kb_ms": incremental["median_at_20kb_ms"],
        "naive_1kb_ms": naive["median_at_1kb_ms"],
        "naive_20kb_ms": naive["median_at_20kb_ms"],
        "incremental_20kb_over_1kb": _ratio(
            incremental["median_at_20kb_ms"], incremental["median_at_1kb_ms"]
        ),
        "naive_over_incremental_20kb": _ratio(
            naive["median_at_20kb_ms"], incremental["median_at_20kb_ms"]
        ),
        "naive_over_incremental_1kb": _ratio(
            naive["median_at_1kb_ms"], incremental["median_at_1kb_ms"]
        ),
    }
    return {
        "method": __doc__,
        "answer": {"files": list(ANSWER_FILES), "characters": len(answer)},
        "bins": {"1kb": list(SMALL), "20kb": list(LARGE)},
        "headline": headline,
        **modes,
    }


def stream_once(
    playwright: Playwright, url: str, answer: str, *, mode: str, chars: int, pace: float
) -> dict[str, Any]:
    """One answer in a fresh browser: what render_probe.js recorded, plus when it was asked."""
    endpoint = quote(f"api/chat?fault=echo:{chars},pace:{pace:g}", safe="")
    page_url = f"{url}?transport=fetch&endpoint={endpoint}&measure=1"
    if mode == "naive":
        page_url += "&render=naive"
    with ready_page(playwright, page_url, prefix="bench-render-") as page:
        page.evaluate(PROBE.read_text(encoding="utf-8"))
        asked = float(page.evaluate(ASK, answer))
        # Naive falls far behind with small tokens: allow it ten minutes.
        page.wait_for_function("window.__bench.doneAt !== null", timeout=600_000)
        _wait_for_last_paint(page)
        raw: dict[str, Any] = page.evaluate("window.__bench")
    raw["asked"] = asked
    return raw


def _wait_for_last_paint(page: Page) -> None:
    page.wait_for_function(
        "window.__bench.updates.every((update) => update.painted !== null)", timeout=10_000
    )


def analyse(raw: dict[str, Any], *, naive: bool) -> dict[str, Any]:
    """Distributions, length bins and the per-update series of one mode's run."""
    tokens: list[list[float]] = raw["tokens"]
    updates: list[dict[str, Any]] = raw["updates"]
    asked, done = float(raw["asked"]), float(raw["doneAt"])
    if naive and len(updates) == len(tokens):
        # Update i renders the text up to token i, one update per token, in order.
        lengths = [int(token[1]) for token in tokens]
    else:
        lengths = [int(update["consumed"]) for update in updates]
    durations = [float(update["duration"]) for update in updates]
    to_paint = [float(update["painted"]) - float(update["start"]) for update in updates]
    arrival_to_paint = []
    for arrival, length in tokens:
        shown_by = bisect_left(lengths, length)
        if shown_by < len(updates):
            arrival_to_paint.append(float(updates[shown_by]["painted"]) - arrival)
    starts = [float(update["start"]) for update in updates]
    long_tasks = [
        _long_task(start, duration, updates, raw["longFrames"], asked)
        for start, duration in raw["longTasks"]
        if asked <= start <= done and duration > LONG_TASK_MS
    ]
    first_update = (starts[0] - asked, durations[0]) if updates else (None, None)
    stream_s = (tokens[-1][0] - tokens[0][0]) / 1000 if len(tokens) > 1 else None
    return {
        "tokens": len(tokens),
        "tokens_per_s_arrived": (len(tokens) - 1) / stream_s if stream_s else None,
        "arrival_span_s": stream_s,
        "asked_to_done_s": (done - asked) / 1000,
        "update_ms": distribution(durations),
        "update_to_paint_ms": distribution(to_paint),
        "arrival_to_paint_ms": distribution(arrival_to_paint),
        "update_interval_ms": median([b - a for a, b in itertools.pairwise(starts)]),
        "median_at_1kb_ms": median(_in_bin(lengths, durations, SMALL)),
        "median_at_20kb_ms": median(_in_bin(lengths, durations, LARGE)),
        "updates_at_1kb": len(_in_bin(lengths, durations, SMALL)),
        "updates_at_20kb": len(_in_bin(lengths, durations, LARGE)),
        "first_update": {"at_ms": first_update[0], "duration_ms": first_update[1]},
        "long_tasks_over_50ms": long_tasks,
        "series": {
            "length": lengths,
            "update_ms": [round(value, 2) for value in durations],
            "start_ms": [round(value - asked, 1) for value in starts],
            "arrival_to_paint_ms": [round(value, 1) for value in arrival_to_paint],
            "long_tasks": [
                [round(start - asked, 1), duration]
                for start, duration in raw["longTasks"]
                if asked <= start <= done
            ],
        },
    }


def _long_task(
    start: float,
    duration: float,
    updates: list[dict[str, Any]],
    long_frames: list[dict[str, Any]],
    asked: float,
) -> dict[str, Any]:
    """A long task, with the answer-update time inside it and, from the long animation
    frame that holds it, the script that ran longest in that frame."""
    end = start + duration
    inside = [u for u in updates if start <= float(u["start"]) < end]
    script: dict[str, Any] = {}
    for frame in long_frames:
        if float(frame["start"]) <= start + 1 and start < float(frame["start"]) + float(
            frame["duration"]
        ):
            script = max(frame["scripts"], key=lambda s: float(s["duration"]), default={})
            break
    return {
        "start_ms": start - asked,
        "duration_ms": duration,
        "updates_inside": len(inside),
        "update_ms_inside": sum(float(u["duration"]) for u in inside),
        "longest_script": {
            "invoker": script.get("invoker"),
            "type": script.get("type"),
            "duration_ms": script.get("duration"),
        },
    }


def _in_bin(lengths: list[int], values: list[float], bounds: tuple[int, int]) -> list[float]:
    low, high = bounds
    return [value for length, value in zip(lengths, values, strict=True) if low <= length < high]


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None
