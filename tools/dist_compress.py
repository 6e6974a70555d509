"""The built site's precompressed twins (`name.br`, `name.gz`), for hosts that serve them.

A file copied unchanged from the source tree takes the source's twins when they are fresh
(`make setup` makes the runtime's once: brotli at quality 11 takes a minute for the wasm
alone); the others are compressed here, by tools/precompress.py.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import precompress as twins


def precompress(site: Path, source: Path, prefix: str, gzip_level: int, brotli_quality: int) -> int:
    """Gives every file of `site` that compresses well its twins; returns how many there are.

    `prefix` is the versioned directory (`v/<version>/`) that holds the source tree's files.
    """
    files = [path for path in sorted(site.rglob("*")) if twins.is_compressible(path)]

    def one(path: Path) -> int:
        name = path.relative_to(site).as_posix().removeprefix(prefix)
        original = source / name
        same = original.is_file() and original.read_bytes() == path.read_bytes()
        for suffix in twins.ENCODINGS.values():
            twin = original.with_name(original.name + suffix)
            if same and twin.is_file() and twin.stat().st_mtime_ns >= original.stat().st_mtime_ns:
                shutil.copy2(twin, path.with_name(path.name + suffix))
        twins.write_twins(path, brotli_quality=brotli_quality, gzip_level=gzip_level)
        return sum(
            path.with_name(path.name + suffix).is_file() for suffix in twins.ENCODINGS.values()
        )

    with ThreadPoolExecutor() as pool:
        return sum(pool.map(one, files))
