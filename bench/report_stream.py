"""The stream-cost section of docs/benchmarks.md and its plot (bench/stream_cost.py's results)."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.stream_cost import METRICS, SCENARIOS

COLOURS = {"page": "#1f77b4", "streaming-markdown": "#2ca02c", "bare": "#7f7f7f"}
PLOT_NAME = "stream_cost.png"
#: Rows of the "where the time goes" table.
TOP_EVENTS = 10
#: What DevTools' trace event names mean, for the breakdown table.
EVENT_NOTES = {
    "RunTask": "task time outside any finer event (scheduling, IPC, the EventSource's parsing)",
    "FunctionCall": "JavaScript and WebAssembly called from a task (Pyodide runs in here)",
    "RunMicrotasks": "promise jobs (Pyodide's asyncio, PyScript's callbacks)",
    "EventDispatch": "DOM events dispatched (message events of the EventSource, input)",
    "Commit": "handing the frame to the compositor (the main thread waits)",
    "Layout": "layout",
    "UpdateLayoutTree": "style recalculation",
    "Paint": "paint (recording display lists)",
    "PrePaint": "paint property trees",
    "Layerize": "layer assignment",
    "ParseHTML": "HTML parsing (innerHTML)",
    "HitTest": "hit testing (input, scroll)",
    "MinorGC": "V8 young-generation GC",
    "MajorGC": "V8 full GC",
    "TimerFire": "setTimeout callbacks",
    "FireAnimationFrame": "requestAnimationFrame callbacks",
    "v8.compile": "V8 compiling",
}


def plot(stream: dict[str, Any]) -> Figure:
    """Main-thread busy % per variant per scenario: medians, with the runs' range."""
    summary = stream["summary"]
    scenarios = list(summary)
    variants = list(stream["variants"])
    figure, axes = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(1, len(variants))
    for v, variant in enumerate(variants):
        xs, heights, low, high = [], [], [], []
        for s, scenario in enumerate(scenarios):
            figure_ = summary[scenario].get(variant, {}).get("busy_pct")
            if not figure_ or figure_["median"] is None:
                continue
            xs.append(s + (v - (len(variants) - 1) / 2) * width)
            heights.append(figure_["median"])
            low.append(figure_["median"] - figure_["min"])
            high.append(figure_["max"] - figure_["median"])
        bars = axes.bar(
            xs,
            heights,
            width,
            yerr=[low, high],
            capsize=3,
            color=COLOURS.get(variant),
            label=stream["variants"][variant],
        )
        for bar, height, above in zip(bars, heights, high, strict=True):
            x = bar.get_x() + bar.get_width() / 2
            axes.text(x, height + above + 1.5, f"{height:.0f} %", ha="center", fontsize=8)
    axes.set_xticks(range(len(scenarios)))
    axes.set_xticklabels(
        [_scenario_label(stream, scenario).replace(" (", "\n(") for scenario in scenarios],
        fontsize=9,
    )
    axes.set_ylabel("main thread busy while streaming (%)")
    axes.set_title(
        f"Whole main-thread cost of streaming the answer (median of {stream['runs_per_cell']} "
        "runs, bars: range)",
        fontsize=10,
    )
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    axes.grid(True, axis="y", alpha=0.3)
    axes.set_ylim(0, 108)
    return figure


