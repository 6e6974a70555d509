"""The project's own rules, checked by the test suite: lint, types, and the page's file list."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from server import page_bundle

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_formatted() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _pyscript_files() -> dict[str, str]:
    """pyscript.toml's [files] as URL → path."""
    files: dict[str, str] = tomllib.loads((ROOT / "pyscript.toml").read_text())["files"]
    return files


def test_the_page_fetches_its_own_python_as_one_archive_of_every_module() -> None:
    files = _pyscript_files()
    assert files[f"./{page_bundle.BUNDLE}"] == "./*"
    assert [url for url in files if url.endswith(".py")] == [], "one archive, not a request each"
    with zipfile.ZipFile(io.BytesIO(page_bundle.build(ROOT))) as archive:
        held = {name for name in archive.namelist() if name.endswith(".py")}
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in ("app", "streamchat")
        for path in (ROOT / package).rglob("*.py")
    }
    assert held == modules


def test_index_preloads_each_archive_and_the_entry_that_pyscript_fetches_late() -> None:
    index = (ROOT / "index.html").read_text()
    template = re.search(r'<template id="preload-python">(.*?)</template>', index, re.S)
    assert template is not None
    preloads = re.findall(
        r'<link rel="preload" as="fetch" crossorigin href="([^"]+)">', template.group(1)
    )
    entry = re.findall(r'<script type="py" src="([^"]+)"', index)
    archives = [url.removeprefix("./") for url in _pyscript_files()]
    assert len(entry) == 1
    assert sorted(preloads) == sorted([*archives, *entry])


def test_each_script_index_preloads_is_one_pyscript_or_pyodide_imports() -> None:
    index = (ROOT / "index.html").read_text()
    preloads = re.findall(r'<link rel="modulepreload" href="([^"]+)">', index)
    assert preloads, "PyScript's imports before loadPyodide() are fetched in parallel"
    for href in preloads:
        assert (ROOT / href).is_file(), f"{href}: a new PyScript or Pyodide renamed it"
    toml = tomllib.loads((ROOT / "pyscript.toml").read_text())
    assert toml["interpreter"].removeprefix("./") in preloads


def test_the_page_fetches_its_wheels_as_one_archive() -> None:
    # What the archive holds: tests/unit/test_vendor.py.
    assert _pyscript_files()["./static/vendor/wheels.zip"] == "./*"
    assert [url for url in _pyscript_files() if url.endswith(".whl")] == []


@pytest.mark.parametrize(
    "module",
    [
        "streamchat",
        "streamchat.sse",
        "streamchat.render",
        "streamchat.client",
        "streamchat.stream_render",
        "app.auth",
        "app.sse",  # the contract's names, kept
        "app.render",
    ],
)
def test_pure_modules_import_without_a_browser(module: str) -> None:
    code = f"import sys; sys.modules['js'] = None; sys.modules['pyodide'] = None; import {module}"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_contracts_module_names_are_the_librarys() -> None:
    import app.render
    import app.sse
    import streamchat.render
    import streamchat.sse

    assert app.sse.SSEDecoder is streamchat.sse.SSEDecoder
    assert app.render.render_markdown is streamchat.render.render_markdown
