"""The page's own Python in one archive: every module of app/ and streamchat/, with its bytecode.

PyScript fetched the page's 50 modules one request each, only once Pyodide had started: on a
first visit about 0.35 s of round trips over loopback, and 50 revalidations on every return
(docs/startup.md). pyscript.toml now names this one archive instead, unpacked into the home
directory as the wheels are (`"./static/app.zip" = "./*"`), and index.html preloads it.

It holds the sources and the checked-hash bytecode that tools/vendor.py compiles with
Pyodide's own CPython (static/vendor/app-bytecode.zip): Python checks each `.pyc` against its
source's hash, so a module edited since its bytecode was made is compiled from its source
rather than run stale. `refresh()` makes the archive again whenever a source or the bytecode
is newer than it: the back end calls it before serving the archive, so an edited module is
what the next reload runs, as it was when the page fetched the sources one by one.

Members are stored, not deflated, so that the transfer's compression sees the whole (as for
the vendored archives), in a fixed order with fixed dates: the same tree makes the same bytes.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
from pathlib import Path

__all__ = ["BUNDLE", "BYTECODE", "PACKAGES", "build", "modules", "refresh"]

#: Where the archive is written, relative to the tree's root (served from /static/, revalidated
#: on every visit like the page's other own files).
BUNDLE = "static/app.zip"
#: The page's own bytecode, made by tools/vendor.py (`--app-bytecode`).
BYTECODE = "static/vendor/app-bytecode.zip"
#: The page's own packages.
PACKAGES = ("app", "streamchat")
#: Every member's date: zip dates carry no meaning here, and fixed ones keep the bytes stable.
_DATE = (2020, 1, 1, 0, 0, 0)

_LOCK = threading.Lock()


def modules(root: Path) -> list[Path]:
    """The page's own modules under `root`, in a fixed order."""
    return sorted(path for package in PACKAGES for path in (root / package).rglob("*.py"))


def build(root: Path) -> bytes:
    """The archive of `root`'s modules and, when made, their bytecode."""
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for path in modules(root):
            _add(archive, path.relative_to(root).as_posix(), path.read_bytes())
        bytecode = root / BYTECODE
        if bytecode.is_file():
            with zipfile.ZipFile(bytecode) as compiled:
                for name in sorted(compiled.namelist()):
                    _add(archive, name, compiled.read(name))
    return target.getvalue()


def refresh(root: Path) -> Path:
    """`root`'s archive, made again first when it is missing or older than what it holds."""
    target = root / BUNDLE
    with _LOCK:
        if _stale(root, target):
            scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            scratch.parent.mkdir(parents=True, exist_ok=True)
            scratch.write_bytes(build(root))
            scratch.replace(target)  # atomic: a request never reads half an archive
    return target


def _stale(root: Path, target: Path) -> bool:
    """Missing, older than a module or the bytecode, or not holding the same modules (one was
    added or removed)."""
    try:
        made = target.stat().st_mtime_ns
        with zipfile.ZipFile(target) as archive:
            held = {name for name in archive.namelist() if name.endswith(".py")}
    except (OSError, zipfile.BadZipFile):
        return True
    sources = modules(root)
    if held != {path.relative_to(root).as_posix() for path in sources}:
        return True
    inputs = [*sources, root / BYTECODE]
    return any(path.stat().st_mtime_ns > made for path in inputs if path.exists())


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, _DATE)
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


if __name__ == "__main__":  # `python -m server.page_bundle`, run by `make setup`
    print(f"the page's own Python: {refresh(Path.cwd())}")
