"""The targets of docs/benchmarks.md: each one's verdict, from bench/claims.py, and why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import claims, records, report_plots
from bench import report_format as fmt
from bench import report_text as text
from bench.common import ROOT
from bench.records import Backend, LongTask, Memory, Render, RenderRun, Results, Scaling, Startup

CORPUS = ROOT / "tests" / "unit" / "corpus"


@dataclass(frozen=True)
class Target:
    """One target of the summary: its name, what was measured, the verdict and why."""

    name: str
    measured: str
    met: bool
    by: str
    why: Callable[[], str]
    #: Instead of "met" or "missed", when the measurement is not quite the target's.
    qualified: str | None = None

    @property
    def verdict(self) -> str:
        return self.qualified or ("met" if self.met else "missed")


def targets(results: Results) -> list[Target]:
    """Every target of issues 8 and 10 that `results` measured, judged."""
    render, startup = results["render"], results["startup"]
    memory, backend = results["memory"], results["backend"]
    cores = results["machine"]["cores"]
    headline = render["headline"]
    growth = headline["incremental_20kb_over_1kb"]
    naive_ratio = headline["naive_over_incremental_20kb"]
    runs = _incremental_runs(render)
    long_tasks = [task for _, run in runs for task in run["long_tasks_over_50ms"]]
    measured_long = "; ".join(
        f"{label}: {fmt.long_tasks(run['long_tasks_over_50ms'])}" for label, run in runs
    )
    cold = startup["cold"]["median"]["ready_ms"] / 1000
    warm = startup["warm"]["median"]["ready_ms"] / 1000
    steady = memory["kept_per_answer_steady"]
    kept = steady["v8_heap_used_bytes"] + steady["malloc_in_use_bytes"]
    wasm_growth = memory["growth_1_to_last"]["wasm_memory_bytes"]
    top_level = records.top_level(backend)
    top = backend["levels"][top_level]["median"]
    lateness = top["probe_lateness_p99_ms"]
    return [
        Target(
            text.GROWTH_NAME.substitute(ratio=f"{claims.GROWTH_RATIO:g}"),
            f"{fmt.times(growth)} ({fmt.ms(headline['incremental_20kb_ms'])} vs "
            f"{fmt.ms(headline['incremental_1kb_ms'])})",
            claims.met(growth, claims.GROWTH_RATIO, lower_is_better=True, strict=False),
            _by(growth, claims.GROWTH_RATIO, "×", lower_is_better=True),
            lambda: _why_growth(render),
        ),
        Target(
            text.NAIVE_NAME.substitute(ratio=f"{claims.NAIVE_RATIO:g}"),
            f"{fmt.times(naive_ratio)} ({fmt.ms(headline['naive_20kb_ms'])} vs "
            f"{fmt.ms(headline['incremental_20kb_ms'])})",
            claims.met(naive_ratio, claims.NAIVE_RATIO, lower_is_better=False, strict=False),
            _by(naive_ratio, claims.NAIVE_RATIO, "×", lower_is_better=False),
            lambda: _why_naive(render),
        ),
        Target(
            text.LONG_TASKS_NAME.substitute(ms=f"{claims.LONG_TASK_MS:.0f}"),
            measured_long,
            not long_tasks,
            _long_task_excess(long_tasks),
            lambda: _why_long_tasks(render, cores),
        ),
        Target(
            text.COLD_NAME.substitute(seconds=f"{claims.COLD_READY_S:g}"),
            f"{cold:.2f} s",
            claims.met(cold, claims.COLD_READY_S, lower_is_better=True, strict=True),
            _by(cold, claims.COLD_READY_S, " s", lower_is_better=True, difference=True),
            lambda: _why_cold(results),
        ),
        Target(
            text.WARM_NAME.substitute(seconds=f"{claims.WARM_READY_S:g}"),
            f"{warm:.2f} s",
            claims.met(warm, claims.WARM_READY_S, lower_is_better=True, strict=True),
            _by(warm, claims.WARM_READY_S, " s", lower_is_better=True, difference=True),
            lambda: _why_warm(results),
        ),
        Target(
            text.MEMORY_NAME.substitute(answers=memory["answers"]),
            f"{fmt.kb(kept)} per answer kept (V8 + Python), WebAssembly memory "
            f"{fmt.mb(wasm_growth, signed=True)}",
            claims.memory_flat(kept) and wasm_growth == 0,
            _by(
                kept / 1000,
                claims.FLAT_BYTES_PER_ANSWER / 1000,
                " KB",
                lower_is_better=True,
                difference=True,
            ),
            lambda: _why_memory(memory),
        ),
        Target(
            text.BACKEND_NAME.substitute(streams=top_level, ms=f"{claims.LATENESS_MS:.0f}"),
            f"{fmt.ms(lateness)} at the probes (after ramp-up "
            f"{fmt.ms(top['probe_lateness_after_ramp_up_p99_ms'])}; all streams "
            f"{fmt.ms(top['lateness_p99_ms'])})",
            claims.met(lateness, claims.LATENESS_MS, lower_is_better=True, strict=True),
            _by(lateness, claims.LATENESS_MS, " ms", lower_is_better=True, difference=True),
            lambda: _why_backend(backend, cores),
        ),
        *_scaling_targets(results),
    ]


def _scaling_targets(results: Results) -> list[Target]:
    scaling = results.get("scaling")
    if not scaling:
        return []
    setups = scaling["setups"]
    redis_p99 = fmt.number(setups[records.REDIS_SETUP]["extra gap p99, ms"])
    others = "; ".join(
        f"{name} {fmt.ms(fmt.number(figures['extra gap p99, ms']))}"
        for name, figures in setups.items()
        if name != records.REDIS_SETUP
    )
    met = claims.met(redis_p99, claims.LATENESS_MS, lower_is_better=True, strict=True)
    streams = scaling["streams"]
    target = f"{claims.SCALE_OUT_STREAMS:,}"
    active = fmt.number(setups[records.REDIS_SETUP]["Redis memory per active answer, KiB"])
    return [
        Target(
            text.SCALING_NAME.substitute(target=target, ms=f"{claims.LATENESS_MS:.0f}"),
            f"{streams} streams measured (not {target}: {results['machine']['cores']} cores, "
            f"see [Targets](#targets)): p99 extra gap {fmt.ms(redis_p99)} ({others}); Redis "
            f"{'–' if active is None else fmt.kib(active)} per active answer",
            met,
            _by(redis_p99, claims.LATENESS_MS, " ms", lower_is_better=True, difference=True),
            lambda: _why_scaling(results, scaling),
            qualified=text.SCALING_VERDICT.substitute(
                verdict="met" if met else "missed", streams=streams, target=target
            ),
        )
    ]


def table(targets: Sequence[Target]) -> str:
    """The summary: a row per target, and where to read why a missed one was missed."""
    rows = ["| target | measured | verdict |", "|---|---|---|"]
    rows += [f"| {target.name} | {target.measured} | **{target.verdict}** |" for target in targets]
    missed = any(not target.met for target in targets)
    return text.SUMMARY.substitute(
        table="\n".join(rows), missed_note=text.MISSED_NOTE if missed else ""
    )


def section(targets: Sequence[Target]) -> str:
    """The Targets section: per target, its verdict, by how much and why."""
    parts = [text.TARGETS_HEADING]
    for target in targets:
        parts.append(text.TARGET.substitute(name=target.name, verdict=target.verdict))
        parts.append(text.TARGET_MEASURED.substitute(measured=target.measured, by=target.by))
        why = target.why()
        if why:
            parts.append(why + "\n")
    return "\n".join(parts)


# Why each target is met or missed --------------------------------------------------------------


def _why_growth(render: Render) -> str:
    series = render["incremental"]["series"]
    centres, medians = report_plots.binned_median(
        series["length"], series["update_ms"], report_plots.BIN_CHARS
    )
    low, high = _headline_range(render)
    bumps = claims.bumps(centres, medians, low, high)
    where = fmt.kb_list(bumps)
    blocks = claims.blocks(_answer_text(render))
    half_bin = report_plots.BIN_CHARS / 2 / 1024
    if not bumps:
        bump_text = ""
    elif blocks and all(
        claims.in_block(blocks, int((kb - half_bin) * 1024), int((kb + half_bin) * 1024))
        for kb in bumps
    ):
        bump_text = text.BUMPS_IN_BLOCKS.substitute(where=where)
    else:
        bump_text = text.BUMPS.substitute(where=where)
    trend = claims.trend(centres, medians, low, high)
    design = text.GROWTH_AS_DESIGNED if trend == "flat" else text.GROWTH_NOT_AS_DESIGNED
    return text.WHY_GROWTH.substitute(
        design,
        trend=text.TRENDS[trend],
        low=f"{low:g}",
        high=f"{high:g}",
        bumps=bump_text,
    )


def _headline_range(render: Render) -> tuple[float, float]:
    """From the first headline bin's middle to the last one's end (KB): 1 to 20."""
    bins = list(render["bins"].values())
    low, high = min(bins, key=lambda b: b[0]), max(bins, key=lambda b: b[1])
    return (low[0] + low[1]) / 2 / 1024, high[1] / 1024


def _answer_text(render: Render) -> str:
    """The streamed answer, as bench/render.py builds it, if its files are still here."""
    paths = [CORPUS / name for name in render["answer"]["files"]]
    if not all(path.exists() for path in paths):
        return ""
    return "\n\n".join(path.read_text(encoding="utf-8") for path in paths)


def _why_naive(render: Render) -> str:
    series = render["naive"]["series"]
    centres, medians = report_plots.binned_median(
        series["length"], series["update_ms"], report_plots.BIN_CHARS
    )
    low, high = _headline_range(render)
    headline = render["headline"]
    return text.WHY_NAIVE.substitute(
        grows=text.NAIVE_GROWS[claims.trend(centres, medians, low, high)],
        naive_1kb=fmt.ms(headline["naive_1kb_ms"]),
        naive_20kb=fmt.ms(headline["naive_20kb_ms"]),
    )


def _why_long_tasks(render: Render, cores: int) -> str:
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
                text.FIRST_UPDATE_LONG.substitute(
                    label=label,
                    duration=fmt.ms(first[0]["duration_ms"]),
                    inside=fmt.ms(first[0]["update_ms_inside"]),
                )
            )
        if rest:
            others = (render.get("cpu") or {"others_cores": 0.0})["others_cores"]
            lines.append(f"- {label}: {_other_long_tasks(rest, bool(first), others, cores)}")
    return "\n".join(lines)


def _incremental_runs(render: Render) -> list[tuple[str, RenderRun]]:
    runs: list[tuple[str, RenderRun]] = [("first run", render["incremental"])]
    if "repeat" in render["incremental"]:
        runs.append(("repeat", render["incremental"]["repeat"]))
    return runs


def _other_long_tasks(tasks: list[LongTask], more: bool, others: float, cores: int) -> str:
    invokers: dict[str, int] = {}
    for task in tasks:
        script = task["longest_script"]
        name = script["type"] or "no script attribution"
        if script["invoker"]:
            name = f"{name} ({str(script['invoker'])[:60]})"
        invokers[name] = invokers.get(name, 0) + 1
    cause = (
        text.CONTENDED.substitute(others=f"{others:.2f}", cores=cores)
        if claims.contended(others)
        else text.QUIET
    )
    return text.OTHER_LONG_TASKS.substitute(
        tasks=_tasks(len(tasks), more),
        total=fmt.ms(sum(t["duration_ms"] for t in tasks)),
        inside=fmt.ms(sum(t["update_ms_inside"] for t in tasks)),
        cause=cause,
        named="; ".join(f"{name}: {count}" for name, count in sorted(invokers.items())),
    )


def _tasks(count: int, more: bool) -> str:
    noun = "long task" if count == 1 else "long tasks"
    return f"{count} {'more ' if more else ''}{noun}"


def _why_cold(results: Results) -> str:
    startup = results["startup"]["cold"]["median"]
    ready, wasm = startup["ready_ms"], startup["runtime_downloaded_ms"]
    after_wasm_s = (ready - wasm) / 1000
    share = f"{after_wasm_s / claims.COLD_READY_S:.0%}"
    if after_wasm_s >= claims.COLD_READY_S:
        budget = text.COLD_BUDGET_EXCEEDED.substitute(target=f"{claims.COLD_READY_S:g}")
    elif claims.met(ready / 1000, claims.COLD_READY_S, lower_is_better=True, strict=True):
        budget = text.COLD_BUDGET_MET.substitute(share=share, target=f"{claims.COLD_READY_S:g}")
    else:
        budget = text.COLD_BUDGET_MISSED.substitute(share=share, target=f"{claims.COLD_READY_S:g}")
    return text.WHY_COLD.substitute(
        fcp=fmt.seconds(startup["first_contentful_paint_ms"]),
        bytes=fmt.mb(startup["bytes"]),
        biggest=fmt.largest(results["startup"], 2),
        wasm=fmt.seconds(wasm),
        downloads_done=fmt.seconds(startup["downloads_done_ms"]),
        ready=fmt.seconds(ready),
        transfer=text.TRANSFER_COSTLY
        if claims.transfer_dominates(wasm, ready)
        else text.TRANSFER_CHEAP,
        after_wasm=fmt.seconds(ready - wasm),
        wheels=fmt.word(len(results["versions"]["browser_wheels"])),
        budget=budget,
        busy=_busy_sentence(results["startup"], results["machine"]["cores"]),
    )


def _why_warm(results: Results) -> str:
    startup = results["startup"]["warm"]["median"]
    ready, wasm = startup["ready_ms"], startup["runtime_downloaded_ms"]
    cold = results["startup"]["cold"]["median"]
    cold_work = cold["ready_ms"] - cold["runtime_downloaded_ms"]
    saves = (
        text.WARM_SAVES_TRANSFER
        if claims.same_work(ready - wasm, cold_work)
        else text.WARM_SAVES_WORK.substitute(
            warm=fmt.seconds(ready - wasm), cold=fmt.seconds(cold_work)
        )
    )
    return text.WHY_WARM.substitute(
        saves=saves,
        bytes=fmt.mb(startup["bytes"]),
        from_cache=f"{startup['requests_from_cache']:.0f}",
        requests=f"{startup['requests']:.0f}",
        wasm=fmt.seconds(wasm),
        after_wasm=fmt.seconds(ready - wasm),
        busy=_busy_sentence(results["startup"], results["machine"]["cores"]),
    )


def _busy_sentence(part: Startup | Backend, cores: int) -> str:
    cpu = part.get("cpu")
    if cpu is None:
        return ""
    return text.BUSY.substitute(others=f"{cpu['others_cores']:.2f}", cores=cores)


def _why_memory(memory: Memory) -> str:
    steady, held = memory["kept_per_answer_steady"], memory["pending_after_last"]
    steady_answers = memory["answers"] - memory["warm_answers"]
    kinds = list(memory["python_types_kept_steady"].items())[:6]
    kept = steady["v8_heap_used_bytes"] + steady["malloc_in_use_bytes"]
    held_bytes = held["v8_heap_used_bytes"] + held["malloc_in_use_bytes"]
    held_text = (text.HELD if held_bytes > 0 else text.NOTHING_HELD).substitute(
        last=fmt.ordinal(memory["answers"]),
        held=fmt.mb(held_bytes),
        held_objects=f"{held['python_gc_objects']:,.0f}",
    )
    return text.WHY_MEMORY.substitute(
        flat=fmt.kb(claims.FLAT_BYTES_PER_ANSWER),
        answer_text=f"{steady['answer_chars_on_page'] / 1000:.2f} KB",
        warm=memory["warm_answers"],
        answers=memory["answers"],
        v8=fmt.kb(steady["v8_heap_used_bytes"]),
        malloc=fmt.kb(steady["malloc_in_use_bytes"]),
        chars=f"{steady['answer_chars_on_page']:.0f}",
        top=", ".join(f"`{name}` {count / steady_answers:+.1f}" for name, count in kinds),
        verdict=text.MEMORY_FLAT if claims.memory_flat(kept) else text.MEMORY_GROWS,
        dom_nodes=f"{steady['dom_nodes']:.0f}",
        blink=fmt.kb(steady["embedder_heap_used_bytes"]),
        held_text=held_text,
    )


def _why_backend(backend: Backend, cores: int) -> str:
    levels = backend["levels"]
    top_level = records.top_level(backend)
    top = levels[top_level]["median"]
    single = levels[min(levels, key=int)]["median"]
    overall, steady = top["probe_lateness_p99_ms"], top["probe_lateness_after_ramp_up_p99_ms"]
    if claims.lateness_is_ramp_up(overall, steady):
        lateness = text.LATENESS_RAMP_UP.substitute(
            overall=fmt.ms(overall),
            steady=fmt.ms(steady),
            top=top_level,
            first_byte=fmt.ms(top["first_byte_p50_ms"]),
        )
    else:
        cause = (
            text.BACK_END_BUSY
            if claims.busy_back_end(top["server_cpu_cores"])
            else text.BACK_END_IDLE.substitute(cores_word=fmt.word(cores))
        )
        lateness = text.LATENESS_THROUGHOUT.substitute(
            overall=fmt.ms(overall),
            steady=fmt.ms(steady),
            cause=cause,
            probe_lag=fmt.ms(top["probe_loop_lag_p99_ms"]),
        )
    return text.WHY_BACKEND.substitute(
        top=top_level,
        server_cores=f"{top['server_cpu_cores']:.2f}",
        client_cores=f"{top['client_cpu_s'] / top['wall_s']:.2f}",
        single=fmt.ms(single["probe_lateness_p99_ms"]),
        lateness=lateness,
        busy=_busy_sentence(backend, cores).strip(),
    )


def _why_scaling(results: Results, scaling: Scaling) -> str:
    setups = scaling["setups"]
    redis_cpu = fmt.number(setups[records.REDIS_SETUP]["server CPU per 1000 tokens, ms"]) or 0.0
    memory_cpu = fmt.number(setups[records.MEMORY_SETUP]["server CPU per 1000 tokens, ms"])
    per_stream_tokens = 1 / scaling["pace_s"]
    needed = claims.SCALE_OUT_STREAMS * per_stream_tokens * redis_cpu / 1e6
    measured = scaling["streams"] * per_stream_tokens * redis_cpu / 1e6
    cores = results["machine"]["cores"]
    return text.WHY_SCALING.substitute(
        streams=scaling["streams"],
        target=f"{claims.SCALE_OUT_STREAMS:,}",
        pace_ms=f"{scaling['pace_s'] * 1000:.0f}",
        per_stream=f"{per_stream_tokens:.0f}",
        redis_cpu=fmt.ms(redis_cpu),
        memory_cpu=fmt.ms(memory_cpu),
        measured=f"{measured:.1f}",
        cores=cores,
        needed=f"{needed:.1f}",
        verdict=text.SCALING_BEYOND if needed > cores else text.SCALING_WITHIN,
        ms=f"{claims.LATENESS_MS:.0f}",
    )


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
    met = claims.met(value, target, lower_is_better=lower_is_better, strict=False)
    borderline = (
        f" Borderline: within {claims.BORDERLINE:.0%} of the target, so a run on this shared "
        "machine can land on either side of it."
        if claims.borderline(value, target)
        else ""
    )
    if difference:
        gap = abs(value - target)
        return f"{'Within' if met else 'Over'} the target by {gap:.2f}{unit}.{borderline}"
    factor = target / value if lower_is_better else value / target
    if met:
        return f"{factor:.1f}× better than the target.{borderline}"
    return f"Misses the target by a factor of {1 / factor:.1f}.{borderline}"


def _long_task_excess(tasks: list[LongTask]) -> str:
    if not tasks:
        return f"None over {claims.LONG_TASK_MS:g} ms."
    longest = max(task["duration_ms"] for task in tasks)
    limit = claims.LONG_TASK_MS
    return (
        f"{len(tasks)} over {limit:g} ms; the longest, {fmt.ms(longest)}, "
        f"by {fmt.ms(longest - limit)}."
    )
