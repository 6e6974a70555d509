"""tools/precompress.py: twins that decode to their file, made once, only where they pay; zips
stored with every member unchanged."""

from __future__ import annotations

import gzip
import os
import sys
import zipfile
from pathlib import Path

import brotli  # type: ignore[import-untyped]

# tools/ holds scripts, not a package: mypy and this test both know it as `precompress`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from precompress import precompress_tree, store_zip, write_twins

DECODE = {".br": brotli.decompress, ".gz": gzip.decompress}
TEXT = b"".join(b"def answer_%d():\n    return %d\n" % (n, n) for n in range(200))


def test_twins_decode_to_their_file(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_bytes(TEXT)
    written = write_twins(module, brotli_quality=5, gzip_level=6)
    assert sorted(twin.name for twin in written) == ["module.py.br", "module.py.gz"]
    for twin in written:
        assert DECODE[twin.suffix](twin.read_bytes()) == TEXT


def test_a_fresh_twin_is_kept_and_a_stale_one_remade(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_bytes(TEXT)
    write_twins(module, brotli_quality=5, gzip_level=6)
    assert write_twins(module, brotli_quality=5, gzip_level=6) == []
    module.write_bytes(TEXT + b"# changed\n")
    later = module.stat().st_mtime_ns + 10**9
    os.utime(module, ns=(later, later))
    remade = write_twins(module, brotli_quality=5, gzip_level=6)
    assert len(remade) == 2
    for twin in remade:
        assert DECODE[twin.suffix](twin.read_bytes()) == module.read_bytes()


def test_files_that_do_not_pay_get_no_twin(tmp_path: Path) -> None:
    (tmp_path / "tiny.js").write_text("export {};\n")
    (tmp_path / "noise.wasm").write_bytes(os.urandom(20_000))
    (tmp_path / "icon.png").write_bytes(TEXT)  # compressed already, whatever it holds
    assert precompress_tree(tmp_path, brotli_quality=5, gzip_level=6) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["icon.png", "noise.wasm", "tiny.js"]


def test_a_zip_is_stored_member_for_member(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo/__init__.py", TEXT)
        archive.writestr("demo-1.0.dist-info/RECORD", b"demo/__init__.py,,\n")
    before = {info.filename: info.date_time for info in zipfile.ZipFile(wheel).infolist()}
    assert store_zip(wheel)
    assert not store_zip(wheel), "stored already"
    with zipfile.ZipFile(wheel) as archive:
        assert {info.filename: info.date_time for info in archive.infolist()} == before
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
        assert archive.read("demo/__init__.py") == TEXT
        assert archive.testzip() is None
