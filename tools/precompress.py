"""Precompressed twins (`name.br`, `name.gz`) and stored zips, made once, never per request.

    python tools/precompress.py static/vendor     # what `make setup` runs after tools/vendor.py

Brotli and gzip twins are written next to every file that they make at least 10% smaller;
the back end (server/static.py) and `make dist`'s hosts (docs/hosting.md) send a twin, with
`Content-Encoding`, to a browser that accepts its encoding. Brotli at quality 11 takes about
a minute for Pyodide's 9.6 MB module, so a twin newer than its file is kept, not remade.

Zips (the standard library, the wheels) are rewritten with their members *stored*: each
member deflated on its own compresses far worse than the whole archive compressed at once
(brotli takes `python_stdlib.zip` from 2.55 MB to 1.61 MB stored, against 2.49 MB as
shipped), and Python reads stored members without inflating them.
"""

from __future__ import annotations

import argparse
import copy as copy_module
import gzip
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    import brotli  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - requirements/dev.txt installs it
    brotli = None

#: Content-Encoding → the twin's suffix, the browser's first choice first.
ENCODINGS = {"br": ".br", "gzip": ".gz"}
#: The types worth compressing; images and fonts are compressed already.
COMPRESSIBLE = {
    ".wasm",
    ".js",
    ".mjs",
    ".json",
    ".css",
    ".html",
    ".py",
    ".svg",
    ".toml",
    ".zip",
    ".whl",
    ".txt",
    ".bin",
}
#: Below this size a twin saves less than a packet.
MIN_BYTES = 1_000
#: A twin must be at least this much smaller than its file.
MIN_SAVING = 0.10
BROTLI_QUALITY = 11
GZIP_LEVEL = 9


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/precompress.py", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--brotli-quality", type=int, default=BROTLI_QUALITY)
    parser.add_argument("--gzip-level", type=int, default=GZIP_LEVEL)
    args = parser.parse_args(None if argv is None else list(argv))
    if brotli is None:
        print("precompress: the brotli package is missing; writing .gz twins only", file=sys.stderr)
    stored = sum(store_zip(path) for path in sorted(args.directory.rglob("*")) if _is_zip(path))
    twins = precompress_tree(
        args.directory, brotli_quality=args.brotli_quality, gzip_level=args.gzip_level
    )
    print(f"precompressed {args.directory}: {stored} zips stored, {twins} twins written")
    return 0


def precompress_tree(directory: Path, *, brotli_quality: int, gzip_level: int) -> int:
    """Writes the missing or stale twins of every file under `directory`; returns how many."""
    files = [path for path in sorted(directory.rglob("*")) if is_compressible(path)]

    def one(path: Path) -> int:
        return len(write_twins(path, brotli_quality=brotli_quality, gzip_level=gzip_level))

    # zlib and brotli release the GIL while they work, so threads use every core.
    with ThreadPoolExecutor() as pool:
        return sum(pool.map(one, files))


def is_compressible(path: Path) -> bool:
    return (
        path.suffix in COMPRESSIBLE
        and not path.name.startswith(".")
        and path.is_file()
        and path.stat().st_size >= MIN_BYTES
    )


def write_twins(path: Path, *, brotli_quality: int, gzip_level: int) -> list[Path]:
    """Writes `path`'s twins that are missing or older than it and pay; returns those written.

    A twin that does not pay is removed, so a stale one never outlives a change of its file.
    """
    written = []
    data: bytes | None = None
    for encoding, suffix in ENCODINGS.items():
        twin = path.with_name(path.name + suffix)
        if _fresh(twin, path):
            continue
        if encoding == "br" and (brotli is None or brotli_quality < 0):
            continue
        if encoding == "gzip" and gzip_level <= 0:
            continue
        data = path.read_bytes() if data is None else data
        packed = compress(data, encoding, brotli_quality=brotli_quality, gzip_level=gzip_level)
        if len(packed) > len(data) * (1 - MIN_SAVING):
            twin.unlink(missing_ok=True)
            continue
        _write_atomically(twin, packed)
        written.append(twin)
    return written


def compress(data: bytes, encoding: str, *, brotli_quality: int, gzip_level: int) -> bytes:
    """`data` in `encoding` ("br" or "gzip"); the same input always makes the same bytes."""
    if encoding == "br":
        if brotli is None:
            raise RuntimeError("the brotli package is missing")
        packed: bytes = brotli.compress(data, quality=brotli_quality, lgwin=24)
        return packed
    return gzip.compress(data, compresslevel=gzip_level, mtime=0)


def store_zip(path: Path) -> bool:
    """Rewrites the zip `path` with every member stored; False when it was stored already."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if all(member.compress_type == zipfile.ZIP_STORED for member in members):
            return False
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as stored:
                for member in members:
                    data = archive.read(member)
                    # The same name, date and attributes; only the compression changes.
                    copy = copy_module.copy(member)
                    copy.compress_type = zipfile.ZIP_STORED
                    stored.writestr(copy, data)
        except BaseException:
            os.unlink(name)
            raise
    os.chmod(name, path.stat().st_mode & 0o777)
    os.replace(name, path)
    return True


def _is_zip(path: Path) -> bool:
    return path.suffix in (".zip", ".whl") and path.is_file()


def _fresh(twin: Path, path: Path) -> bool:
    try:
        return twin.stat().st_mtime_ns >= path.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def _write_atomically(path: Path, data: bytes) -> None:
    # Another process (the back end, a test) may be reading the old twin meanwhile.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(name, 0o644)
    os.replace(name, path)


if __name__ == "__main__":
    sys.exit(main())
