"""tools/vendor.py's runtime: the standard library as bytecode that Pyodide takes unchecked; the
wheels' imported modules and the page's own as bytecode beside their sources."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = ROOT / "static" / "vendor" / "pyodide" / "python_stdlib.zip"
#: PEP 552: a pyc's flags word; bit 0 set means hash-based, bit 1 clear means never checked.
UNCHECKED_HASH = 0b01
#: Bits 0 and 1 set: hash-based, and checked against the source's hash before use.
CHECKED_HASH = 0b11
APP_BYTECODE = ROOT / "static" / "vendor" / "app-bytecode.zip"
WHEELS = ROOT / "static" / "vendor" / "wheels"

pytestmark = pytest.mark.skipif(
    not STDLIB.is_file(), reason="static/vendor/ is missing: run `make setup`"
)


def test_the_standard_library_is_bytecode_only() -> None:
    with zipfile.ZipFile(STDLIB) as archive:
        names = archive.namelist()
    assert not [name for name in names if name.endswith(".py")]
    assert {"encodings/__init__.pyc", "asyncio/__init__.pyc", "re/__init__.pyc"} <= set(names)


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
