"""tools/build_wheel.py: the `streamchat` wheel holds the package alone, and works once installed.

The install is the real thing: a fresh virtual environment, pip offline (`--no-index`), the
dependencies the wheel declares from the page's own vendored wheels, and the library used
from outside the project's directory, so nothing of the checkout can stand in for it.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# tools/ holds scripts, not a package: mypy and this test both know the builder as `build_wheel`.
sys.path.insert(0, str(ROOT / "tools"))
from build_wheel import build  # noqa: E402

VENDORED_WHEELS = ROOT / "static" / "vendor" / "wheels"

#: Run in the fresh environment: the public API, a render, and an answer streamed from a
#: scripted transport, all from the installed wheel.
USE_THE_LIBRARY = """
import asyncio, json, sys
from importlib.metadata import requires, version
import streamchat
from streamchat import StreamingAnswer, StreamRequest, render_markdown, stream_query
from streamchat.sse import ServerSentEvent

assert "site-packages" in streamchat.__file__, streamchat.__file__
assert "<strong>bold</strong>" in render_markdown("**bold** [1]")
assert "httpx" not in sys.modules
for requirement in requires("streamchat"):
    if "extra ==" not in requirement:
        name, pinned = requirement.split("==")
        assert version(name) == pinned, requirement

class Transport:
    retry_ms = None
    async def events(self, request, last_event_id):
        yield ServerSentEvent("message", json.dumps({"type": "token", "text": "Hi *there*"}), "1")
        yield ServerSentEvent("message", "[DONE]", "")
    async def close(self):
        pass

async def main():
    answer = StreamingAnswer()
    await answer.consume(stream_query(StreamRequest("http://x/sse", "q", "r"), Transport()))
    print(answer.state.value, answer.text)
    try:
        streamchat.HttpxTransport
    except ModuleNotFoundError as error:
        print("needs", error.name)

asyncio.run(main())
"""


def test_the_wheel_holds_the_package_and_a_valid_record(tmp_path: Path) -> None:
    wheel = build(tmp_path)
    assert wheel.name == "streamchat-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {
            "streamchat",
            "streamchat-0.1.0.dist-info",
        }
        assert "streamchat/browser/mount.py" in names
        assert not any("__pycache__" in name for name in names)
        record = archive.read("streamchat-0.1.0.dist-info/RECORD").decode().splitlines()
        recorded = {}
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            recorded[name] = (digest, size)
        assert set(recorded) == set(names)
        for name in names:
            if name.endswith("RECORD"):
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert recorded[name] == (f"sha256={expected.decode()}", str(len(data))), name
        metadata = archive.read("streamchat-0.1.0.dist-info/METADATA").decode()
    assert "Requires-Dist: markdown==3.11.3" in metadata
    assert "Requires-Dist: pymdown-extensions==13.1.2" in metadata
    assert 'Requires-Dist: httpx>=0.28.1; extra == "httpx"' in metadata
    assert build(tmp_path / "again").read_bytes() == wheel.read_bytes()  # reproducible


def test_the_installed_wheel_streams_and_renders_without_the_checkout(tmp_path: Path) -> None:
    if not VENDORED_WHEELS.is_dir():
        pytest.fail("static/vendor/wheels/ is missing: run `make setup` first")
    wheel = build(tmp_path / "dist")
    environment = tmp_path / "env"
    venv.create(environment, with_pip=False)  # the project's pip installs into it: faster
    python = environment / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    # --no-deps: pymdown-extensions asks for PyYAML, which the renderer never imports and
    # the page does not ship either. The wheel's own requirements are checked below instead.
    install += ["--no-index", "--no-deps", str(wheel), *map(str, VENDORED_WHEELS.glob("*.whl"))]
    installed = subprocess.run(install, capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    used = subprocess.run(
        [str(python), "-I", "-c", USE_THE_LIBRARY],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert used.returncode == 0, used.stderr
    assert used.stdout.splitlines() == ["done Hi *there*", "needs httpx"]
