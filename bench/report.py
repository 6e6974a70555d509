"""docs/benchmarks.md and its plots, regenerated from one results file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench import report_stream
from bench.common import ROOT, median

DOC = ROOT / "docs" / "benchmarks.md"
PLOTS = ROOT / "docs" / "benchmarks"
#: One cell of a table: a figure of one column's results, formatted.
Cell = Callable[[dict[str, Any]], str]
COLOURS = {"incremental": "#1f77b4", "naive": "#d62728"}

# Targets of issue 8 (and issue 5 §6): reported against, never asserted.
COLD_READY_S = 2.5
WARM_READY_S = 1.5
GROWTH_RATIO = 2.0
NAIVE_RATIO = 10.0
LONG_TASK_MS = 50.0
LATENESS_MS = 50.0
#: "Flat" memory: what the page's two heaps (V8 and Python's malloc) keep per answer in the
#: steady state, at most about what a few copies of the answer's own text would take.
FLAT_BYTES_PER_ANSWER = 10_000


def write(results: dict[str, Any], results_path: Path) -> None:
    """Writes the plots under docs/benchmarks/ and regenerates docs/benchmarks.md."""
    PLOTS.mkdir(parents=True, exist_ok=True)
    plots = {
        "render_cost": _save(_render_cost(results["render"]), "render-cost-vs-length.png"),
        "render_timeline": _save(_render_timeline(results["render"]), "render-timeline.png"),
        "render_cdf": _save(_render_cdf(results["render"]), "render-distributions.png"),
        "startup": _save(_startup(results["startup"]), "startup.png"),
        "memory": _save(_memory(results["memory"]), "memory.png"),
        "backend": _save(_backend(results["backend"]), "backend.png"),
    }
    if results.get("stream"):
        plots["stream"] = _save(report_stream.plot(results["stream"]), report_stream.PLOT_NAME)
    DOC.write_text(_markdown(results, plots, results_path), encoding="utf-8")


def _save(figure: Figure, name: str) -> str:
    figure.savefig(PLOTS / name, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return f"benchmarks/{name}"


# Plots --------------------------------------------------------------------------------------


def _render_cost(render: dict[str, Any]) -> Figure:
    figure, axes = plt.subplots(figsize=(9, 5))
    for mode in ("naive", "incremental"):
        series = render[mode]["series"]
        kb = [length / 1024 for length in series["length"]]
        axes.scatter(kb, series["update_ms"], s=4, alpha=0.35, color=COLOURS[mode], lw=0)
        centres, medians = _binned_median(series["length"], series["update_ms"], 512)
        label = f"{mode}: median per 0.5 KB ({render[mode]['token_chars']}-char tokens)"
        axes.plot(centres, medians, color=COLOURS[mode], lw=2, label=label)
    for low, high in render["bins"].values():
        axes.axvspan(low / 1024, high / 1024, color="#999999", alpha=0.15, lw=0)
    axes.axhline(LONG_TASK_MS, color="black", ls="--", lw=1, label="50 ms: a long task")
    axes.axhline(1000 / 60, color="grey", ls=":", lw=1, label="16.7 ms: one frame at 60 Hz")
    axes.set_yscale("log")
    axes.set_xlabel("answer length when the update started (KB of markdown, 1 KB = 1024 chars)")
    axes.set_ylabel("main-thread time of one DOM update (ms, log)")
    axes.set_title("Cost of one answer update against answer length (shaded: headline bins)")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    return figure


def _render_timeline(render: dict[str, Any]) -> Figure:
    figure, panels = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for axes, mode in zip(panels, ("incremental", "naive"), strict=True):
        series = render[mode]["series"]
        seconds = [start / 1000 for start in series["start_ms"]]
        axes.plot(seconds, series["update_ms"], ".", ms=2, color=COLOURS[mode], label="update")
        for start, duration in series["long_tasks"]:
            colour = "orange" if duration > LONG_TASK_MS else "#dddddd"
            axes.axvspan(start / 1000, (start + duration) / 1000, color=colour, alpha=0.4, lw=0)
        axes.axhline(LONG_TASK_MS, color="black", ls="--", lw=1)
        axes.set_yscale("log")
        axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 3.0)))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.set_ylabel("update (ms, log)")
        axes.set_title(
            f"{mode}: updates over time; orange spans: long tasks over 50 ms", fontsize=10
        )
        axes.grid(True, which="both", alpha=0.3)
    panels[1].set_xlabel("seconds since the question was sent")
    figure.tight_layout()
    return figure


def _render_cdf(render: dict[str, Any]) -> Figure:
    figure, panels = plt.subplots(1, 2, figsize=(10, 4))
    for mode in ("incremental", "naive"):
        series = render[mode]["series"]
        for axes, key in zip(panels, ("update_ms", "arrival_to_paint_ms"), strict=True):
            values = sorted(max(value, 0.05) for value in series[key])
            fractions = [(n + 1) / len(values) for n in range(len(values))]
            axes.plot(values, fractions, color=COLOURS[mode], label=mode)
    panels[0].set_title("main-thread time per update", fontsize=10)
    panels[1].set_title("token arrival → painted", fontsize=10)
    for axes in panels:
        axes.set_xscale("log")
        axes.set_xlabel("ms (log)")
        axes.set_ylabel("fraction ≤ x")
        axes.axvline(LONG_TASK_MS, color="black", ls="--", lw=1)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _startup(startup: dict[str, Any]) -> Figure:
    figure, axes = plt.subplots(figsize=(8, 4))
    metrics = [
        ("first_contentful_paint_ms", "first contentful paint"),
        ("downloads_done_ms", "downloads done"),
        ("ready_ms", "ready"),
    ]
    for row, cache in enumerate(("cold", "warm")):
        runs = startup[cache]["runs"]
        for column, (key, _label) in enumerate(metrics):
            values = [run[key] / 1000 for run in runs if run.get(key) is not None]
            y = row * (len(metrics) + 1) + column
            middle = median(values)
            if middle is not None:
                axes.barh(y, middle, color=f"C{column}", alpha=0.6)
                axes.text(max(values), y, f"   {middle:.2f} s", va="center", fontsize=8)
            axes.plot(values, [y] * len(values), "k|", ms=10)
    labels = []
    for cache in ("cold", "warm"):
        labels += [f"{cache}: {label}" for _, label in metrics] + [""]
    axes.set_yticks(range(len(labels)), labels)
    axes.axvline(COLD_READY_S, color="C2", ls="--", lw=1, label="target cold 2.5 s")
    axes.axvline(WARM_READY_S, color="C2", ls=":", lw=1, label="target warm 1.5 s")
    axes.invert_yaxis()
    axes.set_xlabel("seconds since navigation (bars: median; ticks: each run)")
    axes.set_title("Start-up")
    axes.legend(fontsize=8, loc="upper right")
    axes.grid(True, axis="x", alpha=0.3)
    return figure


def _memory(memory: dict[str, Any]) -> Figure:
    figure, axes = plt.subplots(figsize=(9, 5))
    samples = memory["samples"]
    answers = [sample["answers"] for sample in samples]
    lines = [
        ("js_heap_used_bytes", "JS heap used (performance.memory)"),
        ("embedder_heap_used_bytes", "Blink heap (DOM objects)"),
        ("malloc_in_use_bytes", "Pyodide: malloc in use (Python objects)"),
        ("wasm_memory_bytes", "Pyodide: WebAssembly memory size"),
    ]
    for index, (key, label) in enumerate(lines):
        values = [sample[key] / 1e6 for sample in samples]
        axes.plot(answers, values, marker=".", ms=4, color=f"C{index}", label=label)
        for idle in (memory["after_warm_and_idle"], memory["after_last_and_idle"]):
            axes.plot([idle["answers"] + 0.6], [idle[key] / 1e6], "*", color="black", ms=7)
    axes.plot([], [], "k*", label=f"the same, after {memory['idle_s']:.0f} s idle")
    axes.set_xlabel("answers in the page (0: just ready)")
    axes.set_ylabel("MB (after garbage collection)")
    axes.set_title(f"Memory over {memory['answers']} answers in one page")
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    axes.grid(True, alpha=0.3)
    return figure


def _backend(backend: dict[str, Any]) -> Figure:
    figure, panels = plt.subplots(1, 2, figsize=(10, 4))
    levels = list(backend["levels"])
    stats = [
        ("probe_lateness_p50_ms", "probes, p50"),
        ("probe_lateness_p99_ms", "probes, p99"),
        ("lateness_p99_ms", "all streams, p99"),
    ]
    width = 0.27
    for offset, (key, label) in enumerate(stats):
        values = [backend["levels"][level]["median"][key] for level in levels]
        xs = [n + (offset - 1) * width for n in range(len(levels))]
        panels[0].bar(xs, values, width, label=f"gap − 20 ms, {label}")
        for x, value in zip(xs, values, strict=True):
            panels[0].text(x, value, f"{value:.0f}", ha="center", va="bottom", fontsize=8)
    panels[0].axhline(LATENESS_MS, color="black", ls="--", lw=1, label="target: p99 < 50 ms")
    panels[0].set_xticks(range(len(levels)), [_streams(level) for level in levels])
    panels[0].set_ylabel("ms beyond the paced schedule")
    panels[0].set_title("Inter-token lateness (median of rounds)", fontsize=10)
    panels[0].legend(fontsize=8)
    xs = [int(level) for level in levels]
    for key, group, label, colour in (
        ("first_byte_p50_ms", "first_byte_ms", "time to first byte, p50", "C0"),
        ("first_token_p50_ms", "first_token_ms", "time to first token, p50", "C1"),
    ):
        for x, level in zip(xs, levels, strict=True):
            rounds = [run[group]["p50"] for run in backend["levels"][level]["rounds"]]
            panels[1].plot([x] * len(rounds), rounds, ".", color=colour, alpha=0.5)
        medians = [backend["levels"][level]["median"][key] for level in levels]
        panels[1].plot(xs, medians, "-o", color=colour, label=label)
    panels[1].set_xlabel("concurrent streams")
    panels[1].set_ylabel("ms")
    panels[1].set_title("Time to first byte / token (dots: each round)", fontsize=10)
    panels[1].legend(fontsize=8)
    for axes in panels:
        axes.grid(True, alpha=0.3)
    figure.tight_layout()
    return figure


def _binned_median(
    lengths: list[int], values: list[float], width: int
) -> tuple[list[float], list[float]]:
    bins: dict[int, list[float]] = {}
    for length, value in zip(lengths, values, strict=True):
        bins.setdefault(length // width, []).append(value)
    centres, medians = [], []
    for index in sorted(bins):
        middle = median(bins[index])
        if middle is not None:
            centres.append((index + 0.5) * width / 1024)
            medians.append(middle)
    return centres, medians


# The document --------------------------------------------------------------------------------


def _markdown(results: dict[str, Any], plots: dict[str, str], results_path: Path) -> str:
    targets = _targets(results)
    parts = [
        _header(results, results_path),
        _target_table(targets),
        _environment(results),
        _startup_section(results["startup"], plots),
        _render_section(results["render"], plots),
        _memory_section(results["memory"], plots),
        _backend_section(results["backend"], plots),
        _scaling_section(results.get("scaling")),
        report_stream.section(
            results.get("stream"),
            plots.get("stream"),
            _busy((results.get("stream") or {}).get("cpu")),
        ),
        _targets_section(targets),
    ]
    return "\n".join(parts)


def _header(results: dict[str, Any], results_path: Path) -> str:
    relative = results_path.relative_to(ROOT)
    return f"""# Benchmarks

