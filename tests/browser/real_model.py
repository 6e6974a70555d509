"""A real model for browser tests: llama-server from `make llm`'s cache, and a recording proxy.

`tools/llm.py` owns the cache; these helpers only run what it built (through its command
line, since tools/ holds scripts, not a package) and fail, not skip, when it is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import httpx
import pytest

from tests.browser.conftest import ROOT, _free_port

#: The name llama-server answers to (tools/llm.py's MODEL_NAME), for the back end's --model.
MODEL_NAME = "smollm2"


@contextmanager
def llama_server() -> Iterator[str]:
    """llama-server with SmolLM2 on a free port, healthy; yields its base URL."""
    tool = [sys.executable, str(ROOT / "tools" / "llm.py")]
    found = subprocess.run([*tool, "paths"], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        pytest.fail(found.stderr.strip() or "no real model: run `make llm`")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile() as log:
        command = [*tool, "serve", "--port", str(port)]  # execs llama-server: same process
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            # /health is 503 while the model loads, 200 once it can answer.
            _wait_for(lambda: _status(url + "health") == 200, process, log, "llama-server")
            yield url
        finally:
            process.terminate()
            process.wait(10)


@contextmanager
def recording_proxy(target: str) -> Iterator[str]:
    """tests/upstream_proxy.py in front of `target`; yields its base URL."""
    command = [sys.executable, "-m", "tests.upstream_proxy", "--port", "0", "--target", target]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        assert process.stdout is not None
        try:
            first_line = process.stdout.readline()  # "Serving on http://127.0.0.1:PORT/"
            if not first_line.startswith("Serving on "):
                log.seek(0)
                pytest.fail("the recording proxy did not start:\n" + log.read().decode())
            url = first_line.removeprefix("Serving on ").strip()
            _wait_for(lambda: _status(url + "_recorded") == 200, process, log, "the proxy")
            yield url
        finally:
            process.terminate()
            process.wait(10)


def recorded(proxy_url: str) -> list[dict[str, Any]]:
    """The requests the proxy has forwarded, oldest first (see tests/upstream_proxy.py)."""
    records: list[dict[str, Any]] = httpx.get(proxy_url + "_recorded", timeout=5).json()
    return records


def busy_slots(model_url: str) -> list[int]:
    """The ids of llama-server's slots that are generating now (its `GET /slots`)."""
    slots = httpx.get(model_url + "slots", timeout=5).json()
    return [slot["id"] for slot in slots if slot["is_processing"]]


def streamed_content(response: str) -> str:
    """The answer text in a recorded chat-completion event stream (the `delta.content`s)."""
    parts = []
    for line in response.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line.removeprefix("data: ")).get("choices", []):
                parts.append(choice.get("delta", {}).get("content") or "")
    return "".join(parts)


def eventually(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Whether `condition` holds within `timeout` seconds, checked every `interval`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def _wait_for(
    ready: Callable[[], bool], process: subprocess.Popen[Any], log: IO[bytes], name: str
) -> None:
    if not eventually(lambda: ready() or process.poll() is not None, timeout=60) or not ready():
        log.seek(0)
        pytest.fail(f"{name} did not start:\n" + log.read().decode(errors="replace"))


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.TransportError:
        return None
