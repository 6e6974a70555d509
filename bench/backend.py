"""Back end: 50 and 200 concurrent streams against the reference back end, over loopback.

The back end runs in its own process with `--pace 0.02`: its offline answerer waits 20 ms
before each token, so a token should follow the previous one 20 ms later; how much later
than that it comes is the lateness. For each level, that many streams (GET /api/chat, the
offline answerer, ten questions in turn, each stream its own rid) start at the same moment:
all but twenty from one httpx.AsyncClient in this process (the load), and twenty from another
httpx.AsyncClient in a separate process (the probes). One Python event loop reading 180
streams is itself late to read them on this machine, while real clients are separate
browsers; the probes' loop has little to do, so their lateness is the back end's (and the
machine's), not their own. Both are reported; the target is judged on the probes.

Per stream: time to first byte (request sent → response headers) and to the first token;
per token after the first, the gap since the previous token minus 20 ms, as read off the
socket (a chunk holding two tokens gives one gap near 0 ms and a longer one before it):
over all tokens, and over those after the ramp-up (once every stream has had its first
token, so the burst of requests arriving at once, with their connections and retrieval,
is over). Each client's event-loop lag (a task asks to sleep 10 ms; how much longer it
slept) shows how late the client itself was. CPU time of the back end's process (psutil
`cpu_times`, before and after) and its RSS (sampled every 100 ms: peak), and the load
client's CPU time, since it shares the two cores with the back end. A single stream first
shows the lateness of the pacing itself. Each level gets a fresh back end (it keeps every
answer for 60 s, at most 1,000, and answers 503 beyond that), warmed up by a few streams
that are not counted, and runs four rounds; the summary takes, per figure, the median of
the rounds.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

from bench.common import distribution, log, median, server

PACE = 0.02
#: One stream shows the pacing's own lateness, with nothing else going on.
LEVELS = (1, 50, 200)
WARM_UP_STREAMS = 5
#: Rounds per level; 200 streams × 4 rounds stay below the back end's 1,000 kept answers.
ROUNDS = 4
#: Streams of each level read by the separate, lightly loaded probe client.
PROBES = 20
STREAM_TIMEOUT_S = 120.0
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


@dataclass
class StreamTimes:
    """When one stream's response and tokens arrived, in seconds since it was requested
    (`started`, on the system-wide monotonic clock)."""

    started: float = 0.0
    first_byte: float | None = None
    tokens: list[float] = field(default_factory=list)
    done: bool = False
    error: str | None = None


def run(rounds: int = ROUNDS) -> dict[str, Any]:
    """Each level `rounds` times against one back end; the median round's figures."""
    levels: dict[str, Any] = {}
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as probe_process:
        for level in LEVELS:
            # A fresh back end per level: it keeps every answer for 60 s, at most 1,000
            # (then 503), and the rounds of one level must not fill it.
            with server("--pace", str(PACE)) as backend:
                warm_up = probe_process.submit(_probe, backend.url, 1, time.monotonic())
                asyncio.run(_streams(backend.url, WARM_UP_STREAMS, time.monotonic()))
                warm_up.result()
                runs = [
                    _level(backend.url, backend.pid, level, probe_process) for _ in range(rounds)
                ]
            levels[str(level)] = {"rounds": runs, "median": _median_round(runs)}
            summary = levels[str(level)]["median"]
            log(
                f"back end, {level} streams: p99 lateness {summary['probe_lateness_p99_ms']:.1f} "
                f"ms (probes), {summary['lateness_p99_ms']:.1f} ms (all), "
                f"back end CPU {summary['server_cpu_cores']:.2f} cores, "
                f"{summary['completed']}/{summary['streams']} completed"
            )
    return {
        "method": __doc__,
        "pace_s": PACE,
        "rounds": rounds,
        "probes": PROBES,
        "levels": levels,
    }


def _median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure, the median over rounds: a neighbour's burst spoils one round, not all."""
    figures = {
        "first_byte_p50_ms": ("first_byte_ms", "p50"),
        "first_byte_p99_ms": ("first_byte_ms", "p99"),
        "first_token_p50_ms": ("first_token_ms", "p50"),
        "lateness_p50_ms": ("lateness_ms", "p50"),
        "lateness_p95_ms": ("lateness_ms", "p95"),
        "lateness_p99_ms": ("lateness_ms", "p99"),
        "lateness_max_ms": ("lateness_ms", "max"),
        "lateness_after_ramp_up_p99_ms": ("lateness_after_ramp_up_ms", "p99"),
        "probe_lateness_p50_ms": ("probe_lateness_ms", "p50"),
        "probe_lateness_p99_ms": ("probe_lateness_ms", "p99"),
        "probe_lateness_after_ramp_up_p99_ms": ("probe_lateness_after_ramp_up_ms", "p99"),
        "client_loop_lag_p99_ms": ("client_loop_lag_ms", "p99"),
        "probe_loop_lag_p99_ms": ("probe_loop_lag_ms", "p99"),
    }
    summary: dict[str, Any] = {
        name: median([float(run[group][stat]) for run in runs if run[group][stat] is not None])
        for name, (group, stat) in figures.items()
    }
    for key in ("server_cpu_cores", "client_cpu_s", "server_rss_peak_bytes", "wall_s"):
        summary[key] = median([float(run[key]) for run in runs if run[key] is not None])
    summary["completed"] = sum(run["completed"] for run in runs)
    summary["streams"] = sum(run["streams"] for run in runs)
    return summary