Generated by `make bench` (this run: `{results["command"]}`; how each figure is measured:
[`bench/README.md`](../bench/README.md)) on {results["started_at"]}, in
{results["duration_s"] / 60:.1f} minutes. Raw results: [`{relative}`](../{relative}).
Everything runs on this one machine, in headless Chromium, against the reference back end
on 127.0.0.1; times are this machine's. Other engineers' test runs share its two cores, so
each section says how busy the machine was while it ran; medians and same-run ratios are
the figures to trust, single maxima the least.

## Summary
"""


def _target_table(targets: list[dict[str, Any]]) -> str:
    rows = ["| target | measured | verdict |", "|---|---|---|"]
    for target in targets:
        verdict = f"**{target.get('verdict') or ('met' if target['met'] else 'missed')}**"
        rows.append(f"| {target['name']} | {target['measured']} | {verdict} |")
    return "\n".join(rows) + "\n\nWhere a target is missed, [Targets](#targets) says why.\n"


def _environment(results: dict[str, Any]) -> str:
    machine, versions = results["machine"], results["versions"]
    wheels = ", ".join(f"{name} {version}" for name, version in versions["browser_wheels"].items())
    load = ", ".join(
        f"{name} {_busy(results[name].get('cpu'))}"
        for name in ("startup", "render", "memory", "backend", "scaling", "stream")
        if name in results
    )
    return f"""
