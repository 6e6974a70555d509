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
            if not all(key in by_variant[variant] for variant in variants):
                continue  # results stored before this figure was measured lack it
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

Since then, finished code blocks are coloured in idle time, one block a callback
(`StreamRenderer(colour_later=True)`, `IdleScheduler`), not inside the frame that finishes
them.

### A second look: the bridge, the layout, the collector

Traces of the page at 200 tokens/s read task by task (what each top-level task ran), `cProfile`
of the frame callback inside the page, and V8's allocation sampler, on this shared machine
before the changes below (the page at commit 00368c4, 2 runs each, the same day):

| scenario | page busy | streaming-markdown busy | ratio | page tasks > 50 ms | page visible p95 |
|---|---:|---:|---:|---:|---:|
| 200 tokens/s | 64.2 % | 36.4 % | 1.76× | 42 in 2 runs | 65.2 ms |
| 2,000 tokens/s asked | 76.4 % | 52.6 % | 1.45× | 30 in 2 runs | 108 ms |
| 200 tokens/s, CPU 4× slower | 91.4 % | 76.8 % | 1.19× | 477 in 2 runs | 606 ms |

The changes below, measured against the page before them in runs interleaved in the same
minutes (200 tokens/s; the first runs had only the EventSource change): the main thread's
CPU time per token (its tasks' thread time in the trace) fell from 2.9 ms (median of 4 runs,
2.6–3.5) to 2.6 ms (median of 5, 2.6–2.9; a sixth, which other work slowed to 60 tokens a
second, left out), against 1.4–1.8 ms for streaming-markdown; the busy share from 67–72 % to
62–66 % (streaming-markdown 33–44 %). The `make bench` run of then, with the changes, had
a machine far busier with other work (1.3 of its 2 cores; the tokens arrived at about 100 a
second, not 170): there the page's long tasks and latencies are mostly V8's collections
waiting for a core (below), and its busy share was 1.50×, 1.51× and 1.09×
streaming-markdown's in the three scenarios.

- **Every event woke Python about four times.** At 160 events a second the main thread ran
  441 of Pyodide's scheduled callbacks a second (each a `MessageChannel` task) and 160
  microtasks: the reading task awaited a JavaScript promise, whose resolution entered Python
  in a microtask to wake the task through `call_soon`, and a future made by
  `loop.create_future()` adds a second callback when it resolves (Pyodide's loop counts
  such futures). Now static/eventsource.js calls a Python function directly when an event
  arrives while Python waits, and that resolves a bare `asyncio.Future`: one scheduled
  callback per batch and no microtask (`call_soon` ran 436 times for 436 batches of the
  first 4,000 characters, and 962 times for 481 with `loop.create_future()`; 184 scheduled
  callbacks a second in the trace instead of 441). The same JavaScript is `HELPER_BODY` in
  streamchat/browser/eventsource_helper.py, for pages without our static files; a unit test
  holds the two to the same code.
- **Following the newest text laid the page out once more every frame.** The scroll
  follower read `scrollHeight` after each frame's writes, which forces a layout inside the
  frame callback: 1.4 ms per rendered frame in the profile, its largest single item (19 % of
  the callback). Now a `ResizeObserver` on the scroller and its children scrolls when the
  content's size changes: its callback comes after the browser's own layout, so reading
  `scrollHeight` there costs nothing, and it runs when a line is added, not every frame.
- **Appending to the tail walked it again each time.** Each `AppendTail` read five to ten
  DOM properties across the bridge, and a long code block's whole text into Python, to find
  the last text node; that node is now kept until another patch changes the tail.
- **The status line is not a per-message cost.** It changes at the first token and once a
  second (`_tick`), never per message or per frame.
- **The long tasks on this machine were V8's young-generation collections.** About 55
  scavenges a run, each 30–100 ms of wall time but 1–12 ms of the main thread's CPU: the
  main thread waits for V8's background scavenger threads, which other work on the two cores
  starves (streaming-markdown: 4 scavenges of 2 ms). The page allocated 8 MB of JavaScript
  objects a second; 7 MB of it was Pyodide converting Python strings that are not ASCII
  one character at a time (`_python2js_ucs4`, `_ucs2`, `_ucs1`:
  `jsstr += String.fromCodePoint(…)`; ASCII goes through `TextDecoder`), above all the
  answer's markdown so far in every frame's `streamchat:answer-changed` detail
  (app/browser/events.py; the answer has an emoji at character 16,128, and from there all
  16–20 KB go one character at a time). Passing that detail as JSON (ASCII escapes) cut the
  allocations to 5.7 MB/s; without the event they are 3.4 MB/s, a third of which is
  DOMPurify parsing its configuration again on every call (`_parseConfig`, `addToSet`;
  `DOMPurify.setConfig` once in static/sanitize.mjs would avoid it). The number of
  scavenges did not fall with either in a quick trial, so neither is part of this change.

