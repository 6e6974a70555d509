"""The project's own rules, checked by the test suite: lint, types, and the page's file list."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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
    """pyscript.toml's [files] as URL → path, with its {FROM} template expanded."""
    files: dict[str, str] = tomllib.loads((ROOT / "pyscript.toml").read_text())["files"]
    base = files.pop("{FROM}")
    files.pop("{TO}")
    return {url.replace("{FROM}", base): path for url, path in files.items()}


def test_every_app_module_the_page_imports_is_listed_in_pyscript_toml() -> None:
    listed = {Path(url).as_posix().removeprefix("./") for url in _pyscript_files()}
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in ("app", "streamchat")
        for path in (ROOT / package).rglob("*.py")
        if path.relative_to(ROOT).as_posix() != "app/main.py"  # the entry, loaded by <script src>
    }
    assert modules - listed == set(), "modules missing from pyscript.toml [files]"
    python = {p for p in listed if p.startswith(("app/", "streamchat/"))}
    assert python - modules == set(), "listed but absent"


def test_every_browser_wheel_is_pinned_and_listed() -> None:
    pins = dict(
        re.findall(
            r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements/browser.txt").read_text(), re.M
        )
    )
    wheels = [url for url in _pyscript_files() if url.endswith(".whl")]
    assert len(wheels) == len(pins)
    for name, version in pins.items():
        stem = re.sub(r"[-_.]+", "_", name).lower()
        assert any(Path(w).name.lower().startswith(f"{stem}-{version}-") for w in wheels), name


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
