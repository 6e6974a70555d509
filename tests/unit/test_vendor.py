"""tools/vendor.py's runtime: the standard library trimmed (tools/trim.py), with unchecked
bytecode for what the page imports and source for the rest; the wheels trimmed, with bytecode
beside the sources of their imported modules; the page's own modules as bytecode."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import trim  # noqa: E402

STDLIB = ROOT / "static" / "vendor" / "pyodide" / "python_stdlib.zip"
#: Pyodide's standard library as npm ships it: what tools/vendor.py trims.
NPM_STDLIB = ROOT / "node_modules" / "pyodide" / "python_stdlib.zip"
#: What the page itself imported, recorded in Chromium (`python tools/trim.py --record URL`).
PAGE_IMPORTS = Path(__file__).with_name("page_stdlib_imports.txt")
#: PEP 552: a pyc's flags word; bit 0 set means hash-based, bit 1 clear means never checked.
UNCHECKED_HASH = 0b01
#: Bits 0 and 1 set: hash-based, and checked against the source's hash before use.
CHECKED_HASH = 0b11
APP_BYTECODE = ROOT / "static" / "vendor" / "app-bytecode.zip"
WHEELS = ROOT / "static" / "vendor" / "wheels"

pytestmark = pytest.mark.skipif(
    not STDLIB.is_file(), reason="static/vendor/ is missing: run `make setup`"
)


def test_what_the_page_imports_is_bytecode_and_the_rest_source() -> None:
    with zipfile.ZipFile(STDLIB) as archive:
        names = set(archive.namelist())
    recorded = PAGE_IMPORTS.read_text("utf-8").splitlines()
    page_imports = {line for line in recorded if line and not line.startswith("#")}
    assert {"asyncio/base_events", "json/__init__", "encodings/utf_8"} <= page_imports
    assert not [module for module in page_imports if f"{module}.pyc" not in names]
    sources = {name.removesuffix(".py") for name in names if name.endswith(".py")}
    assert {"argparse", "tarfile", "xml/dom/minidom"} <= sources, "never imported: source"
    assert not [module for module in sources if f"{module}.pyc" in names], "one form each"


@pytest.mark.parametrize(
    ("left_out", "kept"),
    [
        ("pydoc", "inspect"),
        ("unittest/__init__", "asyncio/__init__"),
        ("multiprocessing/__init__", "concurrent/futures/thread"),
        ("concurrent/futures/process", "concurrent/futures/_base"),
        ("http/server", "http/client"),
        ("encodings/cp1252", "encodings/cp437"),
        ("encodings/shift_jis", "encodings/utf_16"),
        ("_pydatetime", "datetime"),
    ],
)
def test_the_standard_library_leaves_out_what_the_page_never_imports(
    left_out: str, kept: str
) -> None:
    with zipfile.ZipFile(STDLIB) as archive:
        names = set(archive.namelist())
    assert {f"{left_out}.py", f"{left_out}.pyc"}.isdisjoint(names)
    assert {f"{kept}.py", f"{kept}.pyc"} & names
    assert not [name for name in names if trim.stdlib_left_out(name)]


def test_every_name_left_out_is_part_of_pyodides_standard_library() -> None:
    """An entry that matches nothing (a typo, a module Pyodide dropped) would protect nothing."""
    with zipfile.ZipFile(NPM_STDLIB) as archive:
        modules = {
            name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            for name in archive.namelist()
            if name.endswith(".py")
        }
    named = [name for names in trim.STDLIB_LEFT_OUT.values() for name in names]
    assert not [name for name in named if name not in modules]
    assert not [name for name in trim.ENCODINGS_KEPT if f"encodings.{name}" not in modules]
    assert len(named) == len(set(named))


def test_the_wheels_keep_every_pygments_lexer_and_lose_only_what_is_named() -> None:
    [pygments] = WHEELS.glob("pygments-*.whl")
    with zipfile.ZipFile(pygments) as archive:
        names = set(archive.namelist())
        mapping = archive.read("pygments/lexers/_mapping.py").decode("utf-8")
        record = archive.read(next(n for n in names if n.endswith(".dist-info/RECORD")))
    lexer_modules = set(re.findall(r"'(pygments\.lexers\.[a-z0-9_]+)'", mapping))
    assert len(lexer_modules) > 200
    missing = [m for m in lexer_modules if m.replace(".", "/") + ".py" not in names]
    assert missing == [], "a code fence in any language is highlighted"
    assert "pygments/formatters/html.py" in names
    assert "pygments/styles/default.py" in names
    assert {"pygments/formatters/latex.py", "pygments/styles/monokai.py"}.isdisjoint(names)
    listed = {line.split(",", 1)[0] for line in record.decode("utf-8").splitlines()}
    assert listed <= names, "RECORD lists only files the wheel holds"
    [pymdownx] = WHEELS.glob("pymdown_extensions-*.whl")
    with zipfile.ZipFile(pymdownx) as archive:
        names = set(archive.namelist())
    assert "pymdownx/superfences.py" in names
    assert {"pymdownx/emoji.py", "pymdownx/twemoji_db.py"}.isdisjoint(names)


def test_every_module_is_unchecked_bytecode_of_one_python() -> None:
    with zipfile.ZipFile(STDLIB) as archive:
        headers = {
            name: archive.read(name)[:8] for name in archive.namelist() if name.endswith(".pyc")
        }
    assert len({header[:4] for header in headers.values()}) == 1, "one magic number"
    flags = {int.from_bytes(header[4:8], "little") for header in headers.values()}
    assert flags == {UNCHECKED_HASH}


def test_the_archive_is_stored_so_that_the_transfer_compresses_it_whole() -> None:
    with zipfile.ZipFile(STDLIB) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def _magic() -> bytes:
    with zipfile.ZipFile(STDLIB) as archive:
        return archive.read("encodings/__init__.pyc")[:4]


def test_the_pages_own_modules_are_checked_bytecode_beside_their_sources() -> None:
    with zipfile.ZipFile(APP_BYTECODE) as archive:
        headers = {name: archive.read(name)[:16] for name in archive.namelist()}
    modules = sorted(
        path.relative_to(ROOT)
        for package in ("app", "streamchat")
        for path in (ROOT / package).rglob("*.py")
    )
    tag = next(iter(headers)).rsplit(".", 2)[1]  # e.g. cpython-314
    expected = {f"{m.parent.as_posix()}/__pycache__/{m.stem}.{tag}.pyc" for m in modules}
    assert set(headers) == expected
    assert {header[:4] for header in headers.values()} == {_magic()}
    assert {int.from_bytes(header[4:8], "little") for header in headers.values()} == {CHECKED_HASH}


@pytest.mark.parametrize(
    ("wheel", "imported", "unused"),
    [
        ("markdown-", "markdown/core.py", "markdown/extensions/wikilinks.py"),
        ("pygments-", "pygments/lexers/python.py", "pygments/lexers/fortran.py"),
    ],
)
def test_a_wheel_has_bytecode_beside_the_modules_the_page_imports_only(
    wheel: str, imported: str, unused: str
) -> None:
    [path] = WHEELS.glob(f"{wheel}*.whl")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        cached = {name for name in names if "/__pycache__/" in name}
        folder, stem = imported.rsplit("/", 1)
        [pyc] = [name for name in cached if name.startswith(f"{folder}/__pycache__/{stem[:-3]}.")]
        header = archive.read(pyc)[:8]
    assert imported in names, "the source stays"
    assert header[:4] == _magic()
    assert int.from_bytes(header[4:8], "little") == UNCHECKED_HASH
    folder, stem = unused.rsplit("/", 1)
    assert not [name for name in cached if name.startswith(f"{folder}/__pycache__/{stem[:-3]}.")]


# Python started in Node (argv: the runtime's folder, the repository, Python code, wheels to
# unpack as the page does), the repository mounted at /repo; prints the code's last value.
RUN_IN_NODE = """
import fs from "node:fs";
const [indexURL, repo, code, ...wheels] = process.argv.slice(1);
const { loadPyodide } = await import(indexURL + "pyodide.mjs");
const pyodide = await loadPyodide({ indexURL });
for (const wheel of wheels) {
  pyodide.unpackArchive(new Uint8Array(fs.readFileSync(wheel)), "whl", { extractDir: "." });
}
pyodide.FS.mkdirTree("/repo");
pyodide.mountNodeFS("/repo", repo);
console.log(pyodide.runPython(code));
"""

# Imports each module of `names` (set before it); the names of those that fail.
IMPORT_EACH = """
import importlib, json
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(name)
json.dumps(failed)
"""

# Imports every module of the wheels and the library's pure modules, then renders a code
# fence in every language Pygments knows; what failed, and how many languages rendered.
EVERY_LANGUAGE = """
import importlib, json, pkgutil, sys
sys.path.insert(0, "/repo")
failed = {}
names = ["streamchat.render", "streamchat.stream_render", "streamchat.client"]
for package in ("markdown", "pymdownx", "pygments", "latex2mathml", "pyodide", "_pyodide"):
    module = importlib.import_module(package)
    names += [info.name for info in pkgutil.walk_packages(module.__path__, package + ".")]
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as error:
        failed[name] = repr(error)
