"""The schema of a results file (bench/results/*.json) and a loader that checks it.

The schema is what the report reads: each part's figures as TypedDicts, so mypy checks every
key the report uses, and `parse` checks a file against the same declarations at run time, so
a malformed file fails with the path of the first bad figure instead of a KeyError deep in
the report. Keys the report does not read are allowed and left alone (e.g. the stream part,
which bench/report_stream.py reads as it is).
"""

# No `from __future__ import annotations`: on Python 3.11 a TypedDict's NotRequired keys are
# only seen as such when the annotations are real objects, and the checker reads them.
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, TypeVar, Union, cast

T = TypeVar("T")


class ResultsError(ValueError):
    """A results file that does not match the schema; the message names the figure."""


# Shared ---------------------------------------------------------------------------------------


class Cpu(TypedDict):
    """How busy the machine was while a part ran (`common.CpuWatch.summary()`)."""

    wall_s: float
    others_cores: float


class Distribution(TypedDict):
    count: int
    p50: float | None
    p95: float | None
    max: float | None


# Machine and versions ---------------------------------------------------------------------------


class Machine(TypedDict):
    cpu_model: str
    cores: int
    ram_bytes: int
    os: str
    kernel: str


class Versions(TypedDict):
    chromium: str
    python: str
    pyodide: str
    pyodide_python: str
    pyscript: str
    dompurify: str
    browser_wheels: dict[str, str]
    playwright: str
    httpx: str
    uvicorn: str
    starlette: str


class Tree(TypedDict):
    commit: str
    uncommitted_changes: list[str]


# Start-up -------------------------------------------------------------------------------------

StartupKey = Literal[
    "ready_ms",
    "renderer_warm_ms",
    "first_paint_ms",
    "first_contentful_paint_ms",
    "dom_content_loaded_ms",
    "runtime_downloaded_ms",
    "downloads_done_ms",
    "requests",
    "requests_from_cache",
    "bytes",
]


class Transfer(TypedDict):
    path: str
    bytes: int


class StartupFigures(TypedDict):
    """One visit, or the medians of the visits (a figure a visit lacks is null)."""

    ready_ms: float
    #: When app/main.py had warmed the renderer, after ready (null in results from before).
    renderer_warm_ms: NotRequired[float | None]
    first_paint_ms: float | None
    first_contentful_paint_ms: float | None
    dom_content_loaded_ms: float | None
    runtime_downloaded_ms: float
    downloads_done_ms: float | None
    requests: float
    requests_from_cache: float
    bytes: float


class StartupVisit(StartupFigures):
    foreign_requests: list[str]
    largest: list[Transfer]


class StartupCache(TypedDict):
    runs: list[StartupVisit]
    median: StartupFigures


class Startup(TypedDict):
    cold: StartupCache
    warm: StartupCache
    cpu: NotRequired[Cpu]


# Streaming render -------------------------------------------------------------------------------


class Script(TypedDict):
    type: str | None
    invoker: str | None


class LongTask(TypedDict):
    start_ms: float
    duration_ms: float
    update_ms_inside: float
    longest_script: Script


class FirstUpdate(TypedDict):
    at_ms: float
    duration_ms: float


class RenderSeries(TypedDict):
    """Per update: the answer's length when it started, its start and its cost."""

    length: list[int]
    start_ms: list[float]
    update_ms: list[float]
    arrival_to_paint_ms: list[float]
    long_tasks: list[list[float]]


class RenderRun(TypedDict):
    token_chars: int
    pace_s: float
    tokens: int
    tokens_per_s_arrived: float
    asked_to_done_s: float
    update_ms: Distribution
    update_to_paint_ms: Distribution
    arrival_to_paint_ms: Distribution
    update_interval_ms: float | None
    median_at_1kb_ms: float | None
    median_at_20kb_ms: float | None
    first_update: FirstUpdate
    long_tasks_over_50ms: list[LongTask]


class PlottedRun(RenderRun):
    series: RenderSeries


class IncrementalRun(PlottedRun):
    repeat: NotRequired[RenderRun]


class Headline(TypedDict):
    incremental_1kb_ms: float | None
    incremental_20kb_ms: float | None
    naive_1kb_ms: float | None
    naive_20kb_ms: float | None
    incremental_20kb_over_1kb: float | None
    naive_over_incremental_20kb: float | None
    naive_over_incremental_1kb: float | None


class Answer(TypedDict):
    files: list[str]
    characters: int