def section(stream: dict[str, Any] | None, plot_path: str | None, busy: str) -> str:
    """The markdown section; `busy` is how busy other processes kept the machine."""
    if not stream:
        return "\n## Stream cost\n\nNot measured in this run (`--only stream` measures it).\n"
    parts = [
        f"""
## Stream cost

[`bench/stream_cost.py`](../bench/stream_cost.py) (issue 16): the whole main-thread cost
of streaming the {stream["answer"]["characters"]:,}-character answer into the page, with two
anchors measured in the same run: the npm package `streaming-markdown` fed by a native
EventSource, and a bare EventSource appending each token's text to one text node. The same
back end and endpoint (`echo`/`pace` faults) for all three, each run in a fresh browser
context, variants interleaved, {stream["runs_per_cell"]} runs each; medians with the runs'
range. Busy is the page's main-thread top-level tasks in a Chromium trace, from the first
token's arrival to the paint of the final answer, less the probe's own time (shown apart).
Arrival is when JavaScript sees an event; visible is the paint of the first frame whose
answer text has that token's letters (words aligned with the final text); behind is the
most letters arrived but not yet visible, in seconds of the stream. Input: a click on the
question box and a key press in it every few seconds while streaming; delay = first handler
− the event's timestamp. Other processes kept {busy} cores busy meanwhile. Details:
[`bench/README.md`](../bench/README.md).

![Main-thread busy per variant and scenario]({plot_path})
"""
    ]
    for scenario, by_variant in stream["summary"].items():
        variants = list(by_variant)
        header = "| | " + " | ".join(variants) + " |"
        rows = [header, "|---|" + "---:|" * len(variants)]
        for key, label in METRICS:
            cells = [_cell(by_variant[variant][key]) for variant in variants]
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
        pooled = [_ms(by_variant[variant]["input_pooled_p95_ms"]) for variant in variants]
        rows.append("| input delay p95 of all runs' events, ms | " + " | ".join(pooled) + " |")
        parts.append(
            f"### {_scenario_label(stream, scenario)}\n\n"
            + _scenario_note(stream, scenario)
            + "\n".join(rows)
            + "\n"
        )
    parts.append(_goals(stream))
    parts.append(_breakdown(stream))
    parts.append(_profiled(stream))
    parts.append(FINDINGS)
    return "\n".join(parts)


#: What the investigation of issue 16 found, by profiling the page's Python with `cProfile`
#: inside Pyodide (the 20 KB answer at 200 tokens/s, 2026-12-06), and what changed. A record
#: of that work, not a figure of this run.
FINDINGS = """
### What the profile of the page's Python showed, and what changed

`cProfile` run inside the page (its interpreter from PyScript's `whenDefined("py")`) while
the 20 KB answer streamed showed where the Python time went before the changes, per second
of streaming (profiled time, so inflated about 2× for Python and not for JavaScript):

- **The open tail rendered every frame: about 70 %.** Python-Markdown's `convert` of the
  tail ran about 30 times a second, and an open code block was coloured by Pygments on every
  frame (11 ms a call, profiled). Now text that can only extend the tail's last text (words
  added to a paragraph or list item, lines to an open code block) is appended to it without
  rendering (`streamchat/tail_append.py`; checked against a full render at every prefix of the
  corpus and of random markdown): 59 % of an LLM-style answer's words in the corpus's
  longest guide, more in prose. The open block's code is coloured once, when it is finished.
  A finished paragraph that the tail already showed is not rendered again.
- **Per event, the JS ↔ Python bridge: about 15 %.** Each EventSource message called a
  Python listener, which woke the reading task through a `setTimeout`; and
  `asyncio.wait_for` armed and cancelled a timer for every event (each a `setTimeout` that
  still fires later: Pyodide's loop cannot cancel it). Now events wait in a JavaScript array
  (`static/eventsource.js`) taken once per batch, and the stall watch arms one timer per
  stall period (`StallTimer`).
- **The sanitizer and the DOM: about 10 %.** DOMPurify serialised its result and `innerHTML`
  parsed it again; it now returns a fragment that is inserted as it is.
- **A backlog in one task.** Events that queued while the page was busy were all handled
  before the browser could run anything else; now a backlog is taken in slices of 8 ms, each
  its own task, and frames are paced so that rendering takes at most 40 % of the main thread.

Left as they are: the reading of the layout to follow the newest text (it would happen in
the same frame anyway), and colouring of finished code blocks inside the frame that finishes
them (the remaining long tasks at 200 tokens/s; highlighting them in idle time would leave
answers uncoloured for a moment after they end, which tests and readers would see).
"""


def _profiled(stream: dict[str, Any]) -> str:
    profiled = stream.get("profiled")
    if not profiled or not profiled.get("profile"):
        return ""
    window_s = profiled["window_ms"] / 1000
    kinds = profiled["profile"]["kinds_ms"]
    rows = ["| what ran | ms per s |", "|---|---:|"]
    rows += [f"| {kind} | {ms / window_s:.0f} |" for kind, ms in kinds.items() if ms >= window_s]
    functions = ", ".join(
        f"`{name}` {ms / window_s:.0f}"
        for name, ms in profiled["profile"]["functions_ms"]
        if not name.startswith("(")
    )
    scenario = _scenario_label(stream, profiled["scenario"], rates=False)
    return (
        "### What the page's main thread runs (sampling profiler)\n\n"
        f"One more run of the page ({scenario}, not "
        "counted above) with V8's sampling profiler in the trace: each sample's time goes to "
        "the code that was running, per second of streaming. The profiler slows the page (busy "
        f"{profiled['busy_pct']:.0f} % in that run). WebAssembly functions have no names in "
        "Pyodide's build.\n\n" + "\n".join(rows) + f"\n\nLargest functions (self, ms per s): "
        f"{functions}.\n"
    )


