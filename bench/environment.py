"""The machine and the versions a benchmark run used, for the results file and the report."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.common import CHROMIUM, ROOT


def describe() -> dict[str, Any]:
    return {"machine": machine(), "versions": versions(), "tree": tree()}


def tree() -> dict[str, Any]:
    """The commit measured, and the files that differed from it: other work in progress
    in the same tree is part of what a run measures."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
        return result.stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line]
    measured = ("app/", "streamchat/", "server/", "static/", "index.html", "pyscript.toml")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": sorted(path for path in changed if path.startswith(measured)),
    }


def machine() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_bytes": int(psutil.virtual_memory().total),
        "os": _os_name(),
        "kernel": platform.release(),
        "load_average_at_start": list(os.getloadavg()),
    }


def versions() -> dict[str, Any]:
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    pyodide_lock = ROOT / "static" / "vendor" / "pyodide" / "pyodide-lock.json"
    pyodide_python = None
    if pyodide_lock.exists():
        pyodide_python = json.loads(pyodide_lock.read_text(encoding="utf-8"))["info"]["python"]
    wheels = {}
    for line in (ROOT / "requirements" / "browser.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.partition("==")
        if version and not name.startswith("#"):
            wheels[name.strip()] = version.strip()
    return {
        "chromium": _chromium_version(),
        "python": platform.python_version(),
        "pyodide": lock["node_modules/pyodide"]["version"],
        "pyodide_python": pyodide_python,
        "pyscript": lock["node_modules/@pyscript/core"]["version"],
        "dompurify": lock["node_modules/dompurify"]["version"],
        "browser_wheels": wheels,
        "playwright": metadata.version("playwright"),
        "httpx": metadata.version("httpx"),
        "uvicorn": metadata.version("uvicorn"),
        "starlette": metadata.version("starlette"),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as release:
            for line in release:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return sys.platform


def _chromium_version() -> str:
    # Debian's wrapper script prints a harmless shell warning on stderr; the version is on
    # stdout: "Chromium 156.0.8078.108 built on Debian GNU/Linux 12 (bookworm)".
    result = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
    found = re.search(r"[0-9]+(?:\.[0-9]+){3}", result.stdout)
    return found.group(0) if found else result.stdout.strip()
