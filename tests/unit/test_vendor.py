"""tools/vendor.py's runtime: the standard library as bytecode that Pyodide takes unchecked."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = ROOT / "static" / "vendor" / "pyodide" / "python_stdlib.zip"
#: PEP 552: a pyc's flags word; bit 0 set means hash-based, bit 1 clear means never checked.
UNCHECKED_HASH = 0b01

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