class Render(TypedDict):
    answer: Answer
    bins: dict[str, list[int]]
    headline: Headline
    incremental: IncrementalRun
    naive: PlottedRun
    cpu: NotRequired[Cpu]


# Memory ---------------------------------------------------------------------------------------

MemoryKey = Literal[
    "js_heap_used_bytes",
    "v8_heap_used_bytes",
    "embedder_heap_used_bytes",
    "wasm_memory_bytes",
    "malloc_in_use_bytes",
    "python_gc_objects",
    "dom_nodes",
    "js_event_listeners",
    "answer_chars_on_page",
]


class MemoryChange(TypedDict):
    """A difference between two samples (or one per answer): no listener count."""

    js_heap_used_bytes: float
    v8_heap_used_bytes: float
    embedder_heap_used_bytes: float
    wasm_memory_bytes: float
    malloc_in_use_bytes: float
    python_gc_objects: float
    dom_nodes: float
    answer_chars_on_page: float


class MemorySample(MemoryChange):
    answers: int
    js_event_listeners: float


class Memory(TypedDict):
    answers: int
    warm_answers: int
    idle_s: float
    after_1: MemorySample
    after_warm_and_idle: MemorySample
    after_last: MemorySample
    after_last_and_idle: MemorySample
    growth_1_to_last: MemoryChange
    pending_after_last: MemoryChange
    kept_per_answer_steady: MemoryChange
    python_types_kept_steady: dict[str, int]
    samples: list[MemorySample]
    cpu: NotRequired[Cpu]


# Back end -------------------------------------------------------------------------------------


class BackendMedian(TypedDict):
    completed: int
    streams: int
    first_byte_p50_ms: float | None
    first_byte_p99_ms: float | None
    first_token_p50_ms: float | None
    lateness_p50_ms: float | None
    lateness_p95_ms: float | None
    lateness_p99_ms: float | None
    lateness_max_ms: float | None
    lateness_after_ramp_up_p99_ms: float | None
    probe_lateness_p50_ms: float | None
    probe_lateness_p99_ms: float | None
    probe_lateness_after_ramp_up_p99_ms: float | None
    client_loop_lag_p99_ms: float | None
    probe_loop_lag_p99_ms: float | None
    server_cpu_cores: float
    client_cpu_s: float
    server_rss_peak_bytes: float
    wall_s: float


class Percentiles(TypedDict):
    p50: float | None


class BackendRound(TypedDict):
    first_byte_ms: Percentiles
    first_token_ms: Percentiles


class BackendLevel(TypedDict):
    rounds: list[BackendRound]
    median: BackendMedian


class Backend(TypedDict):
    pace_s: float
    rounds: int
    probes: int
    #: By the number of concurrent streams, as a string ("1", "50", "200").
    levels: dict[str, BackendLevel]
    cpu: NotRequired[Cpu]


# Scale-out ------------------------------------------------------------------------------------

#: One set-up's figures, named as bench/scaling.py prints them; a figure not measured in a
#: set-up (Redis in memory) is absent or null.
ScalingFigures = dict[str, float | str | None]


#: The set-ups the report names (bench/scaling.py's labels).
MEMORY_SETUP = "1 instance, memory"
REDIS_SETUP = "2 instances + Redis"
FLUSH_SETUP = "… with --flush-ms 50"


class Scaling(TypedDict):
    streams: int
    tokens: int
    pace_s: float
    rounds: int
    setups: dict[str, ScalingFigures]
    #: Per set-up, how the incomplete streams ended and how many did.
    incomplete: dict[str, dict[str, int]]
    cpu: NotRequired[Cpu]


# The whole file ------------------------------------------------------------------------------


class Results(TypedDict):
    started_at: str
    command: str
    duration_s: float
    machine: Machine
    versions: Versions
    tree: NotRequired[Tree | None]
    startup: Startup
    render: Render
    memory: Memory
    backend: Backend
    scaling: NotRequired[Scaling | None]
    #: Read by bench/report_stream.py as it is.
    stream: NotRequired[dict[str, Any] | None]


PARTS = ("startup", "render", "memory", "backend", "scaling", "stream")


# A start-up run on its own (bench/results/startup-*.json) --------------------------------------

#: One visit of bench/startup.py: its figures (ms, counts, bytes), lists and per-step details.
Visit = dict[str, float | list[Any] | dict[str, Any] | None]


class Visits(TypedDict):
    runs: list[Visit]