## Machine and versions

| | |
|---|---|
| CPU | {machine["cpu_model"]}, {machine["cores"]} cores |
| RAM | {machine["ram_bytes"] / 2**30:.1f} GiB |
| OS | {machine["os"]}, kernel {machine["kernel"]} |
| Chromium | {versions["chromium"]} (Debian), headless; Playwright {versions["playwright"]} |
| Python (back end, benchmarks) | {versions["python"]} |
| Pyodide | {versions["pyodide"]} (Python {versions["pyodide_python"]}), self-hosted |
| PyScript | {versions["pyscript"]} (`@pyscript/core`, package-lock.json) |
| In the page | {wheels}; DOMPurify {versions["dompurify"]} |
| Back end | Starlette {versions["starlette"]}, uvicorn {versions["uvicorn"]} |
| Load client | httpx {versions["httpx"]} |
| Tree | {_tree(results.get("tree"))} |

Machine load while each part ran (CPU cores busy with other people's work, out of 2): {load}.
"""


def _tree(tree: dict[str, Any] | None) -> str:
    if not tree:
        return "not recorded"
    changes = tree["uncommitted_changes"]
    if not changes:
        return f"commit `{tree['commit']}`, no uncommitted changes to the page or back end"
    listed = ", ".join(f"`{path}`" for path in changes)
    return f"commit `{tree['commit']}` plus uncommitted changes to {listed}"


def _busy(cpu: dict[str, Any] | None) -> str:
    if not cpu:
        return "n/a"
    return f"{cpu['others_cores']:.2f}"


def _startup_section(startup: dict[str, Any], plots: dict[str, str]) -> str:
    cold, warm = startup["cold"]["median"], startup["warm"]["median"]
    rows = [
        ("ready (`data-app-state=ready`)", "ready_ms", _s),
        ("first paint", "first_paint_ms", _s),
        ("first contentful paint (the shell)", "first_contentful_paint_ms", _s),
        ("DOMContentLoaded", "dom_content_loaded_ms", _s),
        ("Pyodide's wasm downloaded", "runtime_downloaded_ms", _s),
        ("last download done", "downloads_done_ms", _s),
        ("requests", "requests", _count),
        ("… served from cache", "requests_from_cache", _count),
        ("bytes transferred", "bytes", _mb),
    ]
    table = ["| median | cold cache | warm cache |", "|---|---:|---:|"]
    table += [f"| {label} | {fmt(cold[key])} | {fmt(warm[key])} |" for label, key, fmt in rows]
    largest = startup["cold"]["runs"][0]["largest"]
    biggest = ", ".join(f"`{Path(item['path']).name}` {_mb(item['bytes'])}" for item in largest[:4])
    foreign = sum(
        len(run["foreign_requests"]) for cache in ("cold", "warm") for run in startup[cache]["runs"]
    )
    cold_runs, warm_runs = len(startup["cold"]["runs"]), len(startup["warm"]["runs"])
    return f"""
## Start-up

{cold_runs} cold visits (a fresh browser profile each) and {warm_runs} warm visits (one
profile, primed by a visit that is not counted; the browser is relaunched for each visit, so
the HTTP disk cache and the code cache are warm and nothing is in memory), alternating.

{chr(10).join(table)}

Largest transfers (cold): {biggest}. Requests to any host but 127.0.0.1: {foreign}.

![Start-up, cold and warm]({plots["startup"]})

Where start-up's time goes, step by step, before and after compiling the standard library
and compressing the runtime: [startup.md](startup.md).
"""


def _render_section(render: dict[str, Any], plots: dict[str, str]) -> str:
    inc, naive = render["incremental"], render["naive"]
    headline = render["headline"]
    rows: list[tuple[str, Cell]] = [
        ("tokens (characters each)", lambda m: f"{m['tokens']} ({m['token_chars']})"),
        ("tokens/s as they arrived", lambda m: f"{m['tokens_per_s_arrived']:.0f}"),
        ("question sent → answer done", lambda m: _s(m["asked_to_done_s"] * 1000)),
        ("DOM updates", lambda m: str(m["update_ms"]["count"])),
        ("update, p50 / p95 / max", lambda m: _dist(m["update_ms"])),
        ("**update at ~1 KB** (median, 0.5–1.5 KB)", lambda m: _ms(m["median_at_1kb_ms"])),
        ("**update at ~20 KB** (median, 18–20 KB)", lambda m: _ms(m["median_at_20kb_ms"])),
        ("first update of the page", lambda m: _ms(m["first_update"]["duration_ms"])),
        ("update start → painted, p50 / p95 / max", lambda m: _dist(m["update_to_paint_ms"])),
        ("token arrival → painted, p50 / p95 / max", lambda m: _dist(m["arrival_to_paint_ms"])),
        ("interval between updates, median", lambda m: _ms(m["update_interval_ms"])),
        ("long tasks > 50 ms while streaming", lambda m: _long_tasks(m["long_tasks_over_50ms"])),
    ]
    columns = [("incremental", inc), ("naive", naive)]
    if "repeat" in inc:
        columns.insert(1, ("incremental, repeat", inc["repeat"]))
    table = ["| | " + " | ".join(name for name, _ in columns) + " |"]
    table.append("|---|" + "---:|" * len(columns))
    for label, cell in rows:
        table.append(f"| {label} | " + " | ".join(cell(m) for _, m in columns) + " |")
    return f"""
## Streaming render

A {render["answer"]["characters"]:,}-character markdown answer
({" + ".join(f"`{name}`" for name in render["answer"]["files"])} from `tests/unit/corpus/`)
streamed through the real page (fetch transport) by the back end's `echo` fault, at
~1,000 characters/s: 5-character tokens every 5 ms (~200 tokens/s) for the incremental page,
{naive["token_chars"]}-character tokens every {naive["pace_s"] * 1000:.0f} ms for the naive
baseline (`?render=naive`: the whole answer re-rendered on every token, no frame batching),
which with 5-character tokens needs several minutes; its cost per update depends on the
answer's length, not the token's (`--naive-token-chars 5` runs the identical schedule).
Each run has a fresh browser: incremental, naive, then incremental again (the *repeat*,
which shows how far two identical runs differ here); the headline and plots are from the
first incremental run.

{chr(10).join(table)}

Headline: incremental {_ms(headline["incremental_1kb_ms"])} at 1 KB and
{_ms(headline["incremental_20kb_ms"])} at 20 KB ({_x(headline["incremental_20kb_over_1kb"])});
naive {_ms(headline["naive_1kb_ms"])} and {_ms(headline["naive_20kb_ms"])}: at 20 KB naive
costs {_x(headline["naive_over_incremental_20kb"])} the incremental update
({_x(headline["naive_over_incremental_1kb"])} at 1 KB).

How: `?measure=1` wraps each DOM update of the answer in performance marks; an update's
length is how much answer text the page had read from the stream when it started (for
naive, update *i* shows token *i*); "painted" is a MessageChannel task queued from the frame
after the update, which runs once that frame's style, layout and paint are done;
arrival is when the page's JavaScript saw the token's bytes. A busy main thread delays that
too, so naive's arrival → painted is a lower bound; its total time against the ~20 s
schedule shows its backlog. Details: `bench/render_probe.js`.

![Update cost against answer length]({plots["render_cost"]})

![Updates and long tasks over time]({plots["render_timeline"]})

![Distributions]({plots["render_cdf"]})
"""


def _memory_section(memory: dict[str, Any], plots: dict[str, str]) -> str:
    first, warm, last, idle = (
        memory["after_1"],
        memory["after_warm_and_idle"],
        memory["after_last"],
        memory["after_last_and_idle"],
    )
    n, w, idle_s = memory["answers"], memory["warm_answers"], memory["idle_s"]
    rows = [
        ("JS heap used (`performance.memory`)", "js_heap_used_bytes", _mb),
        ("Blink heap (DOM objects)", "embedder_heap_used_bytes", _mb),
        ("Pyodide: WebAssembly memory", "wasm_memory_bytes", _mb),
        ("Pyodide: malloc in use (Python)", "malloc_in_use_bytes", _mb),
        ("Python objects tracked by gc", "python_gc_objects", _count),
        ("DOM nodes", "dom_nodes", _count),
        ("JS event listeners", "js_event_listeners", _count),
        ("answer text on the page (chars)", "answer_chars_on_page", _count),
    ]
    steady = memory["kept_per_answer_steady"]
    table = [
        f"| after GC | 1 answer | {w} answers + {idle_s:.0f} s idle | {n} answers "
        f"| {n} answers + {idle_s:.0f} s idle | kept per answer, {w}→{n} (idle to idle) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key, fmt in rows:
        per_answer = steady.get(key)
        per = "" if per_answer is None else _per(per_answer, fmt)
        table.append(
            f"| {label} | {fmt(first[key])} | {fmt(warm[key])} | {fmt(last[key])} "
            f"| {fmt(idle[key])} | {per} |"
        )
    types = ", ".join(
        f"`{name}` {count:+d}" for name, count in memory["python_types_kept_steady"].items()
    )
    held = memory["pending_after_last"]
    pending = (
        f"{_mb(held['v8_heap_used_bytes'], signed=True)} of V8 heap, "
        f"{_mb(held['malloc_in_use_bytes'], signed=True)} of Python heap, "
        f"{held['python_gc_objects']:+,d} Python objects"
    )
    return f"""
## Memory

{n} answers from the offline answerer (`--pace 0`, ~75 tokens with citations each; ten
questions asked in turn) in one page, as users get it (EventSource, incremental). After
each: Python's `gc.collect()`, then a forced JS garbage collection (DevTools
`HeapProfiler.collectGarbage`). The page keeps the conversation on screen by design, so
DOM nodes and the Blink heap grow with every answer. Pyodide's WebAssembly memory only ever
grows (64 KiB pages), so it is a high-water mark; `malloc` in use is what Python holds.
Every streamed event leaves an asyncio timer (the stall watch's `wait_for` timeout):
cancelled when the event arrives, but Pyodide's event loop keeps it, through the
`setTimeout` behind `call_later`, until its 30 s are up. So the steady state is measured
between two samples taken after {idle_s:.0f} s without activity: after the first round of
{w} questions (every lexer and code path used once) and after the last answer.

{chr(10).join(table)}

Python objects kept in the steady state ({w}→{n} answers, idle to idle), by type:
{types or "none"}. Held only until the answers' timers ran out (the difference idling made
after {n} answers): {pending}.

