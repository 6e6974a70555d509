"""docs/benchmarks.md and its plots, regenerated from one results file.

The results are checked against their schema (bench/records.py) first. The prose is
bench/report_text.py's templates, filled here with figures (bench/report_format.py) and with
verdicts that bench/claims.py computes; the targets and why each is met or missed are
bench/report_targets.py's, the plots bench/report_plots.py's, the stream-cost section
bench/report_stream.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench import claims, records, report_plots, report_stream, report_targets
from bench import report_format as fmt
from bench import report_text as text
from bench.common import ROOT
from bench.records import (
    Backend,
    BackendMedian,
    Memory,
    MemoryChange,
    MemoryKey,
    MemorySample,
    Render,
    RenderRun,
    Results,
    Scaling,
    Startup,
    StartupKey,
    Tree,
)

DOC = ROOT / "docs" / "benchmarks.md"
PLOTS = ROOT / "docs" / "benchmarks"


def write(results: dict[str, Any], results_path: Path) -> None:
    """Writes the plots under docs/benchmarks/ and regenerates docs/benchmarks.md.

    Raises `records.ResultsError` (naming the figure) if `results` do not match the schema.
    """
    checked = records.parse(results, source=_relative(results_path))
    PLOTS.mkdir(parents=True, exist_ok=True)
    plots = {
        "render_cost": _save(
            report_plots.render_cost(checked["render"]), "render-cost-vs-length.png"
        ),
        "render_timeline": _save(
            report_plots.render_timeline(checked["render"]), "render-timeline.png"
        ),
        "render_cdf": _save(
            report_plots.render_distributions(checked["render"]), "render-distributions.png"
        ),
        "startup": _save(report_plots.startup(checked["startup"]), "startup.png"),
        "memory": _save(report_plots.memory(checked["memory"]), "memory.png"),
        "backend": _save(report_plots.backend(checked["backend"]), "backend.png"),
    }
    stream = checked.get("stream")
    if stream:
        plots["stream"] = _save(report_stream.plot(stream), report_stream.PLOT_NAME)
    DOC.write_text(markdown(checked, plots, results_path), encoding="utf-8")


def markdown(results: Results, plots: dict[str, str], results_path: Path) -> str:
    """The whole document, given where its plots are (relative to docs/)."""
    targets = report_targets.targets(results)
    stream = results.get("stream")
    parts = [
        _header(results, results_path),
        report_targets.table(targets),
        _environment(results),
        _startup_section(results["startup"], plots),
        _render_section(results["render"], plots),
        _memory_section(results["memory"], plots),
        _backend_section(results["backend"], plots),
        _scaling_section(results.get("scaling"), results["machine"]["cores"]),
        report_stream.section(
            stream, plots.get("stream"), fmt.busy(records.part_cpu(results, "stream"))
        ),
        report_targets.section(targets),
    ]
    return "\n".join(parts)


def _save(figure: Figure, name: str) -> str:
    figure.savefig(PLOTS / name, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return f"benchmarks/{name}"


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# Sections --------------------------------------------------------------------------------------


def _header(results: Results, results_path: Path) -> str:
    return text.HEADER.substitute(
        command=results["command"],
        started_at=results["started_at"],
        minutes=f"{results['duration_s'] / 60:.1f}",
        results=_relative(results_path),
        cores_word=fmt.word(results["machine"]["cores"]),
    )


def _environment(results: Results) -> str:
    machine, versions = results["machine"], results["versions"]
    wheels = ", ".join(f"{name} {version}" for name, version in versions["browser_wheels"].items())
    load = ", ".join(
        f"{name} {fmt.busy(records.part_cpu(results, name))}"
        for name in records.PARTS
        if name in results
    )
    return text.ENVIRONMENT.substitute(
        cpu_model=machine["cpu_model"],
        cores=machine["cores"],
        ram=f"{machine['ram_bytes'] / 2**30:.1f} GiB",
        os=machine["os"],
        kernel=machine["kernel"],
        wheels=wheels,
        tree=_tree(results.get("tree")),
        load=load,
        **versions,
    )


def _tree(tree: Tree | None) -> str:
    if not tree:
        return "not recorded"
    changes = tree["uncommitted_changes"]
    if not changes:
        return f"commit `{tree['commit']}`, no uncommitted changes to the page or back end"
    listed = ", ".join(f"`{path}`" for path in changes)
    return f"commit `{tree['commit']}` plus uncommitted changes to {listed}"


def _startup_section(startup: Startup, plots: dict[str, str]) -> str:
    cold, warm = startup["cold"]["median"], startup["warm"]["median"]
    rows: list[tuple[str, StartupKey, Callable[[float | None], str]]] = [
        ("ready (`data-app-state=ready`)", "ready_ms", fmt.seconds),
        ("renderer warmed (after ready, when idle)", "renderer_warm_ms", fmt.seconds),
        ("first paint", "first_paint_ms", fmt.seconds),
        ("first contentful paint (the shell)", "first_contentful_paint_ms", fmt.seconds),
        ("DOMContentLoaded", "dom_content_loaded_ms", fmt.seconds),
        ("Pyodide's wasm downloaded", "runtime_downloaded_ms", fmt.seconds),
        ("last download done", "downloads_done_ms", fmt.seconds),
        ("requests", "requests", fmt.count),
        ("… served from cache", "requests_from_cache", fmt.count),
        ("bytes transferred", "bytes", fmt.mb),
    ]
    table = ["| median | cold cache | warm cache |", "|---|---:|---:|"]
    table += [
        f"| {label} | {show(cold.get(key))} | {show(warm.get(key))} |" for label, key, show in rows
    ]
    foreign = sum(
        len(run["foreign_requests"])
        for cache in (startup["cold"], startup["warm"])
        for run in cache["runs"]
    )
    return text.STARTUP.substitute(
        cold_runs=len(startup["cold"]["runs"]),
        warm_runs=len(startup["warm"]["runs"]),
        table="\n".join(table),
        largest=fmt.largest(startup, 4),
        foreign=foreign,
        plot=plots["startup"],
    )


def _render_section(render: Render, plots: dict[str, str]) -> str:
    inc, naive = render["incremental"], render["naive"]
    headline = render["headline"]
    bins = {
        name: f"{low / 1024:g}–{high / 1024:g} KB" for name, (low, high) in render["bins"].items()
    }
    rows: list[tuple[str, Callable[[RenderRun], str]]] = [
        ("tokens (characters each)", lambda m: f"{m['tokens']} ({m['token_chars']})"),
        ("tokens/s as they arrived", lambda m: f"{m['tokens_per_s_arrived']:.0f}"),
        ("question sent → answer done", lambda m: fmt.seconds(m["asked_to_done_s"] * 1000)),
        ("DOM updates", lambda m: str(m["update_ms"]["count"])),
        ("update, p50 / p95 / max", lambda m: fmt.dist(m["update_ms"])),
        (f"**update at ~1 KB** (median, {bins['1kb']})", lambda m: fmt.ms(m["median_at_1kb_ms"])),
        (
            f"**update at ~20 KB** (median, {bins['20kb']})",
            lambda m: fmt.ms(m["median_at_20kb_ms"]),
        ),
        ("first update of the page", lambda m: fmt.ms(m["first_update"]["duration_ms"])),
        ("update start → painted, p50 / p95 / max", lambda m: fmt.dist(m["update_to_paint_ms"])),
        ("token arrival → painted, p50 / p95 / max", lambda m: fmt.dist(m["arrival_to_paint_ms"])),
        ("interval between updates, median", lambda m: fmt.ms(m["update_interval_ms"])),
        (
            f"long tasks > {claims.LONG_TASK_MS:g} ms while streaming",
            lambda m: fmt.long_tasks(m["long_tasks_over_50ms"]),
        ),
    ]
    columns: list[tuple[str, RenderRun]] = [("incremental", inc), ("naive", naive)]
    if "repeat" in inc:
        columns.insert(1, ("incremental, repeat", inc["repeat"]))
    table = ["| | " + " | ".join(name for name, _ in columns) + " |"]
    table.append("|---|" + "---:|" * len(columns))
    for label, cell in rows:
        table.append(f"| {label} | " + " | ".join(cell(m) for _, m in columns) + " |")
    chars_per_s = inc["token_chars"] / inc["pace_s"]
    return text.RENDER.substitute(
        characters=f"{render['answer']['characters']:,}",
        files=" + ".join(f"`{name}`" for name in render["answer"]["files"]),
        cps=f"{chars_per_s:,.0f}",
        tc=inc["token_chars"],
        pace=f"{inc['pace_s'] * 1000:.0f}",
        tps=f"{1 / inc['pace_s']:,.0f}",
        naive_token_chars=naive["token_chars"],
        naive_pace_ms=f"{naive['pace_s'] * 1000:.0f}",
        table="\n".join(table),
        inc_1kb=fmt.ms(headline["incremental_1kb_ms"]),
        inc_20kb=fmt.ms(headline["incremental_20kb_ms"]),
        inc_growth=fmt.times(headline["incremental_20kb_over_1kb"]),
        naive_1kb=fmt.ms(headline["naive_1kb_ms"]),
        naive_20kb=fmt.ms(headline["naive_20kb_ms"]),
        naive_over_20kb=fmt.times(headline["naive_over_incremental_20kb"]),
        naive_over_1kb=fmt.times(headline["naive_over_incremental_1kb"]),
        schedule_s=f"{render['answer']['characters'] / chars_per_s:.0f}",
        plot_cost=plots["render_cost"],
        plot_timeline=plots["render_timeline"],
        plot_distributions=plots["render_cdf"],
    )


def _memory_section(memory: Memory, plots: dict[str, str]) -> str:
    first, warm, last, idle = (
        memory["after_1"],
        memory["after_warm_and_idle"],
        memory["after_last"],
        memory["after_last_and_idle"],
    )
    n, w, idle_s = memory["answers"], memory["warm_answers"], memory["idle_s"]
    rows: list[tuple[str, MemoryKey, Callable[[float | None], str]]] = [
        ("JS heap used (`performance.memory`)", "js_heap_used_bytes", fmt.mb),
        ("Blink heap (DOM objects)", "embedder_heap_used_bytes", fmt.mb),
        ("Pyodide: WebAssembly memory", "wasm_memory_bytes", fmt.mb),
        ("Pyodide: malloc in use (Python)", "malloc_in_use_bytes", fmt.mb),
        ("Python objects tracked by gc", "python_gc_objects", fmt.count),
        ("DOM nodes", "dom_nodes", fmt.count),
        ("JS event listeners", "js_event_listeners", fmt.count),
        ("answer text on the page (chars)", "answer_chars_on_page", fmt.count),
    ]
    steady = memory["kept_per_answer_steady"]
    table = [
        f"| after GC | 1 answer | {w} answers + {idle_s:.0f} s idle | {n} answers "
        f"| {n} answers + {idle_s:.0f} s idle | kept per answer, {w}→{n} (idle to idle) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key, show in rows:
        per_answer = _change(steady, key)
        per = "" if per_answer is None else fmt.per_answer(per_answer, show)
        table.append(
            f"| {label} | {show(_sample(first, key))} | {show(_sample(warm, key))} "
            f"| {show(_sample(last, key))} | {show(_sample(idle, key))} | {per} |"
        )
    types = ", ".join(
        f"`{name}` {count:+d}" for name, count in memory["python_types_kept_steady"].items()
    )
    held = memory["pending_after_last"]
    pending = (
        f"{fmt.mb(held['v8_heap_used_bytes'], signed=True)} of V8 heap, "
        f"{fmt.mb(held['malloc_in_use_bytes'], signed=True)} of Python heap, "
        f"{held['python_gc_objects']:+,.0f} Python objects"
    )
    return text.MEMORY.substitute(
        answers=n,
        questions=fmt.word(w),
        idle_s=f"{idle_s:.0f}",
        warm=w,
        table="\n".join(table),
        types=types or "none",
        pending=pending,
        plot=plots["memory"],
    )


def _sample(sample: MemorySample, key: MemoryKey) -> float:
    return sample[key]


def _change(change: MemoryChange, key: MemoryKey) -> float | None:
    # A change has no listener count: the page's listeners do not grow with answers.
    return None if key == "js_event_listeners" else change[key]


def _backend_section(backend: Backend, plots: dict[str, str]) -> str:
    rows: list[tuple[str, Callable[[BackendMedian], str]]] = [
        ("streams completed (all rounds)", lambda m: f"{m['completed']}/{m['streams']}"),
        (
            "time to first byte, p50 / p99",
            lambda m: f"{fmt.ms(m['first_byte_p50_ms'])} / {fmt.ms(m['first_byte_p99_ms'])}",
        ),
        ("time to first token, p50", lambda m: fmt.ms(m["first_token_p50_ms"])),
        (
            f"**probes**: gap − {_pace_ms(backend)} ms, p50 / p99",
            lambda m: (
                f"{fmt.ms(m['probe_lateness_p50_ms'])} / **{fmt.ms(m['probe_lateness_p99_ms'])}**"
            ),
        ),
        ("probes: p99 after ramp-up", lambda m: fmt.ms(m["probe_lateness_after_ramp_up_p99_ms"])),
        (
            f"all streams: gap − {_pace_ms(backend)} ms, p50 / p95 / p99",
            lambda m: (
                f"{fmt.ms(m['lateness_p50_ms'])} / {fmt.ms(m['lateness_p95_ms'])} / "
                f"{fmt.ms(m['lateness_p99_ms'])}"
            ),
        ),
        ("all streams: p99 after ramp-up", lambda m: fmt.ms(m["lateness_after_ramp_up_p99_ms"])),
        ("all streams: max", lambda m: fmt.ms(m["lateness_max_ms"])),
        (
            "event-loop lag p99: load client / probes",
            lambda m: (
                f"{fmt.ms(m['client_loop_lag_p99_ms'])} / {fmt.ms(m['probe_loop_lag_p99_ms'])}"
            ),
        ),
        ("back-end CPU (cores)", lambda m: f"{m['server_cpu_cores']:.2f}"),
        ("back-end RSS, peak", lambda m: fmt.mb(m["server_rss_peak_bytes"])),
        ("load client CPU (s per round)", lambda m: f"{m['client_cpu_s']:.2f}"),
        ("round wall time", lambda m: fmt.seconds(m["wall_s"] * 1000)),
    ]
    levels = list(backend["levels"])
    header = "| median of rounds | " + " | ".join(map(report_plots.streams_label, levels)) + " |"
    table = [header, "|---|" + "---:|" * len(levels)]
    for label, cell in rows:
        cells = " | ".join(cell(backend["levels"][level]["median"]) for level in levels)
        table.append(f"| {label} | {cells} |")
    return text.BACKEND.substitute(
        pace_s=backend["pace_s"],
        pace_ms=_pace_ms(backend),
        probes=backend["probes"],
        client_loop=_client_loop(backend),
        rounds=backend["rounds"],
        table="\n".join(table),
        plot=plots["backend"],
    )


def _client_loop(backend: Backend) -> str:
    top_level = records.top_level(backend)
    top = backend["levels"][top_level]["median"]
    late = claims.loop_late(top["client_loop_lag_p99_ms"], top["probe_loop_lag_p99_ms"])
    return (text.CLIENT_LOOP_LATE if late else text.CLIENT_LOOP_PROMPT).substitute(top=top_level)


def _pace_ms(backend: Backend) -> str:
    return f"{backend['pace_s'] * 1000:.0f}"


# Scale-out ------------------------------------------------------------------------------------

SCALING_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("incomplete streams", "incomplete streams", str),
    ("extra gap p50", "extra gap p50, ms", lambda v: fmt.ms(v)),
    ("**extra gap p99**", "extra gap p99, ms", lambda v: f"**{fmt.ms(v)}**"),
    ("extra gap max", "extra gap max, ms", lambda v: fmt.ms(v)),
    (
        "server CPU per 1000 tokens (all instances)",
        "server CPU per 1000 tokens, ms",
        lambda v: fmt.ms(v),
    ),
    ("server RSS per stream (peak growth)", "server RSS per stream, KiB", lambda v: fmt.kib(v)),
    ("Redis memory per active answer", "Redis memory per active answer, KiB", lambda v: fmt.kib(v)),
    (
        "Redis memory per kept answer (60 s)",
        "Redis memory per kept answer, KiB",
        lambda v: fmt.kib(v),
    ),
    ("… of which the stream (`MEMORY USAGE`)", "… of which the stream, KiB", lambda v: fmt.kib(v)),
    (
        "Redis clients' memory at peak",
        "Redis clients' memory at peak, MiB",
        lambda v: f"{v:.1f} MiB",
    ),
    ("Redis CPU per 1000 tokens", "Redis CPU per 1000 tokens, ms", lambda v: fmt.ms(v)),
    ("Redis EVALSHA calls per token", "Redis EVALSHA calls per token", lambda v: f"{v:.2f}"),
    ("Redis XREAD calls per token", "Redis XREAD calls per token", lambda v: f"{v:.2f}"),
    ("load client CPU", "client CPU, s", lambda v: f"{v:.1f} s"),
    ("wall time", "wall time, s", lambda v: f"{v:.1f} s"),
    ("load average (1 min) after", "load average (1 min) after", lambda v: f"{v:.2f}"),
)


def _scaling_section(scaling: Scaling | None, cores: int) -> str:
    if not scaling:
        return text.SCALING_NOT_MEASURED
    setups = scaling["setups"]
    names = list(setups)
    table = ["| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label, key, show in SCALING_ROWS:
        cells = []
        for name in names:
            value = setups[name].get(key)
            cells.append("–" if value is None else show(value))
        table.append(f"| {label} | " + " | ".join(cells) + " |")
    endings = "".join(
        f"\n- {name}: " + "; ".join(f"{count} × {ending}" for ending, count in counts.items())
        for name, counts in scaling["incomplete"].items()
        if counts
    )
    if endings:
        endings = "\nIncomplete streams ended by:\n" + endings + "\n"
    rounds = scaling["rounds"]
    return text.SCALING.substitute(
        streams=scaling["streams"],
        tokens=scaling["tokens"],
        pace_ms=f"{scaling['pace_s'] * 1000:.0f}",
        rate=f"{scaling['streams'] / scaling['pace_s']:,.0f}",
        cores_word=fmt.word(cores),
        memory_setup=records.MEMORY_SETUP,
        redis_setup=records.REDIS_SETUP,
        flush_gaps=_flush_gaps(scaling),
        rounds_text="1 round" if rounds == 1 else f"{rounds} rounds (median)",
        busy=fmt.busy(scaling.get("cpu")),
        table="\n".join(table),
        endings=endings,
    )


def _flush_gaps(scaling: Scaling) -> str:
    figures = scaling["setups"].get(records.FLUSH_SETUP, {})
    p50, p99 = (
        fmt.number(figures.get("extra gap p50, ms")),
        fmt.number(figures.get("extra gap p99, ms")),
    )
    if p50 is None or p99 is None:
        return ""
    pace_ms = scaling["pace_s"] * 1000
    # Tokens flushed together arrive together: their gap is 0, the extra gap −pace.
    batched = claims.near(p50, -pace_ms, within=claims.BORDERLINE * 2 * pace_ms)
    template = text.FLUSH_GAPS_BATCHED if batched else text.FLUSH_GAPS
    return template.substitute(p50=fmt.ms(p50), p99=fmt.ms(p99), pace_ms=f"{pace_ms:.0f}")
