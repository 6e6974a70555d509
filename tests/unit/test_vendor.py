"""tools/vendor.py's runtime: the standard library trimmed (tools/trim.py), with unchecked
bytecode for what the page imports and source for the rest; the wheels trimmed, with bytecode
beside the sources of their imported modules; the sources without their comments, compiling
to the same code; the page's own modules as bytecode; Pyodide's lock file without packages;
every archive stored, with twins that the back end sends."""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import importlib.metadata
import io
import json
import re
import shutil
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import brotli  # type: ignore[import-untyped]
import httpx
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
        ("json/tool", "json/__init__"),
        ("concurrent/interpreters/__init__", "concurrent/futures/thread"),
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


def test_every_pinned_wheel_is_vendored_and_the_pages_archive_holds_them_all() -> None:
    pins = dict(
        re.findall(
            r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements/browser.txt").read_text(), re.M
        )
    )
    wheels = sorted(WHEELS.glob("*.whl"))
    assert len(wheels) == len(pins)
    for name, version in pins.items():
        stem = re.sub(r"[-_.]+", "_", name).lower()
        assert [w for w in wheels if w.name.lower().startswith(f"{stem}-{version}-")], name
    expected: dict[str, bytes] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            expected |= {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(WHEELS.parent / "wheels.zip") as archive:
        assert len(archive.namelist()) == len(expected), "no file twice"
        assert {name: archive.read(name) for name in archive.namelist()} == expected


#: Files pip writes into a dist-info folder when it installs a wheel: not the wheel's own.
INSTALLED_BY_PIP = {"INSTALLER", "REQUESTED", "direct_url.json"}


@pytest.mark.parametrize("wheel", sorted(path.name for path in WHEELS.glob("*.whl")))
def test_a_wheel_is_pypis_less_what_is_left_out_and_its_comments(wheel: str) -> None:
    """The wheel's files against the same release installed from PyPI (requirements/dev.txt
    installs requirements/browser.txt): the same files but those trim.py leaves out, and the
    same bytes, but for sources without comments that compile to the same code here too."""
    name, version = wheel.split("-")[:2]
    installed = importlib.metadata.distribution(name)
    assert installed.version == version, "the virtualenv installs the vendored release"
    info = f"{name}-{version}.dist-info/"
    originals = {
        str(file): file
        for file in installed.files or []
        if not str(file).startswith("..")
        and "__pycache__/" not in str(file)
        and str(file).removeprefix(info) not in INSTALLED_BY_PIP
    }
    kept = {n for n in originals if not trim.wheel_left_out(trim.distribution(WHEELS / wheel), n)}
    with zipfile.ZipFile(WHEELS / wheel) as archive:
        assert {member.compress_type for member in archive.infolist()} == {zipfile.ZIP_STORED}
        files = {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}
    shipped = {n for n in files if "/__pycache__/" not in n}
    assert shipped == kept
    stripped = []
    for member in sorted(shipped - {info + "RECORD"}):
        original = originals[member].read_binary()
        if files[member] == original:
            continue
        assert member.endswith(".py"), f"{member} changed"
        assert _compiled(files[member], member) == _compiled(original, member), member
        stripped.append(member)
    assert stripped, "sources lose their comments"
    assert [n for n in shipped if n.endswith(".py") and _comments(files[n])] == []
    record = files[info + "RECORD"].decode("utf-8").splitlines()
    assert {line.split(",", 1)[0] for line in record} == shipped
    for line in record:
        member, digest, size = line.split(",")
        if member != info + "RECORD":
            assert (digest, size) == _hashed(files[member]), f"RECORD's line of {member}"


def _compiled(source: bytes, name: str) -> object:
    return compile(source, name, "exec", dont_inherit=True)


def _comments(source: bytes) -> list[str]:
    tokens = tokenize.tokenize(io.BytesIO(source).readline)
    return [token.string for token in tokens if token.type == tokenize.COMMENT]


def _hashed(data: bytes) -> tuple[str, str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}", str(len(data))


def test_the_lock_file_keeps_pyodides_info_and_lists_no_package() -> None:
    """The page loads no package of Pyodide's distribution; the runtime that the Node tests
    below start reads this very file."""
    npm = json.loads((NPM_STDLIB.parent / "pyodide-lock.json").read_text(encoding="utf-8"))
    lock = json.loads((STDLIB.parent / "pyodide-lock.json").read_text(encoding="utf-8"))
    assert len(npm["packages"]) > 100
    assert lock == {**npm, "packages": {}}


def _archives() -> list[Path]:
    return [STDLIB, APP_BYTECODE, WHEELS.parent / "wheels.zip", *sorted(WHEELS.glob("*.whl"))]


@pytest.mark.parametrize("archive", _archives(), ids=lambda path: path.name)
def test_an_archive_has_twins_that_decode_to_it(archive: Path) -> None:
    data = archive.read_bytes()
    for suffix, decompress in ((".br", brotli.decompress), (".gz", gzip.decompress)):
        twin = archive.with_name(archive.name + suffix)
        assert twin.stat().st_mtime_ns >= archive.stat().st_mtime_ns, "fresh"
        assert decompress(twin.read_bytes()) == data


def test_the_back_end_sends_the_wheels_archive_as_its_brotli_twin() -> None:
    from server.app import create_app
    from server.settings import Settings

    wheel = WHEELS.parent / "wheels.zip"

    async def get() -> httpx.Response:
        app = create_app(Settings(root=ROOT))
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                url = "/" + wheel.relative_to(ROOT).as_posix()
                headers = {"Accept-Encoding": "gzip, deflate, br, zstd"}
                async with client.stream("GET", url, headers=headers) as response:
                    await response.aread()
                    return response
        finally:
            await app.state.answers.close_all()

    response = asyncio.run(get())
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "br"
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert "max-age=31536000" in response.headers["cache-control"]
    assert response.content == wheel.read_bytes(), "decoded by httpx"
    twin = wheel.with_name("wheels.zip.br")
    assert int(response.headers["content-length"]) == twin.stat().st_size


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


# The standard library's sources against npm's (both zips set before it): the names of those
# that differ other than by their comments, those that still have comments, how many differ.
SOURCES_WITHOUT_COMMENTS = """
import io, json, tokenize, zipfile
vendored, npm = zipfile.ZipFile(vendored_zip), zipfile.ZipFile(npm_zip)
different, commented, stripped = [], [], 0
for name in vendored.namelist():
    if not name.endswith(".py"):
        continue
    ours, theirs = vendored.read(name), npm.read(name)
    tokens = tokenize.tokenize(io.BytesIO(ours).readline)
    if any(token.type == tokenize.COMMENT for token in tokens):
        commented.append(name)
    if ours == theirs:
        continue
    stripped += 1
    if compile(ours, name, "exec", dont_inherit=True) != compile(
        theirs, name, "exec", dont_inherit=True
    ):
        different.append(name)
json.dumps({"different": different, "commented": commented, "stripped": stripped})
"""


@needs_node
def test_the_standard_librarys_sources_are_pyodides_without_their_comments() -> None:
    """Compiled by Pyodide's own CPython, each source left compiles to the same code as npm's,
    line and column for line and column."""
    code = (
        f"vendored_zip = '/repo/{STDLIB.relative_to(ROOT).as_posix()}'\n"
        f"npm_zip = '/repo/{NPM_STDLIB.relative_to(ROOT).as_posix()}'\n"
        f"{SOURCES_WITHOUT_COMMENTS}"
    )
    result = run_in_node(STDLIB.parent, code)
    assert isinstance(result, dict)
    assert result["different"] == []
    assert result["commented"] == []
    assert result["stripped"] > 100
