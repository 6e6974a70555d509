"""Memory: JS heap and Pyodide memory after each of 50 answers in one page.

The page runs as users get it (EventSource transport, incremental rendering) against the
reference back end's offline answerer with `--pace 0`, so an answer (~75 tokens, with
citations) streams in well under a second. Ten questions are asked in turn, five times.
After the page is ready and after every answer: Python's `gc.collect()`, then the DevTools
protocol's `HeapProfiler.collectGarbage`, then
- JS heap: `performance.memory.usedJSHeapSize` (precise, with
  `--enable-precise-memory-info`) and `Runtime.getHeapUsage` (V8 heap used, and the
  embedder heap, which holds DOM objects);
- Pyodide: the interpreter (PyScript's `whenDefined("py")`) gives its Emscripten module:
  the WebAssembly linear memory's size (grows in 64 KiB pages and never shrinks, so it is
  a high-water mark), the bytes malloc has handed out (`mallinfo().uordblks`; this Pyodide
  has no pymalloc, so every Python object is in there) and `len(gc.get_objects())`;
- DOM: nodes and event listeners (`Memory.getDOMCounters`), and the characters of answer
  text on the page, which the conversation keeps by design.
`performance.measureUserAgentSpecificMemory()` needs a cross-origin-isolated page, which
this one is not (it would need COOP/COEP headers), so it is not used.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from playwright.sync_api import CDPSession, Page, sync_playwright

from bench.common import READY, READY_TIMEOUT_MS, browser, log

ANSWERS = 50
#: Longer than the page's stall timeout (30 s), after which every timer of an answer is gone.
IDLE_S = 35.0
QUESTIONS = (
    "How does the page resume a dropped stream?",
    "What is Pyodide?",
    "How do server-sent events work?",
    "How is markdown rendered safely?",
    "What does PyScript do?",
    "How does back-off with jitter work?",
    "How do fetch streams differ from EventSource?",
    "Who wrote the Gettysburg Address?",
    "What happens in the first chapter of Alice?",
    "What does the Declaration of Independence say about rights?",
)
#: Answers after which every question was asked once (each lexer loaded, each path run).
WARM_ANSWERS = len(QUESTIONS)

PYODIDE_MEMORY = """
async () => {
  const core = await import(new URL("static/vendor/pyscript/core.js", location.href).href);
  const python = (await core.whenDefined("py")).interpreter;
  python.runPython("import gc; gc.collect()");
  const module = python._module;
  // struct mallinfo: ten 32-bit fields; the 8th, uordblks, is the bytes allocated.
  const info = module._malloc(64);
  module._mallinfo(info);
  const fields = Array.from(module.HEAPU32.subarray(info / 4, info / 4 + 10));
  module._free(info);
  const answers = document.querySelectorAll("[data-role=answer-body]");
  let answerChars = 0;
  for (const body of answers) answerChars += body.textContent.length;
  return {
    wasm_memory_bytes: module.HEAP8.length,
    malloc_in_use_bytes: fields[7],
    python_gc_objects: python.runPython("len(gc.get_objects())"),
    answers_on_page: answers.length,
    answer_chars_on_page: answerChars,
    cross_origin_isolated: self.crossOriginIsolated,
  };
}
"""


# Which Python types the garbage collector tracks, by count: their growth between the first
# and the last answer says what the page keeps per answer.
PYTHON_TYPES = """
async () => {
  const core = await import(new URL("static/vendor/pyscript/core.js", location.href).href);
  const python = (await core.whenDefined("py")).interpreter;
  return python.runPython(`
import collections, gc, json
gc.collect()
json.dumps(collections.Counter(
    f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()))
`);
}
"""


def run(url: str, *, answers: int = ANSWERS) -> dict[str, Any]:
    """One sample after start-up and one after each of `answers` answers."""
    samples: list[dict[str, Any]] = []
    with (
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        browser(playwright, tmp, args=["--enable-precise-memory-info"]) as context,
    ):
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(url)
        page.wait_for_selector(READY, timeout=READY_TIMEOUT_MS)
        cdp = context.new_cdp_session(page)
        cdp.send("HeapProfiler.enable")
        samples.append(sample(page, cdp, 0))
        idle: list[dict[str, Any]] = []
        types: list[dict[str, int]] = []
        for n in range(1, answers + 1):
            ask(page, QUESTIONS[(n - 1) % len(QUESTIONS)], n)
            samples.append(sample(page, cdp, n))
            if n in (1, answers) or n % 10 == 0:
                log(f"memory: {n}/{answers} answers, JS heap {_mb(samples[-1])}")
            if n in (WARM_ANSWERS, answers):
                idle.append(idle_sample(page, cdp, n))
                types.append(json.loads(page.evaluate(PYTHON_TYPES)))
    first, warm, last = samples[1], idle[0], idle[1]
    steady = answers - WARM_ANSWERS
    return {
        "method": __doc__,
        "answers": answers,
        "warm_answers": WARM_ANSWERS,
        "idle_s": IDLE_S,
        "after_1": first,
        "after_warm_and_idle": warm,
        "after_last": samples[-1],
        "after_last_and_idle": last,
        "growth_1_to_last": _growth(first, samples[-1]),
        # Held only until the answers' timers are gone: the difference idling makes.
        "pending_after_last": _growth(last, samples[-1]),
        # Steady state: from the end of the first round of questions (every lexer and code
        # path warmed up) to the end, both after idling, so that only what stays counts.
        "kept_per_answer_steady": {
            key: value / steady for key, value in _growth(warm, last).items()
        },
        "python_types_kept_steady": _top_growth(types[0], types[1]),
        "samples": samples,
    }


def idle_sample(page: Page, cdp: CDPSession, answers: int) -> dict[str, Any]:
    """A sample after IDLE_S seconds without activity.

    Every streamed event leaves an asyncio timer (the stall watch's timeout) that stays
    alive until its 30 s would have run out; after that, what is still held is kept.
    """
    log(f"memory: idle for {IDLE_S:.0f} s after {answers} answers")
    page.wait_for_timeout(IDLE_S * 1000)
    return sample(page, cdp, answers)


_GROWTH_KEYS = (
    "js_heap_used_bytes",
    "v8_heap_used_bytes",
    "embedder_heap_used_bytes",
    "wasm_memory_bytes",
    "malloc_in_use_bytes",
    "python_gc_objects",
    "dom_nodes",
    "answer_chars_on_page",
)


def ask(page: Page, question: str, number: int) -> None:
    """Asks and waits for the `number`th answer to end; it must end as done."""
    page.fill("textarea[name=question]", question)
    page.keyboard.press("Enter")
    state = page.wait_for_function(ANSWER_ENDED, arg=number, timeout=60_000).json_value()
    if state != "done":
        raise RuntimeError(f"answer {number} ended as {state!r}, not 'done'")


ANSWER_ENDED = """
(number) => {
  const answer = document.querySelectorAll("[data-role=answer]")[number - 1];
  return answer && answer.dataset.state !== "streaming" ? answer.dataset.state : null;
}
"""


def sample(page: Page, cdp: CDPSession, answers: int) -> dict[str, Any]:
    pyodide: dict[str, Any] = page.evaluate(PYODIDE_MEMORY)
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")
    dom = cdp.send("Memory.getDOMCounters")
    js_heap = page.evaluate("performance.memory.usedJSHeapSize")
    return {
        "answers": answers,
        "js_heap_used_bytes": int(js_heap),
        "v8_heap_used_bytes": int(heap["usedSize"]),
        "v8_heap_total_bytes": int(heap["totalSize"]),
        "embedder_heap_used_bytes": int(heap.get("embedderHeapUsedSize", 0)),
        "dom_nodes": int(dom["nodes"]),
        "js_event_listeners": int(dom["jsEventListeners"]),
        **pyodide,
    }


def _growth(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    return {key: int(after[key]) - int(before[key]) for key in _GROWTH_KEYS}


def _top_growth(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    growth = {name: after.get(name, 0) - before.get(name, 0) for name in {*before, *after}}
    top = sorted(growth.items(), key=lambda item: -abs(item[1]))[:12]
    return {name: change for name, change in top if change}


def _mb(sample: dict[str, Any]) -> str:
    return (
        f"{sample['js_heap_used_bytes'] / 1e6:.1f} MB, "
        f"Python malloc {sample['malloc_in_use_bytes'] / 1e6:.1f} MB"
    )