def _level(url: str, pid: int, streams: int, probe_process: ProcessPoolExecutor) -> dict[str, Any]:
    process = psutil.Process(pid)
    me = psutil.Process()
    probes = min(PROBES, streams)
    rss: list[int] = []
    cpu_before, my_cpu_before = _cpu(process), _cpu(me)
    started = time.monotonic()
    # Both clients start their streams at this moment (CLOCK_MONOTONIC is system-wide).
    start_at = started + 0.3
    probing = probe_process.submit(_probe, url, probes, start_at)
    loop_lag: list[float] = []
    load = asyncio.run(
        _streams(
            url,
            streams - probes,
            start_at,
            sample=lambda: rss.append(process.memory_info().rss),
            loop_lag=loop_lag,
        )
    )
    probe_times, probe_lag = probing.result(timeout=STREAM_TIMEOUT_S * 2)
    wall = time.monotonic() - start_at
    server_cpu, client_cpu = _cpu(process) - cpu_before, _cpu(me) - my_cpu_before
    everyone = load + probe_times
    ramped = max(
        (stream.started + stream.tokens[0] for stream in everyone if stream.tokens), default=0
    )
    return {
        "streams": streams,
        "probe_streams": probes,
        "completed": sum(stream.done for stream in everyone),
        "errors": sorted({stream.error for stream in everyone if stream.error}),
        "tokens": sum(len(stream.tokens) for stream in everyone),
        "wall_s": wall,
        "first_byte_ms": distribution(
            [stream.first_byte * 1000 for stream in everyone if stream.first_byte is not None]
        ),
        "first_token_ms": distribution(
            [stream.tokens[0] * 1000 for stream in everyone if stream.tokens]
        ),
        "lateness_ms": distribution(_lateness(everyone)),
        "lateness_after_ramp_up_ms": distribution(_lateness(everyone, after=ramped)),
        "probe_lateness_ms": distribution(_lateness(probe_times)),
        "probe_lateness_after_ramp_up_ms": distribution(_lateness(probe_times, after=ramped)),
        "client_loop_lag_ms": distribution(loop_lag),
        "probe_loop_lag_ms": distribution(probe_lag),
        "server_cpu_s": server_cpu,
        "server_cpu_cores": server_cpu / wall,
        "client_cpu_s": client_cpu,
        "server_rss_peak_bytes": max(rss, default=None),
        "server_rss_end_bytes": process.memory_info().rss,
    }


def _lateness(streams: list[StreamTimes], after: float = 0.0) -> list[float]:
    """Gap between successive tokens minus the pace, in ms; only tokens after `after`."""
    return [
        (later - earlier - PACE) * 1000
        for stream in streams
        for earlier, later in itertools.pairwise(stream.tokens)
        if stream.started + earlier >= after
    ]


def _probe(url: str, count: int, start_at: float) -> tuple[list[StreamTimes], list[float]]:
    """The probe process's work: `count` streams from a client that has little else to do."""
    lags: list[float] = []
    times = asyncio.run(_streams(url, count, start_at, loop_lag=lags))
    return times, lags


async def _streams(
    url: str,
    count: int,
    start_at: float,
    *,
    sample: Callable[[], None] | None = None,
    loop_lag: list[float] | None = None,
) -> list[StreamTimes]:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    timeout = httpx.Timeout(STREAM_TIMEOUT_S)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        watchers = []
        if sample is not None:
            watchers.append(asyncio.create_task(_sample_every(0.1, sample)))
        if loop_lag is not None:
            watchers.append(asyncio.create_task(_measure_lag(0.01, loop_lag)))
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        tasks = [
            asyncio.create_task(_stream(client, QUESTIONS[n % len(QUESTIONS)]))
            for n in range(count)
        ]
        results = await asyncio.gather(*tasks)
        for watcher in watchers:
            watcher.cancel()
    return list(results)


async def _stream(client: httpx.AsyncClient, question: str) -> StreamTimes:
    started = time.monotonic()
    times = StreamTimes(started)
    params = {"q": question, "rid": secrets.token_urlsafe(12)}
    try:
        async with client.stream("GET", "api/chat", params=params) as response:
            times.first_byte = time.monotonic() - started
            response.raise_for_status()
            buffer = b""
            async for chunk in response.aiter_raw():
                now = time.monotonic() - started
                buffer += chunk
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    if b'"type":"token"' in event or b'"type": "token"' in event:
                        times.tokens.append(now)
                    elif event.endswith(b"data: [DONE]"):
                        times.done = True
    except httpx.HTTPError as error:
        times.error = f"{type(error).__name__}: {error}"
    return times


async def _sample_every(seconds: float, sample: Callable[[], None]) -> None:
    while True:
        sample()
        await asyncio.sleep(seconds)


async def _measure_lag(seconds: float, lags: list[float]) -> None:
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(seconds)
        lags.append((time.perf_counter() - asked - seconds) * 1000)


def _cpu(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)
