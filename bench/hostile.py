"""Hostile answers through the real page: the longest main-thread task while each streams.

Issue 17's shapes, each streamed into the page as a model would send it (the back end's
`echo:40,pace:0.005`: 40-character tokens every 5 ms, 8,000 characters a second, the question
asked as the answer, up to the bench back end's 40,000-character questions), in a fresh
browser each. Measured in the page from the question's submission to the answer's final
state: long tasks (a buffered `longtask` PerformanceObserver: every task over 50 ms), the
longest one, long animation frames, and how long the answer took against its schedule.

    .venv/bin/python -m bench.hostile            # writes bench/results/hostile-<date>.json
    .venv/bin/python -m bench.hostile --shapes loose table   # some shapes only
    .venv/bin/python -m bench.hostile --table    # the newest results as a markdown table

A second run on the same day writes hostile-<date>-2.json (and so on), never over the first.
Each shape records how busy the machine was while it streamed (`common.CpuWatch`: the
whole machine, and the part of it that was not this benchmark), and the file records the
machine, the versions and the commit measured with its uncommitted changes
(`environment.describe`): on a shared machine, a long task may be someone else's load.

Not part of `make bench` (it takes about two minutes and has no anchor); docs/security.md
shows its table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Page, sync_playwright

from bench import environment
from bench.common import ROOT, CpuWatch, log, ready_page, server

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
    "loose": ("a loose 38 KB list", _fill(lambda i: f"- item {i} apart\n\n")),
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


def run(url: str, names: Sequence[str] = tuple(SHAPES)) -> dict[str, Any]:
    """Each shape of `names` once, in a fresh browser; what the page's main thread went
    through, and how busy the machine was meanwhile."""
    endpoint = quote(f"api/chat?fault=echo:{TOKEN_CHARS},pace:{TOKEN_PACE:g}", safe="")
    page_url = f"{url}?transport=fetch&endpoint={endpoint}"
    shapes: dict[str, Any] = {}
    with sync_playwright() as playwright:
        for name in names:
            what, answer = SHAPES[name]
            with ready_page(playwright, page_url, prefix="bench-hostile-") as page:
                errors = _page_errors(page)
                with CpuWatch() as cpu:
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
                "cpu": {key: round(value, 2) for key, value in cpu.summary().items()},
            }
            log(f"hostile {name}: {shapes[name]}")
    return {
        "method": __doc__,
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": environment.describe(),
        "token_chars": TOKEN_CHARS,
        "pace_s": TOKEN_PACE,
        "shapes": shapes,
    }


def _page_errors(page: Page) -> list[str]:
    """The page's uncaught errors, as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def table(results: dict[str, Any]) -> str:
    """The results as a markdown table (docs/security.md); with how busy others kept the
    machine's 2 cores meanwhile, when the run recorded it."""
    load = all("cpu" in shape for shape in results["shapes"].values())
    rows = [
        "| answer | characters | ended | tasks > 50 ms | longest task, ms | long frames |"
        " longest frame, ms | took, s (schedule) |" + (" others' load, cores |" if load else ""),
        "|---|---:|---|---:|---:|---:|---:|---:|" + ("---:|" if load else ""),
    ]
    for shape in results["shapes"].values():
        rows.append(
            f"| {shape['what']} | {shape['characters']:,} | {shape['state']} |"
            f" {shape['long_tasks']} | {shape['longest_task_ms']:g} | {shape['long_frames']} |"
            f" {shape['longest_frame_ms']:g} | {shape['answer_s']:g} ({shape['schedule_s']:g}) |"
            + (f" {shape['cpu']['others_cores']:.2f} |" if load else "")
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hostile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        choices=list(SHAPES),
        default=list(SHAPES),
        metavar="SHAPE",
        help=f"the shapes to stream, of: {', '.join(SHAPES)} (default: all)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the results (default: bench/results/hostile-<UTC date>.json,"
        " or -2, -3… after it when that exists)",
    )
    parser.add_argument(
        "--table",
        nargs="?",
        const="newest",
        metavar="PATH",
        help="print a results file (default: the newest) as docs/security.md's table, and exit",
    )
    options = parser.parse_args(argv)
    if options.table is not None:
        path = newest() if options.table == "newest" else Path(options.table)
        print(table(json.loads(path.read_text(encoding="utf-8"))))
        return 0
    with server("--pace", "0", "--faults", "--max-question-chars", "40000") as backend:
        results = run(backend.url, options.shapes)
    path = options.output or _free_path(datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"))
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    log(f"wrote {path}")
    return 0


def newest() -> Path:
    """The newest results file: by date, then by its number on that day."""
    found = [
        (match.groups(), path)
        for path in RESULTS.glob("hostile-*.json")
        if (match := _RESULTS_NAME.fullmatch(path.name))
    ]
    if not found:
        raise SystemExit("no bench/results/hostile-*.json yet")
    return max(found, key=lambda item: (item[0][0], int(item[0][1] or 1)))[1]


def _free_path(day: str) -> Path:
    path, number = RESULTS / f"hostile-{day}.json", 1
    while path.exists():
        number += 1
        path = RESULTS / f"hostile-{day}-{number}.json"
    return path


_RESULTS_NAME = re.compile(r"hostile-(\d{4}-\d{2}-\d{2})(?:-(\d+))?\.json")


if __name__ == "__main__":
    sys.exit(main())