![Memory over {n} answers]({plots["memory"]})
"""


def _backend_section(backend: dict[str, Any], plots: dict[str, str]) -> str:
    rows: list[tuple[str, Cell]] = [
        ("streams completed (all rounds)", lambda m: f"{m['completed']}/{m['streams']}"),
        (
            "time to first byte, p50 / p99",
            lambda m: f"{_ms(m['first_byte_p50_ms'])} / {_ms(m['first_byte_p99_ms'])}",
        ),
        ("time to first token, p50", lambda m: _ms(m["first_token_p50_ms"])),
        (
            "**probes**: gap − 20 ms, p50 / p99",
            lambda m: f"{_ms(m['probe_lateness_p50_ms'])} / **{_ms(m['probe_lateness_p99_ms'])}**",
        ),
        ("probes: p99 after ramp-up", lambda m: _ms(m["probe_lateness_after_ramp_up_p99_ms"])),
        (
            "all streams: gap − 20 ms, p50 / p95 / p99",
            lambda m: (
                f"{_ms(m['lateness_p50_ms'])} / {_ms(m['lateness_p95_ms'])} / "
                f"{_ms(m['lateness_p99_ms'])}"
            ),
        ),
        ("all streams: p99 after ramp-up", lambda m: _ms(m["lateness_after_ramp_up_p99_ms"])),
        ("all streams: max", lambda m: _ms(m["lateness_max_ms"])),
        ("event-loop lag p99: load client / probes", _loop_lags),
        ("back-end CPU (cores)", lambda m: f"{m['server_cpu_cores']:.2f}"),
        ("back-end RSS, peak", lambda m: _mb(m["server_rss_peak_bytes"])),
        ("load client CPU (s per round)", lambda m: f"{m['client_cpu_s']:.2f}"),
        ("round wall time", lambda m: _s(m["wall_s"] * 1000)),
    ]
    levels = list(backend["levels"])
    header = "| median of rounds | " + " | ".join(_streams(level) for level in levels) + " |"
    table = [header, "|---|" + "---:|" * len(levels)]
    for label, cell in rows:
        cells = " | ".join(cell(backend["levels"][level]["median"]) for level in levels)
        table.append(f"| {label} | {cells} |")
    return f"""