class StartupFile(TypedDict):
    """What `python -m bench.startup` writes, which bench/startup_report.py merges."""

    wasm_code_cache_bytes: NotRequired[int | None]
    cold: Visits
    warm: Visits
    anchor_cold: NotRequired[Visits]
    anchor_warm: NotRequired[Visits]


def load(path: Path) -> Results:
    """The results in the JSON file `path`, checked against the schema."""
    return load_as(path, Results)


def load_as(path: Path, schema: type[T]) -> T:
    """The JSON file `path`, checked against `schema` (a TypedDict of this module)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"{path}: not a readable JSON file: {error}") from error
    return _check(raw, schema, str(path), ())


def parse(raw: object, *, source: str = "results") -> Results:
    """`raw` (a decoded results file) as `Results`, or `ResultsError` naming what is wrong."""
    return _check(raw, Results, source, ())


def top_level(backend: Backend) -> str:
    """The back end's level with the most concurrent streams ("200")."""
    return max(backend["levels"], key=int)


def part_cpu(results: Results, part: str) -> Cpu | None:
    """How busy the machine was while `part` ran, if it ran and it was recorded."""
    figures = cast("dict[str, Any] | None", results.get(part))
    if not figures:
        return None
    return cast("Cpu | None", figures.get("cpu"))


# Checking -------------------------------------------------------------------------------------


def _check(value: object, expected: type[T] | Any, source: str, where: tuple[str, ...]) -> T:
    _check_value(value, expected, source, where)
    return cast(T, value)


def _check_value(value: object, expected: Any, source: str, where: tuple[str, ...]) -> None:
    origin = typing.get_origin(expected)
    if expected is Any:
        return
    if origin in (Union, types.UnionType):
        options = typing.get_args(expected)
        failures = []
        for option in options:
            try:
                _check_value(value, option, source, where)
            except ResultsError as failure:
                failures.append((option, failure))
            else:
                return
        # One option of the value's own kind: its deeper message names the bad figure.
        near = [failure for option, failure in failures if _same_kind(value, option)]
        raise near[0] if len(near) == 1 else _error(source, where, expected, value)
    if expected is type(None):
        if value is not None:
            raise _error(source, where, expected, value)
    elif expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _error(source, where, expected, value)
    elif expected in (int, str):
        if isinstance(value, bool) or not isinstance(value, expected):
            raise _error(source, where, expected, value)
    elif origin is list:
        if not isinstance(value, list):
            raise _error(source, where, expected, value)
        (item,) = typing.get_args(expected)
        for index, element in enumerate(value):
            _check_value(element, item, source, (*where, f"[{index}]"))
    elif origin is dict:
        if not isinstance(value, dict):
            raise _error(source, where, expected, value)
        _, item = typing.get_args(expected)
        for key, element in value.items():
            _check_value(element, item, source, (*where, str(key)))
    elif typing.is_typeddict(expected):
        if not isinstance(value, dict):
            raise _error(source, where, expected, value)
        hints = typing.get_type_hints(expected)
        missing = sorted(set(expected.__required_keys__) - set(value))
        if missing:
            raise ResultsError(f"{_at(source, where)}: missing {', '.join(missing)}")
        for key, hint in hints.items():
            if key in value:
                _check_value(value[key], hint, source, (*where, key))
    else:  # pragma: no cover - a declaration above uses a type this checker does not know
        raise TypeError(f"cannot check {expected!r}")


def _same_kind(value: object, option: Any) -> bool:
    if typing.is_typeddict(option) or typing.get_origin(option) is dict:
        return isinstance(value, dict)
    if typing.get_origin(option) is list:
        return isinstance(value, list)
    return False


def _error(source: str, where: tuple[str, ...], expected: Any, value: object) -> ResultsError:
    found = json.dumps(value)
    if len(found) > 60:
        found = found[:57] + "…"
    return ResultsError(f"{_at(source, where)}: expected {_describe(expected)}, found {found}")


def _at(source: str, where: tuple[str, ...]) -> str:
    path = ".".join(where).replace(".[", "[")
    return f"{source}: {path}" if path else source


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(option) for option in typing.get_args(expected))
    if typing.is_typeddict(expected):
        return "an object"
    if origin is list:
        return "a list"
    if origin is dict:
        return "an object"
    names = {float: "a number", int: "an integer", str: "a string", type(None): "null"}
    return names.get(expected, repr(expected))
