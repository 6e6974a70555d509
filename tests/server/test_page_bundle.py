"""server/page_bundle.py: the page's own Python in one archive, never stale."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from server import page_bundle


def _tree(root: Path) -> Path:
    for name, text in {
        "app/__init__.py": "",
        "app/main.py": "print('main')\n",
        "app/browser/dom.py": "X = 1\n",
        "streamchat/__init__.py": "",
        "app/notes.txt": "not a module",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    bytecode = root / page_bundle.BYTECODE
    bytecode.parent.mkdir(parents=True)
    with zipfile.ZipFile(bytecode, "w") as archive:
        archive.writestr("app/__pycache__/main.cpython-313.pyc", b"compiled")
    return root


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_archive_holds_every_module_and_the_bytecode(tmp_path: Path) -> None:
    members = _members(page_bundle.build(_tree(tmp_path)))
    assert members == {
        "app/__init__.py": b"",
        "app/browser/dom.py": b"X = 1\n",
        "app/main.py": b"print('main')\n",
        "streamchat/__init__.py": b"",
        "app/__pycache__/main.cpython-313.pyc": b"compiled",
    }


def test_the_same_tree_makes_the_same_bytes(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    first = page_bundle.build(root)
    os.utime(root / "app" / "main.py", (1, 1))  # dates of the files do not count
    assert page_bundle.build(root) == first


def _touch_later(path: Path, than: Path) -> None:
    later = than.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(later, later))


def test_an_edited_added_or_removed_module_makes_the_archive_again(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    archive = page_bundle.refresh(root)
    assert archive == root / page_bundle.BUNDLE
    made = archive.stat().st_mtime_ns
    assert page_bundle.refresh(root).stat().st_mtime_ns == made, "fresh: not made again"

    (root / "app" / "browser" / "dom.py").write_text("X = 2\n")
    _touch_later(root / "app" / "browser" / "dom.py", archive)
    assert _members(page_bundle.refresh(root).read_bytes())["app/browser/dom.py"] == b"X = 2\n"

    (root / "streamchat" / "new.py").write_text("Y = 1\n")
    os.utime(root / "streamchat" / "new.py", ns=(1, 1))  # older than the archive: still seen
    assert "streamchat/new.py" in _members(page_bundle.refresh(root).read_bytes())

    (root / "app" / "browser" / "dom.py").unlink()
    assert "app/browser/dom.py" not in _members(page_bundle.refresh(root).read_bytes())


def test_new_bytecode_makes_the_archive_again(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    archive = page_bundle.refresh(root)
    bytecode = root / page_bundle.BYTECODE
    with zipfile.ZipFile(bytecode, "w") as compiled:
        compiled.writestr("app/__pycache__/main.cpython-313.pyc", b"compiled again")
    _touch_later(bytecode, archive)
    members = _members(page_bundle.refresh(root).read_bytes())
    assert members["app/__pycache__/main.cpython-313.pyc"] == b"compiled again"


def test_a_broken_archive_is_made_again(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    archive = page_bundle.refresh(root)
    archive.write_bytes(b"not a zip")
    _touch_later(archive, root / page_bundle.BYTECODE)
    assert "app/main.py" in _members(page_bundle.refresh(root).read_bytes())