## Back end

The reference back end in its own process with `--pace {backend["pace_s"]}` (20 ms before
each token) and its offline answerer, a fresh one per level; the streams of a level start
at the same moment, {backend["probes"]} of them (the *probes*) from a client in a separate
process that has little else to do, the rest from one `httpx.AsyncClient` in the
benchmark's process, whose event loop is itself late reading ~200 streams on this machine.
{backend["rounds"]} rounds per level; per figure, the median of the rounds. "Gap − 20 ms" is
how much later than the paced schedule a token followed the one before; "after ramp-up"
counts only tokens after every stream had its first one.

{chr(10).join(table)}

![Back end under load]({plots["backend"]})
"""


def _streams(level: str) -> str:
    return f"{level} stream" if level == "1" else f"{level} streams"


def _loop_lags(summary: dict[str, Any]) -> str:
    return f"{_ms(summary['client_loop_lag_p99_ms'])} / {_ms(summary['probe_loop_lag_p99_ms'])}"


# Scale-out ---------------------------------------------------------------------------------

MEMORY_SETUP = "1 instance, memory"
REDIS_SETUP = "2 instances + Redis"
SCALING_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("incomplete streams", "incomplete streams", str),
    ("extra gap p50", "extra gap p50, ms", lambda v: _ms(v)),
    ("**extra gap p99**", "extra gap p99, ms", lambda v: f"**{_ms(v)}**"),
    ("extra gap max", "extra gap max, ms", lambda v: _ms(v)),
    (
        "server CPU per 1000 tokens (all instances)",
        "server CPU per 1000 tokens, ms",
        lambda v: _ms(v),
    ),
    ("server RSS per stream (peak growth)", "server RSS per stream, KiB", lambda v: _kib(v)),
    ("Redis memory per active answer", "Redis memory per active answer, KiB", lambda v: _kib(v)),
    ("Redis memory per kept answer (60 s)", "Redis memory per kept answer, KiB", lambda v: _kib(v)),
    ("… of which the stream (`MEMORY USAGE`)", "… of which the stream, KiB", lambda v: _kib(v)),
    (
        "Redis clients' memory at peak",
        "Redis clients' memory at peak, MiB",
        lambda v: f"{v:.1f} MiB",
    ),
    ("Redis CPU per 1000 tokens", "Redis CPU per 1000 tokens, ms", lambda v: _ms(v)),
    ("Redis EVALSHA calls per token", "Redis EVALSHA calls per token", lambda v: f"{v:.2f}"),
    ("Redis XREAD calls per token", "Redis XREAD calls per token", lambda v: f"{v:.2f}"),
    ("load client CPU", "client CPU, s", lambda v: f"{v:.1f} s"),
    ("wall time", "wall time, s", lambda v: f"{v:.1f} s"),
    ("load average (1 min) after", "load average (1 min) after", lambda v: f"{v:.2f}"),
)


def _kib(value: float) -> str:
    return f"{value:.1f} KiB"


def _scaling_section(scaling: dict[str, Any] | None) -> str:
    if not scaling:
        return "\n## Scale-out\n\nNot measured in this run (`--only scaling`).\n"
    setups: dict[str, dict[str, Any]] = scaling["setups"]
    names = list(setups)
    table = ["| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, key, fmt in SCALING_ROWS:
        cells = []
        for name in names:
            value = setups[name].get(key)
            cells.append("–" if value is None else fmt(value))
        table.append(f"| {label} | " + " | ".join(cells) + " |")
    endings = "".join(
        f"\n- {name}: " + "; ".join(f"{count} × {ending}" for ending, count in counts.items())
        for name, counts in scaling["incomplete"].items()
        if counts
    )
    if endings:
        endings = "\nIncomplete streams ended by:\n" + endings + "\n"
    rate = scaling["streams"] / scaling["pace_s"]
    rounds = scaling["rounds"]
    rounds_text = "1 round" if rounds == 1 else f"{rounds} rounds (median)"
    return f"""
## Scale-out