from pygments.lexers import get_all_lexers, get_lexer_by_name
from streamchat.render import render_markdown
rendered = 0
for name, aliases, _, _ in get_all_lexers():
    if not aliases:
        continue
    try:
        assert get_lexer_by_name(aliases[0]).name == name
        assert 'class="code-block"' in render_markdown(f"```{aliases[0]}\\nx = 1 # two\\n```\\n")
        rendered += 1
    except BaseException as error:
        failed[aliases[0]] = repr(error)
json.dumps({"failed": failed, "rendered": rendered})
"""

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node is missing")


def run_in_node(runtime: Path, code: str, wheels: list[Path] | None = None) -> object:
    done = subprocess.run(
        ["node", "--input-type=module", "-e", RUN_IN_NODE, f"{runtime}/", str(ROOT), code]
        + [str(wheel) for wheel in wheels or []],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_node
def test_every_module_kept_imports_as_it_does_in_pyodides_own_library() -> None:
    """No module left in needs one left out to import (lazy imports inside functions are
    reviewed in tools/trim.py); the ones that fail fail in npm's runtime too."""
    with zipfile.ZipFile(STDLIB) as archive:
        modules = sorted(
            name.removesuffix("c").removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            for name in archive.namelist()
            if name.endswith((".py", ".pyc")) and not name.endswith("__main__.py")
        )
    code = f"names = {json.dumps(modules)}\n{IMPORT_EACH}"
    trimmed = run_in_node(STDLIB.parent, code)
    original = run_in_node(NPM_STDLIB.parent, code)
    assert isinstance(trimmed, list)
    assert isinstance(original, list)
    assert len(modules) > 300
    assert sorted(set(trimmed) - set(original)) == []


@needs_node
def test_every_wheel_module_imports_and_every_language_renders() -> None:
    result = run_in_node(STDLIB.parent, EVERY_LANGUAGE, sorted(WHEELS.glob("*.whl")))
    assert isinstance(result, dict)
    assert result["failed"] == {}
    assert result["rendered"] > 500