def _goals(stream: dict[str, Any]) -> str:
    rows = ["| scenario | goal (the page) | measured | verdict |", "|---|---|---|---|"]
    for goal in stream["goals"]:
        verdict = "**met**" if goal["met"] else "**missed**"
        label = _scenario_label(stream, goal["scenario"])
        rows.append(f"| {label} | {goal['text']} | {goal['measured']} | {verdict} |")
    return (
        "### Goals of issue 16\n\nComputed from the figures above: busy and times are "
        "medians of the runs; tasks over 50 ms are counted over all runs; input delay is the "
        "p95 of every run's events together; behind is the worst run.\n\n" + "\n".join(rows) + "\n"
    )


def _breakdown(stream: dict[str, Any]) -> str:
    breakdown = stream.get("breakdown") or {}
    columns = [
        (scenario, variant)
        for scenario in breakdown
        for variant in ("page", "streaming-markdown")
        if breakdown[scenario].get(variant)
    ]
    if not columns:
        return ""
    names: list[str] = []
    for scenario, variant in columns:
        if variant == "page":
            for name, _ in breakdown[scenario][variant][:TOP_EVENTS]:
                if name not in names:
                    names.append(name)
    header = "| trace event (self time) | " + " | ".join(
        f"{variant}, {scenario}" for scenario, variant in columns
    )
    rows = [header + " | meaning |", "|---|" + "---:|" * len(columns) + "---|"]
    for name in names:
        cells = []
        for scenario, variant in columns:
            found = dict(breakdown[scenario][variant]).get(name)
            cells.append("–" if found is None else f"{found:.0f}")
        rows.append(f"| `{name}` | " + " | ".join(cells) + f" | {EVENT_NOTES.get(name, '')} |")
    return (
        "### Where the main thread's time goes\n\n"
        "Self time per DevTools trace event on the page's main thread, in ms per second of "
        "streaming (all runs), for the page's largest events and the same events of "
        "`streaming-markdown`. Each moment counts for the innermost event covering it; a "
        "CPU slowed 4× shows its slowed times.\n\n" + "\n".join(rows) + "\n"
    )


def _scenario_label(stream: dict[str, Any], scenario: str, *, rates: bool = True) -> str:
    known = stream.get("scenarios", {}).get(scenario)
    label = str(known["label"] if known else SCENARIOS[scenario].label)
    if not rates:
        return label
    arrived = [
        run["tokens_per_s"]
        for runs in stream["runs"].get(scenario, {}).values()
        for run in runs
        if run.get("tokens_per_s")
    ]
    if arrived:
        label += f" (arrived {min(arrived):,.0f}–{max(arrived):,.0f}/s)"
    return label


def _scenario_note(stream: dict[str, Any], scenario: str) -> str:
    known = stream.get("scenarios", {}).get(scenario)
    if not known:
        return ""
    throttle = known["throttle"]
    slowed = f", the renderer's CPU slowed {throttle:g}×" if throttle != 1 else ""
    return (
        f"`echo:{known['token_chars']},pace:{known['pace_s']:g}`: "
        f"{known['token_chars']}-character tokens, {known['pace_s'] * 1000:g} ms before each"
        f"{slowed}; a click and a key press every {known['input_every_s']:g} s.\n\n"
    )


def _cell(figure: dict[str, Any]) -> str:
    if figure["median"] is None:
        return "–"
    text = _num(figure["median"])
    if figure["n"] > 1 and figure["min"] != figure["max"]:
        text += f" ({_num(figure['min'])}–{_num(figure['max'])})"
    return text


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if value == int(value):
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) < 1 else f"{value:.1f}"


def _ms(value: float | None) -> str:
    return "–" if value is None else _num(value)