Left as they were then: Python still wakes once per batch of events, which at 200 tokens/s
(5 ms apart, frames 16.7 ms apart) is nearly every event. One wake per frame would need the
events read in the frame callback itself, and Pyodide resumes a waiting task only from a
task of its own, after the frame is painted: each token would show a frame later.

### A third look: what each task is, and what each byte is

Each top-level task of the trace classified by what it ran (an animation frame, an
EventSource message, one of Pyodide's scheduled callbacks, a collection, an idle callback),
V8's allocation sampler over a whole answer, and timers around the frame callback's parts
inside the page (200 tokens/s, on a busy machine, so the figures are for comparing):

- **The collector was fed by the question, not the answer.** 24.6 MB of JavaScript strings
  a second, 22.4 of them from `_python2js_ucs4`: every frame's `answer-changed` passed the
  question to JavaScript, and the benchmark's question is the 20 KB answer itself, which
  has an emoji in it, so it crossed one character at a time, 60 times a second. The
  question is now read lazily, like the markdown. Allocation fell to 2.3 MB/s (most of it
  DOMPurify's), young-generation collections from 67 ms to 8–10 ms of the main thread a
  second, and the long tasks they caused with them. A real question is short, but any
  question with an accent or an emoji cost the same, per character, on every frame.
- **Each wake of Python cost two tasks, a promise job and a proxy.** Pyodide's
  `WebLoop.call_soon` wraps every callback in a new `create_once_callable(…,
  _may_syncify=True)`; where the browser has WebAssembly stack switching (Chromium does),
  calling it first awaits *another* `MessageChannel` task, then enters Python through
  `promisingApply` inside a promise job. 295 of Pyodide's tasks a second for 150 events,
  80 ms a second, 60 of them in microtasks. `streamchat/browser/quick_soon.py` keeps the
  callbacks in a Python queue run by one long-lived proxy, one task per batch; and an
  EventSource message now resumes the reading task in its own task (`run_here`), so the
  wake costs no task at all. Pyodide's scheduled tasks fell from 295 to 160 a second with
  the queue, and to none with `run_here`; what is given up is `run_sync` inside those
  callbacks, which nothing here uses.
- **Colouring a finished code block was one long task.** Up to 126 ms at full speed and
  230 ms with the CPU slowed 4×, in one idle callback. Pygments' lexer is a generator and
  its formatter closes every span at a line's end, so `streamchat/colour.py` colours a few
  lines at a time, stopping when 8 ms are spent, with the same HTML (tested on the
  corpus's fences). What cannot be sliced is setting up a language's lexer: 0.1–0.4 s in
  the page for JavaScript, Bash, HTML or CSS (importing the module, compiling its
  expressions). A block in a language not coloured before therefore waits for the
  answer's end; Python's lexer is set up at start-up.
- **The frame callback's own time** is 1.4–1.5 ms a frame on average: the tail's render
  0.9 ms, applying the patches (DOMPurify and the DOM) 0.5 ms. Half the frames still render
  the tail: in this answer, 16 % because the new text has a line break, 14 % because the
  tail is inside an open `**` or `` ` `` (it needs healing), 17 % because of spaces at a
  cut (the benchmark cuts tokens every 5 characters, which models do not), 9 % because the
  text has markdown in it.

### A fourth look: the long tasks at 4×, one by one

Each task over 50 ms of two runs at 200 tokens/s with the CPU slowed 4×, split by what it
held (trace events), and timers around the page's Python inside the page (2026-12-07):

- **A chunk of the stream in one task, an event at a time.** Once the page fell behind,
  Chromium handed over a chunk of the stream holding dozens of events as one task, and each
  event woke Python anew: its reader took what was buffered (one event), handled it and
  waited again, before the next event of the same task came. Tasks of 50–263 ms made of
  24–108 calls into Python: the issue's freeze of the naive page, in small, and what made
  one run of the benchmark before (02:13 UTC) fall 1.2 s behind. static/eventsource.js now wakes
  Python at once only for an event that comes more than 1 ms after Python last returned;
  the rest of a chunk wait for one wake-up in a task after it (a `MessageChannel`
  message), which takes them all and works through them in 8 ms slices.
  tests/unit/test_eventsource_helper.py dispatches 50 events in one task in Node and sees
  two wake-ups, of 1 and 49 events.
- **A frame that renders much, then lays it out.** The other long tasks were animation
  frames: 15–45 ms of Python (the renderer's `feed` took up to 34 ms at 4×, a block
  finished and the tail rendered; p95 10.6 ms), then 20–35 ms of the browser's style,
  layout and paint of what it had put in the DOM. A frame whose rendering took more than
  10 ms now ends there, and the next frame puts its HTML in the DOM
  (`FramePacer.show_apart`); a cheap frame, nearly every one at full speed, is shown at
  once. Idle colouring shows such held blocks first (tests/unit/test_render_sink.py:
  without that, a block could be coloured before it was in the DOM).
- **Tried and dropped: Python woken once per animation frame**, in the frame itself, the
  events since the last frame taken together and rendered in the same frame. Fewer
  wake-ups, but a frame's work all in one task: at 4×, 17–30 tasks over 50 ms a run
  instead of 6–15; at full speed, visible p95 37 ms instead of 27.
- **Tried and dropped: the first two events of a chunk woken at once**, so that a model's
  last token and the answer's end, which often come together, would not wait for a task
  of their own. A/B, 4 runs each at 4×: the final answer after `[DONE]` 164 ms instead of
  127, tasks over 50 ms 7–22 a run instead of 2–12. Slowed 4×, events that queue behind
  Python's work come within 1 ms of its return, and holding back every one of them is
  what pays.
- **The benchmark asks once the renderer is warm.** Since the renderer is imported after
  ready (docs/startup.md), a question asked at ready waited for its import, at 4× one task
  of about 1.1 s inside the measured window; the stream benchmark now waits for the
  page's `streamchat:renderer-warm` mark, as the browser tests do.

Both changes, A/B in turns against the tree before them (3 runs each, each run with
streaming-markdown in it; the machine busier than for `make bench` then, so compare the
columns only):

| | before | after |
|---|---:|---:|
| 200/s: busy ÷ streaming-markdown's | 1.39 (1.37–1.41) | 1.31 (1.28–1.58) |
| 200/s: arrival → visible p95 | 29.4 ms | 28.3 ms |
| 4×: tasks over 50 ms, per run | 88 (52–144) | 26 (20–58) |
| 4×: longest task | 307 ms (180–450) | 106 ms (95–163) |
| 4×: input delay p95 | 54.7 ms | 37.9 ms |
| 4×: most behind | 0.63 s (0.39–0.83) | 0.47 s (0.42–0.64) |
| 4×: arrival → visible p95 | 182 ms | 225 ms (a frame later when held) |
| 4×: final after `[DONE]` | 171 ms | 191 ms |

### A fifth look: the answer's end

Timers around the page's Python inside the page, three runs at 4× (2026-12-07): from
`[DONE]`'s arrival, Python woke 6–60 ms later (behind a frame's rendering and paint, when
one was under way), then the end of the answer was one task of 37–53 ms, then the frame
that shows it, 25–40 ms of style, layout and paint. In that task:

- rendering the answer as finished and putting it in the DOM: 10–19 ms;
- keeping the conversation in sessionStorage: **14–16 ms** (the conversation as JSON, a
  20 KB question and a 20 KB answer, written synchronously), and starting the library's
  IndexedDB write, 3 ms;
- the first answer's end made the citation cards (3–10 ms), and `streamchat:answer` for
  the widget's host, 3–5 ms.

Now the conversation is kept in an idle moment after the frame that shows the end
(a tab that closes or reloads sooner keeps it on its way out, `pagehide`), and the cards
are made when the page is first idle after ready. The end's task is 22–38 ms at 4×.
A/B in turns against the tree before (3 runs each at 200 tokens/s, each with
streaming-markdown): final after `[DONE]` 12.2 ms (11.8–13.9) instead of 29.0 ms
(25.4–36.8); busy ÷ streaming-markdown's 1.48 (1.45–1.59) against 1.64 (1.50–1.71), the
same within this machine's noise. At 4× the final answer still depends mostly on whether
a frame is being rendered when `[DONE]` comes: 59–202 ms in the three runs of 06:36 UTC.

### A sixth look: the page's Python, profiled again

A profile of the page's Python inside the page (`sys.setprofile`, since Pyodide has no
`cProfile`), the 20 KB answer at 200 tokens/s, 2026-12-07: the frames' rendering was about
60 % of the profiled time and reading the events about 40 %. Changed:

- **The inline processor asked Python-Markdown's registry for each pattern of each text**,
  and the registry sorts itself again and checks the key on every indexing. Its patterns,
  with what `_apply` asks of each, are now taken once per registry change
  (`BoundedInline._rules`).
- **Every text was searched by all twenty inline patterns**, though a line of prose can
  match three or four. Each pattern now says what every match of it holds (`_NEEDS` in
  streamchat/md_inline.py: a backtick, `[`, `<`, `*` `_` `~`, `://` or `www.`…), and a
  text without it is not searched; tests/unit/test_bounds.py checks each against every
  match in the spec suites and the corpus, and renders random inline markdown with
  Python-Markdown's own processor beside ours. Together, in CPython, the 20 KB answer fed
  in 25-character frames renders in 158 ms instead of 219.
- **A wake-up crossed into Python once and back out twice**: JavaScript called the reading
  task's `_wake`, which then took the buffered events from JavaScript, and, when they were
  handled, asked again and found nothing. Now `_wake` is handed what arrived.
- **Each frame's scroll event crossed into Python four times.** The view follows the
  answer by scrolling to the bottom, and the browser reports that scroll at the start of
  the next frame: the handler read the scroller's position and both its heights, and hid
  the "Jump to latest" button again, every time. A scroll that did not move up, while the
  view follows, changes nothing (`app.chat.follows_after_scroll`); now it reads only the
  position and returns.

A/B in turns against the tree before each (3 runs each at 200 tokens/s and at 4×,
streaming-markdown in each): main-thread busy 41.3 → 38.0 % for the first change; the
trace's `FunctionCall` 208 → 200 ms per second of streaming for the other two, within
this machine's noise; for the scroll handler, at 4×, tasks over 50 ms 13, 8 and 3 a run
instead of 20, 24 and 27, arrival → visible p95 115–134 ms instead of 132–183, and
final after `[DONE]` 53–82 ms instead of 75–169 (at 200 tokens/s, the same within
noise). At 4× the main thread stays busy (91–93 %) either way.

The count of tasks over 50 ms at 4× moves more with the machine than with the page. Three
`make bench` runs within the hour, all with other processes keeping 0.00 cores busy:

| tasks over 50 ms at 4×, per run | page | streaming-markdown | bare |
|---|---|---|---|
| 12:25 UTC, before the scroll handler's change | 3, 7, 1 | 0, 0, 0 | 7, 1, 2 |
| 13:03 UTC, after it | 71, 23, 25 | 1, 3, 3 | 4, 13, 6 |
| 13:30 UTC, less the probe's own time | 19, 0, 0 | 1, 0, 0 | 1, 1, 1 |
| 13:30 UTC, with it | 24, 1, 2 | 1, 0, 0 | 1, 2, 1 |

In the 13:03 run the anchors were slower too (streaming-markdown 83 % busy at 4× instead
of 75 %, 62 % at 2,000 tokens/s instead of 47 %): the virtual machine's CPU, shared with
others outside it, was slower than its load inside shows. Even the bare page, which only
appends each token's text, has tasks over 50 ms at 4×.

Since the 13:30 run a task's length leaves out the time the benchmark's probe ran inside
it. The probe's `MutationObserver` counts the answer's letters after every change, in the
microtasks right after the frame callback that made it: 4–6 ms of a 50–60 ms frame at 4×,
which tipped frames over the line that the page alone keeps under it. "Busy" always had
the probe's time taken out; the long-task count now does too, and shows the count with it
beside it.

What is left of the goal is frames of 50–60 ms at 4× in some runs: 20–25 ms of the page's
Python rendering and applying, about 20 ms of style, layout and paint, and the events
that came in the same task. Reliably under 50 ms at 4× needs the rendering off the main
thread (Pyodide in a worker, the DOM patches posted back).

### A seventh look: the frame's own script, within a budget

Timed inside the page (each frame callback's rendering, putting the HTML in the DOM, and
what follows, noted per frame; a probe, not committed), 2 runs each, 2026-12-07 14:42 UTC:

| per frame that shows text | 200 tokens/s | at 4× |
|---|---|---|
| rendering, p50 / p90 / max | 0.2 / 1.6 / 5.0 ms | 1.2–1.6 / 6.5–8.0 / 9.9 ms |
| putting it in the DOM, p50 / p90 / max | 0.3 / 1.1–1.2 / 5.0 ms | 1.4–2.0 / 5.2–7.2 / 16.3 ms |
| the frame's script, p99 | 4.1–4.4 ms | 16.9–19.5 ms |

The frames that went over 50 ms at 4× were those whose rendering took 6–10 ms, just
under the 10 ms after which the HTML waited for the next frame, and whose showing took as
much again: 15–25 ms of script, then 25–30 ms of style, layout and paint in the same
task. Now the frame's script has a budget (`FramePacer.show_apart`, 12 ms): showing is
expected to cost what the last showing cost, and no less than the rendering, and an update
that would go over it is shown in the next frame. At 200 tokens/s on this machine no
frame comes near it (script p99 4.4 ms), so nothing waits there.

A/B in turns against the tree before, 6 runs each at 4× (two rounds of three):
tasks over 50 ms 0, 4, 1, 3, 0, 24 a run against 2, 13, 10, 2, 4, 27 (32 against 58 in
all; the last pair of runs came when the machine was slower, 158–161 tokens/s arrived,
and both had over 20); arrival → visible p95 106–189 ms against 85–171 ms, and final after
`[DONE]` 58–111 ms against 70–130 ms, the same within noise.

`make bench` twice since:

| tasks over 50 ms at 4×, per run | page | streaming-markdown | bare |
|---|---|---|---|
| 15:00 UTC, a slower machine (streaming-markdown 83 % busy) | 6, 15, 13 | 2, 1, 0 | 7, 5, 1 |
| 15:25 UTC | 0, 0, 10 | 0, 0, 1 | 2, 4, 3 |

What is left in the traces: frames with a large layout (a finished block, 27 ms of layout
at 4×), frames that show the HTML of a large update (up to 30 ms), and tasks in which
events and input came together.

### An eighth look: what the long tasks at 4× are made of

`python -m bench.long_tasks` splits each task over 50 ms in the traces that
`bench.stream_cost --traces` keeps into garbage collection, compiling, script, style and
layout, paint and the rest. Over 13 runs at 4× of the tree `make bench` measured last
(2026-12-07, 16:38–17:00 UTC; `bench/results/long-tasks-4x-2026-12-07.json`):

| | |
|---|---|
| tasks over 50 ms | 54 in 13 runs: 0–2 a run in 8, 5–14 in the other 5 |
| with a major garbage collection in them | 11 (the collection 20–36 ms at 4×) |
| the others, median | script 19 ms, style and layout 9 ms, paint 17 ms, the rest 5.5 ms |

Four of the five runs with many came from 16:52 on, when the machine was slower.

- **Major collections.** V8 finishes one every 4–9 s of streaming (a heap of 11 MB,
  0.5–3 MB freed each time); its last step is one pause of 20–36 ms at 4×. When the marking
  ends while script runs, the pause lands inside that task: a frame of 25–30 ms becomes
  one of 55–80 ms. In quiet runs these were all the long tasks (runs 1–3: 5 of 5).
  - DOMPurify parses every fragment into a new document of its own, so I tried cleaning
    in place in one inert document instead. It did not change the count of collections
    (2–6 a run against 2–3, 4 runs each in turns), and DOMPurify's in-place mode is slower
    (3.4 ms against 1.2 ms a 3 KB fragment at 1×), so it was not kept.
  - Where the garbage comes from, by DevTools' sampling heap profiler over one answer at
    1× (all allocations, those collected included): 48.7 MB in all, of it DOMPurify's
    walk of each fragment about 14 MB, and Pyodide's conversions of values between Python
    and JavaScript most of the rest. The largest single item, 4.6 MB, was DOMPurify copying
    its whole attribute allow-list on every call, which it does when a hook watches
    attributes as it reads them; the page's check of link values now runs after it
    (`afterSanitizeAttributes`), with the same result (the sanitizer test fails without
    it): 45.7 MB in all after.
- **The others are whole frames late in a long answer:** the frame's script (the pacer's
  budget, 12 ms, plus the probe's and the scroll handler's), then 25–35 ms of style,
  layout and paint, which grows with the page. They cluster when the machine is slow.
  - A lower share for rendering (0.3 against 0.4) and a smaller frame budget (8 ms against
    12 ms) left the main thread just as busy (92–94 % either way, 6 runs each in turns).
  - At 4× the page is 91–95 % busy over the stream, and streaming-markdown 75 %. The
    remaining cost is spread out: per second at 4×, Python handling events 150 ms, frame
    callbacks 225 ms, the browser's style, layout and paint 330 ms (streaming-markdown's
    460 ms), and the tasks' own overhead 170 ms (the anchors' 140–155 ms).
- **A first call compiles.** The first key press in the question box while an answer
  streams took 30–37 ms at 4×. V8 compiled a 79 KB WebAssembly function there, on the
  main thread (19 ms at 4×, 6 ms at 1×): Pyodide's interpreter meeting a path it had not
  run before. Warming the handler in an idle moment only moved the compile to the next
  new path (the question being sent), so it was not kept. The traces now record
  WebAssembly compiles (`v8.wasm`), and `bench.long_tasks` counts them apart.
- **The question box laid out the page on every key.** Its handler set the box's height to
  `auto` and read `scrollHeight`, which makes the browser lay out there and then everything
  that changed since the last frame: while an answer streams, the answer's changes too.
  Now the stylesheet sizes the box (`field-sizing: content`, Chromium 123 and later); the
  height is set from script only where the browser lacks it, and the counter under the
  box is written only when its text changes. At 4× while streaming, the `input` handler
  took 0.2 ms (median of 18 key presses, max 3.1 ms) against 3.9 ms before (24, max
  6.2 ms), and a whole key press 4.3 ms against 9.1 ms.

- **The whole answer was painted again every frame.** The finished blocks and the live tail
  painted into one layer, so each change of the tail re-recorded the paint of everything
  on screen and near it, more as the answer grew (the paint of the late long frames,
  17–32 ms at 4×). Now the finished blocks sit in one positioned `div.md-blocks`, a paint
  layer of its own, whose painting the browser keeps while only the tail changes; layout
  is the same (the README's screenshots are unchanged to the pixel, but for the speed
  line). A/B in turns at 4×, 4 runs each (17:30 UTC):

  | per second of streaming at 4× | before | with the layer |
  |---|---|---|
  | paint | 102–110 ms | 66–71 ms |
  | pre-paint | 60–64 ms | 41–44 ms |
  | layerize, commit | 58–61 ms | 62–68 ms |
  | a frame's paint, p50 | 3.3–3.6 ms | 1.2–1.6 ms |
  | frames (animation frame callbacks) a run | 782–842 | 840–959 |
  | tasks over 30 ms a run | 64, 86, 66, 76 | 28, 52, 51, 60 |
  | tasks over 50 ms a run | 1, 1, 2, 2 | 1, 4, 3, 1 |

  The frames it frees are used: the page renders more often, and its script time rises
  by about as much as the paint falls (busy 89–92 % against 91–93 %). Fewer tasks pass
  30 ms; those over 50 ms, most of which hold a major collection, did not change in that
  quiet half hour. In a slower one (18:00 UTC, 6 runs each in turns) they did: 48 in all
  against 78 (19, 3, 7, 18, 0, 1 against 20, 5, 11, 31, 9, 2), paint 2.8–3.5 s a run
  against 4.5–4.8 s, arrival → visible p95 lower in every pair (90–224 ms against
  109–264 ms) and busy 0.5–1.9 points lower.

`make bench` at 17:47 UTC, with both changes, came in a slow hour (streaming-markdown 84 %
busy at 4×, against 75 % in a quiet one): tasks over 50 ms at 4× 10, 4, 10 a run for the
page, 0, 1, 0 for streaming-markdown, 0, 5, 3 for the bare page; every other goal met.

So the goal of no task over 50 ms at 4× is still missed. It is met in a quiet hour when no
major collection lands in a frame. To meet it every time, the frame's own work must come
down by half, which means the rendering off the main thread (Pyodide in a worker, posting
DOM patches back), and fewer major collections, or shorter ones, on the main thread.
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
