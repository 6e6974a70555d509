"""Runs the benchmarks, writes the results file, and regenerates docs/benchmarks.md."""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench import backend, environment, memory, render, report, scaling, startup, stream_cost
from bench.common import ROOT, CpuWatch, log, server

RESULTS = ROOT / "bench" / "results"
PARTS = ("startup", "render", "memory", "backend", "scaling", "stream")
# The page's back end for start-up, render and memory: no pacing of its own (the render
# benchmark paces with the `pace` fault), fault injection on for `echo`, and room for the
# 20 KB answer asked as a question.
PAGE_SERVER_FLAGS = ("--pace", "0", "--faults", "--max-question-chars", "40000")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help="comma-separated parts to run (default: all); the others are taken from "
        "bench/results/latest.json for the report",
    )
    parser.add_argument("--cold-runs", type=int, default=7, help="cold start-up visits")
    parser.add_argument("--warm-runs", type=int, default=7, help="warm start-up visits")
    parser.add_argument(
        "--naive-token-chars",
        type=int,
        default=50,
        help="token size of the naive render run (5 = the incremental run's exact schedule, "
        "about 3–4 minutes longer)",
    )
    parser.add_argument("--answers", type=int, default=memory.ANSWERS, help="memory: answers")
    parser.add_argument(
        "--stream-runs", type=int, default=3, help="stream: runs per variant and scenario"
    )
    parser.add_argument(
        "--stream-scenarios",
        default=",".join(stream_cost.SCENARIOS),
        help=f"stream: comma-separated scenarios, of {', '.join(stream_cost.SCENARIOS)}",
    )
    parser.add_argument(
        "--stream-no-profile",
        action="store_true",
        help="stream: skip the extra profiled run of the page (~40 s)",
    )
    parser.add_argument(
        "--stream-chars",
        type=int,
        default=None,
        help="stream: stream only the answer's first N characters (development)",
    )
    parser.add_argument(
        "--quiet-load",
        type=float,
        default=None,
        metavar="LOAD",
        help="first wait (at most --quiet-wait seconds) for the 1-minute load average to "
        "drop below LOAD, since other work on the machine skews the figures",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="longest wait for --quiet-load (default: 600); then it runs anyway",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: regenerate docs/benchmarks.md and the plots from latest.json",
    )
    args = parser.parse_args(argv)
    args.parts = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}; choose from {PARTS}")
    args.stream_scenarios = [name.strip() for name in args.stream_scenarios.split(",") if name]
    if set(args.stream_scenarios) - set(stream_cost.SCENARIOS) or not args.stream_scenarios:
        parser.error(f"--stream-scenarios: choose from {', '.join(stream_cost.SCENARIOS)}")
    if args.answers <= memory.WARM_ANSWERS:
        parser.error(f"--answers must be more than {memory.WARM_ANSWERS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (ROOT / "static" / "vendor" / "pyodide" / "pyodide.mjs").exists():
        log("static/vendor/ is missing: run `make setup` first")
        return 2
    if args.report_only:
        stored = json.loads((RESULTS / "latest.json").read_text(encoding="utf-8"))
        report.write(stored, RESULTS / f"{stored['started_at'][:10]}.json")
        return 0
    if args.quiet_load is not None:
        _wait_for_quiet(args.quiet_load, args.quiet_wait)
    started = time.monotonic()
    now = datetime.datetime.now(datetime.UTC)
    results: dict[str, Any] = {}
    latest = RESULTS / "latest.json"
    if set(args.parts) != set(PARTS) and latest.exists():
        results = json.loads(latest.read_text(encoding="utf-8"))
    results.update(environment.describe())
    results["started_at"] = now.strftime("%Y-%m-%d %H:%M UTC")
    results["command"] = " ".join(
        ["python bench/run.py", *(sys.argv[1:] if argv is None else argv)]
    )

    runs: dict[str, Callable[[str], dict[str, Any]]] = {
        "startup": lambda url: startup.run(url, cold_runs=args.cold_runs, warm_runs=args.warm_runs),
        "render": lambda url: render.run(url, naive_token_chars=args.naive_token_chars),
        "memory": lambda url: memory.run(url, answers=args.answers),
    }
    with server(*PAGE_SERVER_FLAGS) as page_server:
        for part in PARTS[:3]:
            if part in args.parts:
                results[part] = _watched(part, functools.partial(runs[part], page_server.url))
    if "backend" in args.parts:
        results["backend"] = _watched("backend", backend.run)
    if "scaling" in args.parts:
        results["scaling"] = _watched("scaling", scaling.run)
    if "stream" in args.parts:
        # Its own back end: ~30 questions from one address, after the other parts' questions.
        with server(*stream_cost.SERVER_FLAGS, *stream_cost.SERVER_EXTRA) as stream_server:
            results["stream"] = _watched(
                "stream",
                functools.partial(
                    stream_cost.run,
                    stream_server.url,
                    runs=args.stream_runs,
                    scenarios=args.stream_scenarios,
                    chars=args.stream_chars,
                    profile=not args.stream_no_profile,
                ),
            )
    results["duration_s"] = time.monotonic() - started

    RESULTS.mkdir(parents=True, exist_ok=True)
    dated = RESULTS / f"{now:%Y-%m-%d}.json"
    text = json.dumps(results, indent=1, sort_keys=False) + "\n"
    dated.write_text(text, encoding="utf-8")
    latest.write_text(text, encoding="utf-8")
    if all(part in results for part in PARTS):
        report.write(results, dated)
        log(f"wrote {dated.relative_to(ROOT)}, docs/benchmarks.md and docs/benchmarks/*.png")
    else:
        log(f"wrote {dated.relative_to(ROOT)}; the report needs every part once")
    log(f"done in {results['duration_s'] / 60:.1f} minutes")
    return 0


def _watched(part: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()`'s results, with when it ran and how busy the machine was meanwhile."""
    log(f"{part}: starting")
    started_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with CpuWatch() as watch:
        result = run()
    cpu = result["cpu"] = watch.summary()
    result["started_at"] = started_at
    log(f"{part}: {cpu['wall_s']:.0f} s, others kept {cpu['others_cores']:.2f} cores busy")
    return result


def _wait_for_quiet(load: float, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while os.getloadavg()[0] >= load and time.monotonic() < deadline:
        log(f"waiting for a quieter machine: load {os.getloadavg()[0]:.2f} ≥ {load}")
        time.sleep(15)