[`bench/scaling.py`](../bench/scaling.py) (issue 10): {scaling["streams"]} concurrent
streams of {scaling["tokens"]} tokens each, {scaling["pace_s"] * 1000:.0f} ms apart
({rate:,.0f} tokens/s in all), every answer the `echo` fault (6 characters a token), from
one `httpx.AsyncClient` in the benchmark's process on the same two cores as the servers.
Set-ups, each fresh: *{MEMORY_SETUP}* (one `python -m server`, the in-memory store);
*{REDIS_SETUP}* (a fresh `redis-server` and two instances with `--store redis://…`, the
streams spread over them in turn, as a load balancer without sticky sessions would); *read
on the other instance* (each answer started on one instance, the client hangs up after the
first token and resumes with `Last-Event-ID` on the other, so every token goes through Redis
to another process); *with --flush-ms 50* (the Redis set-up, tokens appended in batches of
up to 50 ms, so its gaps are mostly the batching's own: p50 near −20 ms, p99 up to ~30 ms).
"Extra gap" is each inter-token gap as the client read it minus the pace, counting only
tokens after every stream had its first; RSS per stream is the peak growth of all
instances' RSS over the run divided by the streams; Redis memory per active answer is the
growth of `used_memory` while every stream was running (the stream itself plus per-client
buffers). {rounds_text}; other processes kept {_busy(scaling.get("cpu"))} cores busy.
More rounds, 50 streams and the arithmetic for 10,000 and 100,000 answers:
[docs/scaling.md](scaling.md#what-it-costs-measured).

{chr(10).join(table)}
{endings}"""


def _why_scaling(results: dict[str, Any]) -> str:
    scaling = results["scaling"]
    setups = scaling["setups"]
    redis_cpu = setups[REDIS_SETUP]["server CPU per 1000 tokens, ms"]
    memory_cpu = setups[MEMORY_SETUP]["server CPU per 1000 tokens, ms"]
    per_stream_tokens = 1 / scaling["pace_s"]
    cores_1000 = 1000 * per_stream_tokens * redis_cpu / 1e6
    measured = scaling["streams"] * per_stream_tokens * redis_cpu / 1e6
    return (
        f"Only {scaling['streams']} streams were measured, not 1,000: at one token every "
        f"{scaling['pace_s'] * 1000:.0f} ms a stream is {per_stream_tokens:.0f} tokens/s, and "
        f"the Redis set-up's instances spend {_ms(redis_cpu)} of CPU per 1000 tokens "
        f"({_ms(memory_cpu)} in memory), so {scaling['streams']} streams already ask "
        f"{measured:.1f} cores of this machine's 2 (which the load client, Redis and other "
        f"people's test runs share), and 1,000 would ask about {cores_1000:.1f} cores for the "
        "instances alone: on this machine the figure would measure the CPU queue, not the "
        "design. 1,000 streams at this pace need about that many cores spread over more "
        "instances; docs/scaling.md has the arithmetic for Redis at 10,000 and 100,000 "
        "answers. The p99 is judged against the same 50 ms bound as the single back end."
    )


# Targets -----------------------------------------------------------------------------------


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    render, startup = results["render"], results["startup"]
    memory, backend = results["memory"], results["backend"]
    headline = render["headline"]
    growth = headline["incremental_20kb_over_1kb"]
    naive_ratio = headline["naive_over_incremental_20kb"]
    runs = _incremental_runs(render)
    long_tasks = [task for _, run in runs for task in run["long_tasks_over_50ms"]]
    measured_long = "; ".join(
        f"{label}: {_long_tasks(run['long_tasks_over_50ms'])}" for label, run in runs
    )
    cold = startup["cold"]["median"]["ready_ms"] / 1000
    warm = startup["warm"]["median"]["ready_ms"] / 1000
    steady = memory["kept_per_answer_steady"]
    kept = steady["v8_heap_used_bytes"] + steady["malloc_in_use_bytes"]
    top = backend["levels"][max(backend["levels"], key=int)]["median"]
    lateness = top["probe_lateness_p99_ms"]
    return [
        {
            "name": "incremental update at 20 KB ≤ 2× that at 1 KB",
            "measured": f"{_x(growth)} ({_ms(headline['incremental_20kb_ms'])} vs "
            f"{_ms(headline['incremental_1kb_ms'])})",
            "met": growth is not None and growth <= GROWTH_RATIO,
            "by": _by(growth, GROWTH_RATIO, "×", lower_is_better=True),
            "why": _why_growth,
        },
        {
            "name": "incremental ≥ 10× cheaper than naive at 20 KB",
            "measured": f"{_x(naive_ratio)} ({_ms(headline['naive_20kb_ms'])} vs "
            f"{_ms(headline['incremental_20kb_ms'])})",
            "met": naive_ratio is not None and naive_ratio >= NAIVE_RATIO,
            "by": _by(naive_ratio, NAIVE_RATIO, "×", lower_is_better=False),
            "why": _why_naive,
        },
        {
            "name": "no long task > 50 ms while streaming (incremental)",
            "measured": measured_long,
            "met": not long_tasks,
            "by": _long_task_excess(long_tasks),
            "why": lambda: _why_long_tasks(results),
        },
        {
            "name": "ready in < 2.5 s, cold cache (median)",
            "measured": f"{cold:.2f} s",
            "met": cold < COLD_READY_S,
            "by": _by(cold, COLD_READY_S, " s", lower_is_better=True, difference=True),
            "why": lambda: _why_startup(results, "cold"),
        },
        {
            "name": "ready in < 1.5 s, warm cache (median)",
            "measured": f"{warm:.2f} s",
            "met": warm < WARM_READY_S,
            "by": _by(warm, WARM_READY_S, " s", lower_is_better=True, difference=True),
            "why": lambda: _why_startup(results, "warm"),
        },
        {
            "name": "memory flat across 50 answers",
            "measured": f"{_kb(kept)} per answer kept (V8 + Python), WebAssembly memory "
            f"{_mb(memory['growth_1_to_last']['wasm_memory_bytes'], signed=True)}",
            "met": kept <= FLAT_BYTES_PER_ANSWER
            and memory["growth_1_to_last"]["wasm_memory_bytes"] == 0,
            "by": _by(
                kept / 1000,
                FLAT_BYTES_PER_ANSWER / 1000,
                " KB",
                lower_is_better=True,
                difference=True,
            ),
            "why": lambda: _why_memory(results),
        },
        {
            "name": "200 streams: p99 gap < 50 ms beyond schedule",
            "measured": f"{_ms(lateness)} at the probes (after ramp-up "
            f"{_ms(top['probe_lateness_after_ramp_up_p99_ms'])}; all streams "
            f"{_ms(top['lateness_p99_ms'])})",
            "met": lateness is not None and lateness < LATENESS_MS,
            "by": _by(lateness, LATENESS_MS, " ms", lower_is_better=True, difference=True),
            "why": lambda: _why_backend(results),
        },
        *_scaling_targets(results),
    ]


def _scaling_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    scaling = results.get("scaling")
    if not scaling:
        return []
    setups = scaling["setups"]
    redis_p99 = setups[REDIS_SETUP]["extra gap p99, ms"]
    others = "; ".join(
        f"{name} {_ms(figures['extra gap p99, ms'])}"
        for name, figures in setups.items()
        if name != REDIS_SETUP
    )
    met = redis_p99 is not None and redis_p99 < LATENESS_MS
    streams = scaling["streams"]
    return [
        {
            "name": "1,000 concurrent streams across 2 instances + Redis: p99 gap < 50 ms "
            "beyond schedule",
            "measured": f"{streams} streams measured (not 1,000: 2 cores, see "
            f"[Targets](#targets)): p99 extra gap {_ms(redis_p99)} ({others}); Redis "
            f"{_kib(setups[REDIS_SETUP]['Redis memory per active answer, KiB'])} per active "
            "answer",
            "met": met,
            "verdict": f"{'met' if met else 'missed'} at {streams} streams; 1,000 not measured",
            "by": _by(redis_p99, LATENESS_MS, " ms", lower_is_better=True, difference=True),
            "why": lambda: _why_scaling(results),
        }
    ]


def _targets_section(targets: list[dict[str, Any]]) -> str:
    parts = ["\n## Targets\n"]
    for target in targets:
        verdict = target.get("verdict") or ("met" if target["met"] else "missed")
        parts.append(f"### {target['name']}: {verdict}\n")
        parts.append(f"Measured: {target['measured']}. {target['by']}\n")
        why = target["why"]()
        if why:
            parts.append(why + "\n")
    return "\n".join(parts)


def _why_growth() -> str:
    return (
        "An incremental update renders only the open tail block (finished blocks were "
        "rendered once, when they closed), so its cost follows the size of the block being "
        "written, not the answer's length; the plot shows it flat from 1 KB to 20 KB, with "
        "bumps while a long code block or table is open."
    )


def _why_naive() -> str:
    return (
        "A naive update renders the whole text with Python-Markdown and Pygments and replaces "
        "the whole answer's DOM, so its cost grows linearly with the answer's length "
        "(shared/FACTS.md: ~48 ms for the markdown of 20 KB with code highlighting in Pyodide, "
        "plus ~16 ms of innerHTML and layout)."
    )


def _why_long_tasks(results: dict[str, Any]) -> str:
    render = results["render"]
    lines = []
    for label, run in _incremental_runs(render):
        tasks = run["long_tasks_over_50ms"]
        if not tasks:
            lines.append(f"- {label}: none.")
            continue
        first_start = run["first_update"]["at_ms"]
        first = [
            t for t in tasks if t["start_ms"] <= first_start < t["start_ms"] + t["duration_ms"]
        ]
        rest = [t for t in tasks if t not in first]
        if first:
            lines.append(
                f"- {label}: the first update of the page is one "
                f"({_ms(first[0]['duration_ms'])}, of which {_ms(first[0]['update_ms_inside'])} "
                "in the update): the first render builds the Python-Markdown converter "
                "(`streamchat.render._markdown()`, cached after that) and imports the pymdownx "
                "extensions it uses; one-time work per page that the app can do before it "
                "says ready."
            )
        if rest:
            lines.append(f"- {label}: {_other_long_tasks(rest, bool(first), render)}")
    return "\n".join(lines)


def _incremental_runs(render: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    runs = [("first run", render["incremental"])]
    if "repeat" in render["incremental"]:
        runs.append(("repeat", render["incremental"]["repeat"]))
    return runs


def _other_long_tasks(tasks: list[dict[str, Any]], more: bool, render: dict[str, Any]) -> str:
    inside = sum(t["update_ms_inside"] for t in tasks)
    total = sum(t["duration_ms"] for t in tasks)
    invokers: dict[str, int] = {}
    for task in tasks:
        script = task["longest_script"]
        name = script["type"] or "no script attribution"
        if script["invoker"]:
            name = f"{name} ({str(script['invoker'])[:60]})"
        invokers[name] = invokers.get(name, 0) + 1
    named = "; ".join(f"{name}: {count}" for name, count in sorted(invokers.items()))
    others = render.get("cpu", {}).get("others_cores") or 0.0
    cause = (
        f"likely stretched by contention for the CPU (other processes kept {others:.2f} "
        "of the 2 cores busy; a task is measured in wall time, so a 10 ms task that loses "
        "the CPU for 40 ms counts as long)"
        if others > 0.3
        else "with the machine otherwise quiet"
    )
    return (
        f"{_tasks(len(tasks), more)} ({_ms(total)} in all), of which {_ms(inside)} the "
        "answer's updates; the rest is other work in the same task (the frame callback's "
        "Python around the update, reading and decoding the stream, garbage collection), "
        f"{cause}. The longest script of the long animation frame holding each: {named}."
    )


def _tasks(count: int, more: bool) -> str:
    noun = "long task" if count == 1 else "long tasks"
    return f"{count} {'more ' if more else ''}{noun}"


def _why_startup(results: dict[str, Any], cache: str) -> str:
    startup = results["startup"][cache]["median"]
    ready, wasm = startup["ready_ms"], startup["runtime_downloaded_ms"]
    others = results["startup"].get("cpu", {}).get("others_cores")
    busy = "" if others is None else f" Other processes kept {others:.2f} of the 2 cores busy."
    if cache == "cold":
        largest = results["startup"]["cold"]["runs"][0]["largest"]
        biggest = ", ".join(
            f"`{Path(item['path']).name}` {_mb(item['bytes'])}" for item in largest[:2]
        )
        return (
            f"The shell is painted at {_s(startup['first_contentful_paint_ms'])}. Of the "
            f"{_mb(startup['bytes'])} ({biggest}, …), Pyodide's WebAssembly module has arrived "
            f"at {_s(wasm)}; PyScript asks for the wheels and the app's modules only once the "
            f"interpreter runs (the last download ends at {_s(startup['downloads_done_ms'])}), "
            f"and the page is ready at {_s(ready)}. Over loopback the transfer is not what costs: "
            f"the {_s(ready - wasm)} after the module arrived are mostly main-thread work, "
            "compiling and instantiating it, starting CPython with its standard library, "
            "unpacking three wheels, importing and starting the app. shared/FACTS.md measured "
            "`loadPyodide()` alone at 2.3–2.8 s cold on this machine, so the 2.5 s target leaves "
            "nothing for PyScript, the wheels and the app; meeting it needs less work before "
            "ready (e.g. importing Pygments and the markdown extensions on first use) or a "
            f"smaller runtime.{busy}"
        )
    return (
        f"Only {_mb(startup['bytes'])} cross the network ({startup['requests_from_cache']:.0f} "
        f"of {startup['requests']:.0f} requests come from the cache, the others are cheap "
        f"revalidations of the app's own files), and Pyodide's module is there at {_s(wasm)}; "
        f"the {_s(ready - wasm)} after that are the same work as cold (only the module's "
        "compilation may be saved, by Chromium's cache of compiled WebAssembly): starting "
        "CPython, unpacking the wheels, importing and starting the app. "
        f"A warm cache saves the transfer, not the start-up work.{busy}"
    )


def _why_memory(results: dict[str, Any]) -> str:
    memory = results["memory"]
    steady, held = memory["kept_per_answer_steady"], memory["pending_after_last"]
    steady_answers = memory["answers"] - memory["warm_answers"]
    kinds = list(memory["python_types_kept_steady"].items())[:6]
    top = ", ".join(f"`{name}` {count / steady_answers:+.1f}" for name, count in kinds)
    kept = steady["v8_heap_used_bytes"] + steady["malloc_in_use_bytes"]
    verdict = (
        "That is what the conversation keeps by design (each turn's question and answer, its "
        "view and its citations), so memory is flat apart from the answers themselves."
        if kept <= FLAT_BYTES_PER_ANSWER
        else "That is more than the conversation's own text and objects: something outlives "
        "its answer, to be found in `app/` with the types above."
    )
    return (
        f"Criterion: after idling past every timer, the V8 and Python heaps keep at most "
        f"{_kb(FLAT_BYTES_PER_ANSWER)} per answer (a few copies of the ~0.75 KB of text an "
        "answer has) and the WebAssembly memory does not grow. Measured, from answer "
        f"{memory['warm_answers']} to {memory['answers']}: {_kb(steady['v8_heap_used_bytes'])} of "
        f"V8 heap and {_kb(steady['malloc_in_use_bytes'])} of Python heap per answer for "
        f"{steady['answer_chars_on_page']:.0f} characters of answer text; Python objects kept "
        f"per answer: {top}. {verdict} The DOM grows by {steady['dom_nodes']:.0f} nodes "
        f"({_kb(steady['embedder_heap_used_bytes'])} of Blink heap) per answer, because the page "
        "shows the whole conversation. Not kept but held for 30 s: right after the 50th answer "
        f"the heaps were {_mb(held['v8_heap_used_bytes'] + held['malloc_in_use_bytes'])} "
        f"larger ({held['python_gc_objects']:,} Python objects) than after idling: the stall "
        "watch's cancelled timers, one per streamed event, which Pyodide's event loop only lets "
        "go when their `setTimeout` fires; a long, fast answer holds thousands of them for 30 s. "
        "Clearing the timeout on cancel (in Pyodide's loop) or one re-armed timer per stream "
        "(in `streamchat/client.py`) would avoid it."
    )


def _why_backend(results: dict[str, Any]) -> str:
    backend = results["backend"]
    levels = backend["levels"]
    top = levels[max(levels, key=int)]["median"]
    single = levels[min(levels, key=int)]["median"]
    overall, steady = top["probe_lateness_p99_ms"], top["probe_lateness_after_ramp_up_p99_ms"]
    others = backend.get("cpu", {}).get("others_cores")
    busy = "" if others is None else f" Other processes kept {others:.2f} of the 2 cores busy."
    text = (
        f"With 200 streams the back end used {top['server_cpu_cores']:.2f} cores and the load "
        f"client {top['client_cpu_s'] / top['wall_s']:.2f}; alone, one stream is "
        f"{_ms(single['probe_lateness_p99_ms'])} late at p99. "
    )
    if overall is not None and steady is not None and steady < overall * 0.7:
        text += (
            f"At the probes, p99 is {_ms(overall)} over all tokens but {_ms(steady)} once every "
            "stream has its first token: the lateness is the ramp-up, 200 requests arriving at "
            "once, each with a new connection and a BM25 retrieval, in the back end's single "
            f"event loop (time to first byte p50 {_ms(top['first_byte_p50_ms'])})."
        )
    else:
        idle_backend = top["server_cpu_cores"] < 0.5
        text += (
            f"At the probes, p99 is {_ms(overall)} over all tokens and {_ms(steady)} after the "
            "ramp-up: the lateness lasts the whole stream"
            + (
                ", with the back end far from busy (under half a core), so contention for the "
                "two cores (back end, clients, other people's test runs) is the likely cause"
                if idle_backend
                else ", with the back end busy: its single event loop is the bottleneck"
            )
            + f"; the probes' own event loop lagged {_ms(top['probe_loop_lag_p99_ms'])} at p99."
        )
    if not text.endswith(" "):
        text += " "
    return text + busy.strip()


# Formatting ---------------------------------------------------------------------------------


def _by(
    value: float | None,
    target: float,
    unit: str,
    *,
    lower_is_better: bool,
    difference: bool = False,
) -> str:
    if value is None:
        return "Not measured."
    met = value <= target if lower_is_better else value >= target
    borderline = (
        " Borderline: within 10% of the target, so a run on this shared machine can land on "
        "either side of it."
        if abs(value - target) < 0.1 * target
        else ""
    )
    if difference:
        gap = abs(value - target)
        return f"{'Within' if met else 'Over'} the target by {gap:.2f}{unit}.{borderline}"
    factor = target / value if lower_is_better else value / target
    if met:
        return f"{factor:.1f}× better than the target.{borderline}"
    return f"Misses the target by a factor of {1 / factor:.1f}.{borderline}"


def _long_task_excess(tasks: list[dict[str, Any]]) -> str:
    if not tasks:
        return "None over 50 ms."
    longest = max(task["duration_ms"] for task in tasks)
    return f"{len(tasks)} over 50 ms; the longest, {_ms(longest)}, by {_ms(longest - 50)}."


def _long_tasks(tasks: list[dict[str, Any]]) -> str:
    if not tasks:
        return "0"
    longest = max(task["duration_ms"] for task in tasks)
    return f"{len(tasks)} (longest {_ms(longest)})"


def _dist(values: dict[str, Any]) -> str:
    return f"{_ms(values['p50'])} / {_ms(values['p95'])} / {_ms(values['max'])}"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:.1f} ms" if abs(value) < 100 else f"{value:.0f} ms"


def _s(value_ms: float | None) -> str:
    return "–" if value_ms is None else f"{value_ms / 1000:.2f} s"


def _mb(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value / 1e6:+.2f} MB" if signed else f"{value / 1e6:.2f} MB"


def _kb(value: float) -> str:
    return f"{value / 1000:.1f} KB"


def _count(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _per(value: float, fmt: Any) -> str:
    if fmt is _mb:
        return f"{value / 1000:+.1f} KB"
    return f"{value:+,.1f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}×"
