"""What the benchmarks share: the back end as a subprocess, Chromium's flags, statistics."""

from __future__ import annotations

import contextlib
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
from playwright.sync_api import BrowserContext, Page, Playwright

ROOT = Path(__file__).resolve().parent.parent
# tools/ holds scripts, not a package: tools/chromium.py is `chromium` here, as for mypy.
sys.path.insert(0, str(ROOT / "tools"))
import chromium  # noqa: E402

CHROMIUM = chromium.CHROMIUM
#: The shared flags (tools/chromium.py), headless.
CHROMIUM_ARGS = ["--headless", *chromium.CHROMIUM_ARGS]
READY = "html[data-app-state=ready]"
#: The page's renderer imported and warmed, in idle callbacks after ready (app/main.py).
RENDERER_WARM = "() => performance.getEntriesByName('streamchat:renderer-warm').length > 0"
#: The page allows 4,000-character questions (#chat-config); the 20 KB answer is asked as
#: one, as the back end's --max-question-chars 40000 allows. The page's Python reads the
#: configuration long after the document is parsed. (No request routing for the page:
#: Playwright's routing would turn the HTTP cache off.)
RAISE_QUESTION_LIMIT = """
document.addEventListener("DOMContentLoaded", () => {
  const config = document.getElementById("chat-config");
  config.textContent = config.textContent.replace(
    /"maxQuestionChars":\\s*\\d+/, '"maxQuestionChars": 40000');
}, {capture: true});
"""
#: Long enough for a cold start on a loaded 2-core machine, short enough to fail visibly.
READY_TIMEOUT_MS = 60_000


@contextlib.contextmanager
def browser(
    playwright: Playwright, profile: str | Path, *, args: Sequence[str] = ()
) -> Iterator[BrowserContext]:
    """Headless Chromium launched on the profile directory `profile`; closed after."""
    context = playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *args], headless=True
    )
    try:
        yield context
    finally:
        context.close()


@contextlib.contextmanager
def ready_page(
    playwright: Playwright, url: str, *, prefix: str, init_script: str = RAISE_QUESTION_LIMIT
) -> Iterator[Page]:
    """The page at `url` in a fresh browser (a new profile), once it is ready; then closed."""
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as profile,
        browser(playwright, profile) as context,
    ):
        context.add_init_script(script=init_script)
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(url)
        page.wait_for_selector(READY, timeout=READY_TIMEOUT_MS)
        yield page


@dataclass(frozen=True)
class Server:
    """A running back end: its base URL (ending in /) and its process id."""

    url: str
    pid: int


@contextlib.contextmanager
def server(*flags: str) -> Iterator[Server]:
    """`python -m server` on a free loopback port, with `flags`, until the block ends."""
    command = [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", "0", *flags]
    with tempfile.NamedTemporaryFile("w+b", suffix=".log") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = _wait_until_healthy(process, Path(log.name))
            yield Server(url, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def _wait_until_healthy(process: subprocess.Popen[bytes], log: Path) -> str:
    # `--port 0` makes the server print the port it got: "Serving on http://127.0.0.1:N/".
    deadline = time.monotonic() + 30
    url = ""
    while time.monotonic() < deadline and process.poll() is None:
        if not url:
            found = re.search(r"Serving on (http://\S+/)", log.read_text(errors="replace"))
            url = found.group(1) if found else ""
        if url:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "healthz", timeout=1).status_code == 200:
                    return url
        time.sleep(0.05)
    raise RuntimeError("the back end did not start:\n" + log.read_text(errors="replace"))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


def distribution(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, p50, p95, p99 and max of `values`, for the results file."""
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class CpuWatch:
    """How busy the machine was while a benchmark ran, and how much of that was not ours.

    Other engineers' tests share these 2 cores; a benchmark that ran while they were busy
    shows it here. A thread samples every `interval` seconds: the whole machine's busy CPU
    time (psutil.cpu_times) and that of this process and its descendants (the back ends,
    Playwright's driver, Chromium), each process counted up to its last sample.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_forever, daemon=True)
        self._first: dict[int, float] = {}
        self._spent: dict[int, float] = {}
        self._started_at = 0.0
        self._start_busy = 0.0
        self._end_busy = 0.0
        self._start = 0.0
        self._end = 0.0
        self._load: list[float] = []

    def __enter__(self) -> CpuWatch:
        self._started_at = time.time()
        self._start = time.monotonic()
        self._start_busy = _busy_seconds()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._end = time.monotonic()
        self._end_busy = _busy_seconds()

    def summary(self) -> dict[str, float]:
        wall = self._end - self._start
        busy = self._end_busy - self._start_busy
        ours = sum(self._spent.values())
        return {
            "wall_s": wall,
            "machine_busy_cores": busy / wall,
            "ours_cores": ours / wall,
            "others_cores": max(0.0, busy - ours) / wall,
            "load_average_1min_max": max(self._load),
        }

    def _sample_forever(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        me = psutil.Process()
        for process in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                spent = times.user + times.system
                # A process born while watching counts from zero, one already running
                # from its first sample.
                born_since = process.create_time() >= self._started_at
                first = self._first.setdefault(process.pid, 0.0 if born_since else spent)
                self._spent[process.pid] = spent - first
        self._load.append(os.getloadavg()[0])


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))
