"""Hostile answers through the real page: the longest main-thread task while each streams.

Issue 17's shapes, each streamed into the page as a model would send it (the back end's
`echo:40,pace:0.005`: 40-character tokens every 5 ms, 8,000 characters a second, the question
asked as the answer, up to the bench back end's 40,000-character questions), in a fresh
browser each. Measured in the page from the question's submission to the answer's final
state: long tasks (a buffered `longtask` PerformanceObserver: every task over 50 ms), the
longest one, long animation frames, and how long the answer took against its schedule.

    .venv/bin/python -m bench.hostile            # writes bench/results/hostile-<date>.json

Not part of `make bench` (it takes about two minutes and has no anchor); docs/security.md
shows its table.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Page, sync_playwright

from bench.common import ROOT, log, ready_page, server

TOKEN_CHARS = 40
TOKEN_PACE = 0.005
#: The bench back end's question limit, which the echoed answer must fit.
LIMIT = 38_000
RESULTS = ROOT / "bench" / "results"


def _fill(unit: Callable[[int], str]) -> str:
    parts: list[str] = []
    size = 0
    index = 0
    while size + len(unit(index)) <= LIMIT:
        parts.append(unit(index))
        size += len(parts[-1])
        index += 1
    return "".join(parts)


def _nested(index: int) -> str:
    return "".join(f"{'  ' * depth}- level {depth} of {index}\n" for depth in range(32))


#: name → (what it is, the answer's markdown).
SHAPES: dict[str, tuple[str, str]] = {
    "brackets": ("`[x` × 4,000 (quadratic inline scanning before)", "[x" * 4_000),
    "images": ("`![x` × 4,000", "![x" * 4_000),
    "word": ("one 38,000-character word", "a" * LIMIT),
    "prose": ("one 38 KB paragraph", _fill(lambda i: f"Sentence {i} says *something* plainly. ")),
    "list": ("a tight 38 KB list", _fill(lambda i: f"- item {i} with **bold** and `code`\n")),
    "ordered": ("a tight 38 KB ordered list", _fill(lambda i: f"{i + 1}. step {i} of the plan\n")),
    "table": (
        "a 38 KB table, three aligned columns",
        "| name | value | note |\n|:---|---:|:---:|\n"
        + _fill(lambda i: f"| row {i} | {i * 7} | *n* |\n"),
    ),
    "loose": ("a loose 38 KB list (rendered whole)", _fill(lambda i: f"- item {i} apart\n\n")),
    "nested": ("lists nested 32 deep, repeated to 38 KB", _fill(_nested)),
}

PROBE = """
(question) => {
  window.__hostile = {longTasks: [], frames: [], asked: performance.now()};
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__hostile.longTasks.push(entry.duration);
  }).observe({type: "longtask"});
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__hostile.frames.push(entry.duration);
    }).observe({type: "long-animation-frame"});
  } catch (error) {}
  document.querySelector("textarea[name=question]").value = question;
  document.querySelector("form[data-role=ask]").requestSubmit();
}
"""
FINAL = "[data-role=answer]:is([data-state=done], [data-state=error], [data-state=stopped])"


def run(url: str) -> dict[str, Any]:
    """Each shape once, in a fresh browser; what the page's main thread went through."""
    endpoint = quote(f"api/chat?fault=echo:{TOKEN_CHARS},pace:{TOKEN_PACE:g}", safe="")
    page_url = f"{url}?transport=fetch&endpoint={endpoint}"
    shapes: dict[str, Any] = {}
    with sync_playwright() as playwright:
        for name, (what, answer) in SHAPES.items():
            with ready_page(playwright, page_url, prefix="bench-hostile-") as page:
                errors = _page_errors(page)
                page.evaluate(PROBE, answer)
                page.wait_for_selector(FINAL, timeout=300_000)
                raw = page.evaluate(
                    "() => ({...window.__hostile, ended: performance.now(),"
                    " state: document.querySelector('[data-role=answer]').dataset.state})"
                )
            schedule_s = len(answer) / TOKEN_CHARS * TOKEN_PACE
            tasks = raw["longTasks"]
            shapes[name] = {
                "what": what,
                "characters": len(answer),
                "state": raw["state"],
                "page_errors": errors,
                "long_tasks": len(tasks),
                "longest_task_ms": round(max(tasks, default=0.0), 1),
                "long_frames": len(raw["frames"]),
                "longest_frame_ms": round(max(raw["frames"], default=0.0), 1),
                "answer_s": round((raw["ended"] - raw["asked"]) / 1000, 2),
                "schedule_s": round(schedule_s, 2),
            }
            log(f"hostile {name}: {shapes[name]}")
    return {"method": __doc__, "token_chars": TOKEN_CHARS, "pace_s": TOKEN_PACE, "shapes": shapes}


def _page_errors(page: Page) -> list[str]:
    """The page's uncaught errors, as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def table(results: dict[str, Any]) -> str:
    """The results as a markdown table (docs/security.md)."""
    rows = [
        "| answer | characters | ended | tasks > 50 ms | longest task, ms | long frames |"
        " longest frame, ms | took, s (schedule) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for shape in results["shapes"].values():
        rows.append(
            f"| {shape['what']} | {shape['characters']:,} | {shape['state']} |"
            f" {shape['long_tasks']} | {shape['longest_task_ms']:g} | {shape['long_frames']} |"
            f" {shape['longest_frame_ms']:g} | {shape['answer_s']:g} ({shape['schedule_s']:g}) |"
        )
    return "\n".join(rows)


def main() -> int:
    if "--table" in sys.argv[1:]:
        [path] = sorted(RESULTS.glob("hostile-*.json"))[-1:]
        print(table(json.loads(path.read_text(encoding="utf-8"))))
        return 0
    with server("--pace", "0", "--faults", "--max-question-chars", "40000") as backend:
        results = run(backend.url)
    day = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    path = RESULTS / f"hostile-{day}.json"
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    log(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
