"""Scale-out: N concurrent streams, one instance in memory vs two over Redis.

Part of `make bench` (`run()`, 200 streams x 200 tokens, one round; results under "scaling"),
and on its own, printing a table:

    .venv/bin/python -m bench.scaling [--streams 200] [--tokens 200] [--pace 0.02] [--rounds 3]

For each set-up (`memory`: one `python -m server`; `redis`: a fresh `redis-server` and two
instances with `--store`, the streams spread over them in turn, as a load balancer would),
N streams start at once from one httpx client in this process. Every answer is the `echo`
fault (the question itself, 6 characters a token, `pace` seconds before each token), so each
stream has exactly `tokens` tokens that should arrive `pace` apart. Reported:

- extra inter-token gap: each gap between two tokens of a stream, as read off the socket,
  minus `pace`; over the tokens that came after every stream had its first (the burst of
  requests at start-up is not what a long-running server sees);
- server CPU (user + system, all instances) per 1000 tokens delivered, RSS growth per stream;
- Redis: `used_memory` growth per active answer (mid-run) and per finished answer (kept
  for 60 s), its CPU time and the EVALSHA and XREAD calls it served per token delivered.

The client shares the machine with the servers; its own CPU time is printed too, and the
load average, since other work on the machine skews everything. Each round measures every
set-up once, in turn; the table shows the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
WARM_UP_STREAMS = 5


@dataclass
class Setup:
    """The processes one measurement talks to."""

    urls: list[str]
    processes: list[psutil.Process]
    redis: redis.Redis | None = None
    #: Each answer is started on one instance and read on the other.
    cross: bool = False


@dataclass
class Stream:
    rid: str = field(default_factory=lambda: secrets.token_hex(8))
    started: float = 0.0
    tokens: list[float] = field(default_factory=list)
    done: bool = False
    #: How an incomplete stream ended: its HTTP status, or its last event's data.
    ending: str = ""


STREAMS = 200
TOKENS = 200
PACE = 0.02
ROUNDS = 1
INCOMPLETE = "incomplete streams ended by"


def run(
    streams: int = STREAMS, tokens: int = TOKENS, pace: float = PACE, rounds: int = ROUNDS
) -> dict[str, Any]:
    """Every set-up, `rounds` times; per set-up the median of the rounds (JSON-able)."""
    question = ("Scale out. " * (tokens * 6 // 11 + 1))[: tokens * 6]
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        # Round by round, so that load from elsewhere on the machine spreads over all set-ups.
        for _ in range(rounds):
            for name, flags, cross in SETUPS:
                with _setup(Path(directory), flags, cross) as setup:
                    figures = measure(setup, question, streams, pace)
                runs.setdefault(name, []).append(figures)
                print(f"{name}: {figures}", file=sys.stderr)
    return {
        "streams": streams,
        "tokens": tokens,
        "pace_s": pace,
        "rounds": rounds,
        "setups": {name: _medians(figures) for name, figures in runs.items()},
        "incomplete": {
            name: dict(Counter(e for f in figures for e in f[INCOMPLETE]).most_common())
            for name, figures in runs.items()
        },
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=STREAMS)
    parser.add_argument("--tokens", type=int, default=TOKENS)
    parser.add_argument("--pace", type=float, default=PACE)
    parser.add_argument("--rounds", type=int, default=3, help="the table shows the medians")
    args = parser.parse_args()
    result = run(args.streams, args.tokens, args.pace, args.rounds)
    print(f"\n{args.streams} streams x {args.tokens} tokens, {args.pace * 1000:.0f} ms apart,")
    print(f"median of {args.rounds} rounds\n")
    rows: dict[str, dict[str, Any]] = result["setups"]
    names = list(dict.fromkeys(name for row in rows.values() for name in row))
    print("| figure | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for name in names:
        print(f"| {name} | " + " | ".join(_show(row.get(name)) for row in rows.values()) + " |")
    for name, endings in result["incomplete"].items():
        if endings:
            print(f"\n{name}, incomplete streams ended by:")
            for ending, count in endings.items():
                print(f"  {count} x {ending}")


#: Name, flags of `python -m server` (None: one instance in memory), read on another instance.
SETUPS: tuple[tuple[str, tuple[str, ...] | None, bool], ...] = (
    ("1 instance, memory", None, False),
    ("2 instances + Redis", (), False),
    ("… read on the other instance", (), True),
    ("… with --flush-ms 50", ("--flush-ms", "50"), False),
)


@contextlib.contextmanager
def _setup(directory: Path, flags: tuple[str, ...] | None, cross: bool) -> Iterator[Setup]:
    if flags is None:
        with memory_setup(directory) as setup:
            yield setup
    else:
        with redis_setup(directory, *flags) as setup:
            setup.cross = cross
            yield setup


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    medians: dict[str, Any] = {}
    for name in runs[0]:
        values = [run[name] for run in runs]
        numbers = [v for v in values if isinstance(v, int | float)]
        if name == INCOMPLETE:
            medians["incomplete streams"] = " + ".join(str(len(v)) for v in values)
        elif len(numbers) == len(values) and numbers:
            medians[name] = statistics.median(numbers)
        else:
            medians[name] = values[0]
    return medians


def measure(setup: Setup, question: str, streams: int, pace: float) -> dict[str, Any]:
    asyncio.run(_streams(setup, question, WARM_UP_STREAMS, pace))
    return asyncio.run(_streams(setup, question, streams, pace, measuring=True))


async def _streams(
    setup: Setup, question: str, count: int, pace: float, *, measuring: bool = False
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    results = [Stream() for _ in range(count)]
    redis_before = _redis_figures(setup.redis)
    cpu_before = sum(_cpu(p) for p in setup.processes)
    rss_before = sum(p.memory_info().rss for p in setup.processes)
    client_cpu_before = _cpu(psutil.Process())
    peaks = {"rss": rss_before, "redis_memory": redis_before.get("used_memory", 0)}
    peaks["redis_clients"] = 0
    sampler = asyncio.create_task(_sample(setup, results, peaks))
    began = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(
            *(_stream(client, setup, n, question, pace, results[n]) for n in range(count))
        )
    elapsed = time.perf_counter() - began
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler
    if not measuring:
        return {}
    redis_after = _redis_figures(setup.redis)
    ramp_up = max(s.tokens[0] for s in results if s.tokens)
    extra = [
        (later - earlier - pace) * 1000
        for s in results
        for earlier, later in zip(s.tokens, s.tokens[1:], strict=False)
        if earlier >= ramp_up
    ]
    tokens = sum(len(s.tokens) for s in results)
    figures: dict[str, Any] = {
        INCOMPLETE: [s.ending for s in results if not s.done],
        "wall time, s": elapsed,
        "extra gap p50, ms": _percentile(extra, 50),
        "extra gap p99, ms": _percentile(extra, 99),
        "extra gap max, ms": max(extra, default=None),
        "server CPU per 1000 tokens, ms": (
            1e6 * (sum(_cpu(p) for p in setup.processes) - cpu_before) / tokens
        ),
        "server RSS per stream, KiB": (peaks["rss"] - rss_before) / count / 1024,
        "client CPU, s": _cpu(psutil.Process()) - client_cpu_before,
        # Other work on the machine skews everything above: say how much there was.
        "load average (1 min) after": os.getloadavg()[0],
    }
    if setup.redis is not None:
        figures["Redis memory per active answer, KiB"] = (
            peaks["redis_memory"] - redis_before["used_memory"]
        ) / (count * 1024)
        figures["Redis memory per kept answer, KiB"] = (
            redis_after["used_memory"] - redis_before["used_memory"]
        ) / (count * 1024)
        # The stream alone, as Redis counts it (the rest is mostly client connections).
        sizes = [
            setup.redis.memory_usage(f"chat:{{{s.rid}}}:events", samples=0) or 0
            for s in results[:50]
        ]
        figures["… of which the stream, KiB"] = statistics.mean(sizes) / 1024
        figures["Redis clients' memory at peak, MiB"] = peaks["redis_clients"] / 2**20
        figures["Redis CPU per 1000 tokens, ms"] = (
            1e6 * (redis_after["cpu"] - redis_before["cpu"]) / tokens
        )
        for command in ("evalsha", "xread"):
            calls = redis_after[command] - redis_before[command]
            figures[f"Redis {command.upper()} calls per token"] = calls / tokens
    return figures


async def _stream(
    client: httpx.AsyncClient, setup: Setup, n: int, question: str, pace: float, stream: Stream
) -> None:
    url = setup.urls[n % len(setup.urls)]
    params = {"q": question, "rid": stream.rid, "fault": f"echo:6,pace:{pace}"}
    headers = {}
    stream.started = time.perf_counter()
    if setup.cross:
        # Start it here, hang up after the first token, go on reading on the other instance.
        async with client.stream("GET", f"{url}/api/chat", params=params) as response:
            async for line in response.aiter_lines():
                if line.startswith('data: {"type":"token"'):
                    stream.tokens.append(time.perf_counter())
                    break
        url = setup.urls[(n + 1) % len(setup.urls)]
        headers["Last-Event-ID"] = "1"
    async with client.stream("GET", f"{url}/api/chat", params=params, headers=headers) as response:
        stream.ending = f"HTTP {response.status_code}"
        async for line in response.aiter_lines():
            if line.startswith('data: {"type":"token"'):
                stream.tokens.append(time.perf_counter())
            elif line == "data: [DONE]":
                stream.done = True
            elif line.startswith("data: "):
                stream.ending = line.removeprefix("data: ")


async def _sample(setup: Setup, results: list[Stream], peaks: dict[str, int]) -> None:
    while True:
        await asyncio.sleep(0.1)
        peaks["rss"] = max(peaks["rss"], sum(p.memory_info().rss for p in setup.processes))
        # Redis memory "per active answer": while every stream is still running.
        if setup.redis is not None and all(s.tokens and not s.done for s in results):
            info = await asyncio.to_thread(setup.redis.info, "memory")
            peaks["redis_memory"] = max(peaks["redis_memory"], int(info["used_memory"]))
            clients = int(info["mem_clients_normal"])
            peaks["redis_clients"] = max(peaks["redis_clients"], clients)


def _redis_figures(client: redis.Redis | None) -> dict[str, float]:
    if client is None:
        return {}
    info: dict[str, Any] = client.info("all")
    return {
        "used_memory": info["used_memory"],
        "cpu": info["used_cpu_user"] + info["used_cpu_sys"],
        # Calls from clients: scripts cannot call EVALSHA, nor XREAD with BLOCK.
        "evalsha": info.get("cmdstat_evalsha", {}).get("calls", 0),
        "xread": info.get("cmdstat_xread", {}).get("calls", 0),
    }


@contextlib.contextmanager
def memory_setup(directory: Path) -> Iterator[Setup]:
    with _instance(directory / "memory.log") as (url, process):
        yield Setup([url], [process])


@contextlib.contextmanager
def redis_setup(directory: Path, *flags: str) -> Iterator[Setup]:
    port = _free_port()
    command = [shutil.which("redis-server") or "redis-server", "--port", str(port)]
    command += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    redis_process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, decode_responses=True)
    try:
        _wait(lambda: client.ping())
        store = ("--store", f"redis://127.0.0.1:{port}/0", *flags)
        with (
            _instance(directory / "a.log", *store) as (url_a, a),
            _instance(directory / "b.log", *store) as (url_b, b),
        ):
            yield Setup([url_a, url_b], [a, b], client)
    finally:
        client.close()
        redis_process.terminate()
        redis_process.wait()


@contextlib.contextmanager
def _instance(log: Path, *flags: str) -> Iterator[tuple[str, psutil.Process]]:
    command = [sys.executable, "-m", "server", "--port", "0", "--faults", *flags]
    command += ["--max-question-chars", "100000"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=output, stderr=output)
    try:
        url = _wait(lambda: _served_url(log))
        _wait(lambda: httpx.get(f"{url}/healthz").status_code == 200)
        yield url, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait()


def _served_url(log: Path) -> str | None:
    for line in log.read_text().splitlines():
        if line.startswith("Serving on "):
            return line.removeprefix("Serving on ").strip().rstrip("/")
    return None


def _wait(check: Any, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(Exception):
            if result := check():
                return result
        if time.monotonic() > deadline:
            raise TimeoutError("a process did not start")
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _percentile(values: list[float], q: float) -> float | None:
    if len(values) < 2:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return "–" if value is None else str(value)


if __name__ == "__main__":
    main()
