"""The start-up comparison: runs of bench/startup.py merged, a timeline plot and a table.

    python -m bench.startup_report OUT.json LABEL=RUN.json[,RUN.json…] …

merges the runs of each variant (e.g. the tree before a change and after it, measured in
turns on the same machine; each file checked against `records.StartupFile`) into OUT.json,
draws docs/benchmarks/startup-timeline.png and prints the table for docs/startup.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

from bench import records
from bench.common import ROOT, median
from bench.startup import ANCHOR_KEYS, PAGE_KEYS, timeline

PLOT = ROOT / "docs" / "benchmarks" / "startup-timeline.png"
CACHES = ("cold", "warm")


def merge(paths: list[Path]) -> dict[str, Any]:
    """One variant's runs from several files, with medians over all of them.

    Raises `records.ResultsError` naming the file and figure if a file is not a start-up run.
    """
    merged: dict[str, Any] = {"files": [path.name for path in paths]}
    loaded = [records.load_as(path, records.StartupFile) for path in paths]
    merged["wasm_code_cache_bytes"] = [result.get("wasm_code_cache_bytes") for result in loaded]
    for cache in CACHES:
        for kind, keys in ((cache, PAGE_KEYS), (f"anchor_{cache}", ANCHOR_KEYS)):
            runs = [run for result in loaded for run in _visits(result, kind)]
            medians = {
                key: median([value for run in runs if (value := _figure(run, key)) is not None])
                for key in keys
            }
            merged[kind] = {"runs": runs, "median": medians}
        page, bare = merged[cache]["median"]["ready_ms"], merged[f"anchor_{cache}"]["median"]
        if page and bare["ready_ms"]:
            merged[cache]["median"]["ready_vs_bare_load_pyodide"] = page / bare["ready_ms"]
    return merged


def _visits(result: records.StartupFile, kind: str) -> list[records.Visit]:
    visits = cast("records.Visits | None", cast("dict[str, Any]", result).get(kind))
    return visits["runs"] if visits else []


def _figure(visit: records.Visit, key: str) -> float | None:
    value = visit.get(key)
    return float(value) if isinstance(value, int | float) else None


def plot(variants: dict[str, dict[str, Any]], path: Path = PLOT) -> None:
    """Horizontal bars, one per variant and cache, split into the start-up's steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = [
        (f"{label}, {cache}", data[cache]["median"], data[f"anchor_{cache}"]["median"])
        for label, data in variants.items()
        for cache in CACHES
    ]
    steps = [name for name, _, _ in timeline(rows[0][1])]
    palette = plt.get_cmap("tab10")
    colours = {name: palette(n) for n, name in enumerate(steps)}
    figure, axes = plt.subplots(figsize=(10, 1.0 + 0.6 * len(rows)))
    for y, (_, medians, anchor) in enumerate(reversed(rows)):
        for name, start, end in timeline(medians):
            axes.barh(y, (end - start) / 1000, left=start / 1000, color=colours[name], height=0.6)
        if anchor.get("ready_ms"):
            axes.plot([anchor["ready_ms"] / 1000] * 2, [y - 0.4, y + 0.4], color="black", lw=2)
    axes.set_yticks(range(len(rows)), [name for name, _, _ in reversed(rows)])
    axes.set_xlabel("seconds since navigation (medians); black line: bare loadPyodide() ready")
    handles = [Rectangle((0, 0), 1, 1, color=colours[name]) for name in steps]
    axes.legend(
        handles,
        steps,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.25),
        ncol=3,
        fontsize="small",
        frameon=False,
    )
    axes.set_title("Start-up timeline: where the time goes before the page is ready")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def table(variants: dict[str, dict[str, Any]]) -> str:
    """The markdown table of the medians, one column per variant and cache."""
    columns = [(label, cache) for label in variants for cache in CACHES]
    head = "| median | " + " | ".join(f"{label}, {cache}" for label, cache in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]

    def seconds(value: float | None) -> str:
        return "–" if value is None else f"{value / 1000:.2f} s"

    rows: list[tuple[str, str, Any]] = [
        ("ready (`data-app-state=ready`)", "ready_ms", seconds),
        ("bare `loadPyodide()` ready (anchor)", "anchor:ready_ms", seconds),
        ("ready ÷ bare `loadPyodide()`", "ready_vs_bare_load_pyodide", lambda v: f"{v:.2f}"),
        ("shell painted (first contentful paint)", "first_contentful_paint_ms", seconds),
        ("`loadPyodide()` called by PyScript", "interpreter_called_ms", seconds),
        ("wasm downloaded", "runtime_downloaded_ms", seconds),
        ("wasm compiled and instantiated", "wasm_instantiated_ms", seconds),
        ("`loadPyodide()` done", "interpreter_loaded_ms", seconds),
        ("`[files]` done (`py:ready`)", "py_ready_ms", seconds),
        ("long tasks after the shell, > 200 ms", "long_tasks_over_200ms", lambda v: f"{v:.0f}"),
        ("longest task", "longest_task_ms", seconds),
        ("requests", "requests", lambda v: f"{v:.0f}"),
        ("… served from cache", "requests_from_cache", lambda v: f"{v:.0f}"),
        ("bytes transferred", "bytes", lambda v: f"{v / 1e6:.2f} MB"),
    ]
    for title, key, show in rows:
        cells = []
        for label, cache in columns:
            if key.startswith("anchor:"):
                value = variants[label][f"anchor_{cache}"]["median"].get(key.split(":")[1])
            else:
                value = variants[label][cache]["median"].get(key)
            cells.append("–" if value is None else show(value))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    out, *specs = argv
    variants = {}
    for spec in specs:
        label, _, files = spec.partition("=")
        variants[label] = merge([Path(name) for name in files.split(",")])
    Path(out).write_text(json.dumps(variants, indent=1) + "\n", encoding="utf-8")
    plot(variants)
    print(table(variants))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
