"""The plots of docs/benchmarks.md (matplotlib, Agg), one function per figure."""

from __future__ import annotations

from typing import Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench import claims
from bench.common import median
from bench.records import Backend, Memory, MemoryKey, Render, Startup, StartupKey

COLOURS = {"incremental": "#1f77b4", "naive": "#d62728"}
LONG_TASK_MS = claims.LONG_TASK_MS
#: The width of the bins of answer length whose medians the plot draws (and claims judge).
BIN_CHARS = 512
Mode = Literal["incremental", "naive"]
SeriesKey = Literal["update_ms", "arrival_to_paint_ms"]
Cache = Literal["cold", "warm"]
BackendKey = Literal[
    "probe_lateness_p50_ms",
    "probe_lateness_p99_ms",
    "lateness_p99_ms",
    "first_byte_p50_ms",
    "first_token_p50_ms",
]


def render_cost(render: Render) -> Figure:
    figure, axes = plt.subplots(figsize=(9, 5))
    for mode in ("naive", "incremental"):
        series = render[mode]["series"]
        kb = [length / 1024 for length in series["length"]]
        axes.scatter(kb, series["update_ms"], s=4, alpha=0.35, color=COLOURS[mode], lw=0)
        centres, medians = binned_median(series["length"], series["update_ms"], BIN_CHARS)
        label = f"{mode}: median per 0.5 KB ({render[mode]['token_chars']}-char tokens)"
        axes.plot(centres, medians, color=COLOURS[mode], lw=2, label=label)
    for low, high in render["bins"].values():
        axes.axvspan(low / 1024, high / 1024, color="#999999", alpha=0.15, lw=0)
    axes.axhline(
        LONG_TASK_MS, color="black", ls="--", lw=1, label=f"{LONG_TASK_MS:g} ms: a long task"
    )
    axes.axhline(1000 / 60, color="grey", ls=":", lw=1, label="16.7 ms: one frame at 60 Hz")
    axes.set_yscale("log")
    axes.set_xlabel("answer length when the update started (KB of markdown, 1 KB = 1024 chars)")
    axes.set_ylabel("main-thread time of one DOM update (ms, log)")
    axes.set_title("Cost of one answer update against answer length (shaded: headline bins)")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    return figure


def render_timeline(render: Render) -> Figure:
    figure, panels = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    modes: tuple[Mode, Mode] = ("incremental", "naive")
    for axes, mode in zip(panels, modes, strict=True):
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
            f"{mode}: updates over time; orange spans: long tasks over {LONG_TASK_MS:g} ms",
            fontsize=10,
        )
        axes.grid(True, which="both", alpha=0.3)
    panels[1].set_xlabel("seconds since the question was sent")
    figure.tight_layout()
    return figure


def render_distributions(render: Render) -> Figure:
    figure, panels = plt.subplots(1, 2, figsize=(10, 4))
    keys: tuple[SeriesKey, SeriesKey] = ("update_ms", "arrival_to_paint_ms")
    for mode in ("incremental", "naive"):
        series = render[mode]["series"]
        for axes, key in zip(panels, keys, strict=True):
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


def startup(startup: Startup) -> Figure:
    figure, axes = plt.subplots(figsize=(8, 4))
    metrics: list[tuple[StartupKey, str]] = [
        ("first_contentful_paint_ms", "first contentful paint"),
        ("downloads_done_ms", "downloads done"),
        ("ready_ms", "ready"),
    ]
    caches: tuple[Cache, Cache] = ("cold", "warm")
    for row, cache in enumerate(caches):
        runs = startup[cache]["runs"]
        for column, (key, _label) in enumerate(metrics):
            values = [value / 1000 for run in runs if (value := run[key]) is not None]
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
    for cache, target, style in (
        ("cold", claims.COLD_READY_S, "--"),
        ("warm", claims.WARM_READY_S, ":"),
    ):
        axes.axvline(target, color="C2", ls=style, lw=1, label=f"target {cache} {target:g} s")
    axes.invert_yaxis()
    axes.set_xlabel("seconds since navigation (bars: median; ticks: each run)")
    axes.set_title("Start-up")
    axes.legend(fontsize=8, loc="upper right")
    axes.grid(True, axis="x", alpha=0.3)
    return figure


def memory(memory: Memory) -> Figure:
    figure, axes = plt.subplots(figsize=(9, 5))
    samples = memory["samples"]
    answers = [sample["answers"] for sample in samples]
    lines: list[tuple[MemoryKey, str]] = [
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


def backend(backend: Backend) -> Figure:
    figure, panels = plt.subplots(1, 2, figsize=(10, 4))
    levels = list(backend["levels"])
    stats: list[tuple[BackendKey, str]] = [
        ("probe_lateness_p50_ms", "probes, p50"),
        ("probe_lateness_p99_ms", "probes, p99"),
        ("lateness_p99_ms", "all streams, p99"),
    ]
    width = 0.27
    for offset, (key, label) in enumerate(stats):
        values = [backend["levels"][level]["median"][key] for level in levels]
        xs = [n + (offset - 1) * width for n in range(len(levels))]
        panels[0].bar(xs, values, width, label=f"gap − {backend['pace_s'] * 1000:.0f} ms, {label}")
        for x, value in zip(xs, values, strict=True):
            panels[0].text(x, value, f"{value:.0f}", ha="center", va="bottom", fontsize=8)
    panels[0].axhline(
        claims.LATENESS_MS,
        color="black",
        ls="--",
        lw=1,
        label=f"target: p99 < {claims.LATENESS_MS:g} ms",
    )
    panels[0].set_xticks(range(len(levels)), [streams_label(level) for level in levels])
    panels[0].set_ylabel("ms beyond the paced schedule")
    panels[0].set_title("Inter-token lateness (median of rounds)", fontsize=10)
    panels[0].legend(fontsize=8)
    xs = [int(level) for level in levels]
    firsts: list[tuple[BackendKey, Literal["first_byte_ms", "first_token_ms"], str, str]] = [
        ("first_byte_p50_ms", "first_byte_ms", "time to first byte, p50", "C0"),
        ("first_token_p50_ms", "first_token_ms", "time to first token, p50", "C1"),
    ]
    for key, group, label, colour in firsts:
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


def binned_median(
    lengths: list[int], values: list[float], width: int
) -> tuple[list[float], list[float]]:
    """Per `width`-character bin of answer length: its centre (KB) and the values' median."""
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


def streams_label(level: str) -> str:
    return f"{level} stream" if level == "1" else f"{level} streams"
