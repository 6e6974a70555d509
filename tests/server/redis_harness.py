"""A real redis-server and real `python -m server` instances on free ports, for scale-out tests."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from server.settings import REPO_ROOT
from tests.server.helpers import Frame

#: How long a process may take to start listening.
START_TIMEOUT = 15.0


def redis_server_path() -> str:
    """The redis-server binary; the test is skipped, saying why, only when there is none."""
    path = shutil.which("redis-server")
    if path is None:
        pytest.skip("redis-server is not installed (`make test` installs Debian's redis-server)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """`redis-server` without persistence in its own directory; `restart()` loses every key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        with self.client() as client:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self._process.poll() is not None:
                        raise AssertionError("redis-server did not start") from None
                    time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self, down_for: float = 0.0) -> None:
        """Stops Redis, leaves it down `down_for` seconds, starts it again, empty."""
        self.stop()
        time.sleep(down_for)
        self.start()


@dataclass
class Instance:
    """`python -m server --store <redis>` in a subprocess; its log goes to a file."""

    name: str
    redis_url: str
    directory: Path
    args: tuple[str, ...] = ()
    url: str = ""
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def launch(self) -> None:
        """Starts the process; `wait_ready()` waits until it serves."""
        command = [sys.executable, "-m", "server", "--port", "0", "--root", str(self.directory)]
        command += ["--store", self.redis_url, "--faults", "--pace", "0.01", *self.args]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.url:
            for line in self.log.splitlines():
                if line.startswith("Serving on "):
                    self.url = line.removeprefix("Serving on ").strip().rstrip("/")
            if time.monotonic() > deadline or not self.alive:
                raise AssertionError(f"{self.name} did not start:\n{self.log}")
            time.sleep(0.02)
        while True:  # listening a moment after it printed the line
            try:
                httpx.get(f"{self.url}/healthz", timeout=1).raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, the lease is simply no longer renewed."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive:
            assert self._process is not None
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def generations(self, rid: str) -> int:
        """How many times this instance started generating `rid`, as its log says."""
        return self.log.count(f"generating rid {rid} ")


async def sse_frames(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Frame]:
    """The frames of one GET, as they come; the connection closes when the caller stops."""
    async with client.stream("GET", url, params=params, headers=headers) as response:
        assert response.status_code == 200, response.status_code
        lines: list[str] = []
        async for line in response.aiter_lines():
            if line:
                lines.append(line)
                continue
            frame = _frame(lines)
            lines = []
            if frame is not None:
                yield frame


def _frame(lines: list[str]) -> Frame | None:
    if not lines:
        return None
    if all(line.startswith(":") for line in lines):
        return Frame("comment", lines[0][1:].strip())
    if lines[0].startswith("retry:"):
        return Frame("retry", lines[0].removeprefix("retry:").strip())
    fields = dict(line.split(": ", 1) for line in lines)
    return Frame("event", fields["data"], fields.get("id"))
