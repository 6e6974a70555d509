"""Copy the self-hosted runtime into static/vendor/: Pyodide, PyScript, DOMPurify, wheels, CSS.

Run by `make setup` after `npm ci`. Everything it writes is git-ignored and rebuilt from
package-lock.json and requirements/browser.txt, so the page never loads anything from a CDN.
The standard library is compiled to bytecode by Pyodide's own CPython (tools/compile_python.mjs,
in Node), zips are stored, and every file gets its precompressed twins (tools/precompress.py):
about two minutes of CPU, once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import precompress

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "static" / "vendor"

# Only what loadPyodide() fetches: the npm package also holds Node-only files and docs.
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)
# Pygments styles for the two themes, generated (never hand-written), scoped by theme.
PYGMENTS_THEMES = {"light": "default", "dark": "github-dark"}


def main() -> int:
    if not (NODE_MODULES / "pyodide").is_dir():
        print("node_modules/ is missing: run `npm ci` first", file=sys.stderr)
        return 1
    fresh = VENDOR.with_name("vendor.tmp")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    copy_pyodide(fresh / "pyodide")
    shutil.copytree(
        NODE_MODULES / "@pyscript" / "core" / "dist",
        fresh / "pyscript",
        ignore=shutil.ignore_patterns("*.map"),
    )
    (fresh / "dompurify").mkdir()
    shutil.copy2(NODE_MODULES / "dompurify" / "dist" / "purify.es.mjs", fresh / "dompurify")
    download_wheels(fresh / "wheels")
    write_pygments_css(fresh / "pygments.css")
    for archive in sorted([*fresh.rglob("*.zip"), *fresh.rglob("*.whl")]):
        precompress.store_zip(archive)
    precompress.precompress_tree(
        fresh, brotli_quality=precompress.BROTLI_QUALITY, gzip_level=precompress.GZIP_LEVEL
    )
    write_manifest(fresh)
    # Swap in one step so a failed run never leaves a half-built vendor tree behind.
    shutil.rmtree(VENDOR, ignore_errors=True)
    fresh.rename(VENDOR)
    print(f"vendored runtime into {VENDOR.relative_to(ROOT)}/")
    return 0


def copy_pyodide(target: Path) -> None:
    target.mkdir()
    for name in PYODIDE_FILES:
        if name != "python_stdlib.zip":
            shutil.copy2(NODE_MODULES / "pyodide" / name, target / name)
    compile_stdlib(NODE_MODULES / "pyodide" / "python_stdlib.zip", target / "python_stdlib.zip")


def compile_stdlib(source: Path, target: Path) -> None:
    """The standard library as bytecode instead of source (Pyodide ships source, which every
    start compiled again)."""
    compile_python(source, target)


def compile_python(source: Path, target: Path) -> None:
    """tools/compile_python.mjs: compiled by Pyodide's own CPython, in Node."""
    subprocess.run(
        [
            "node",
            str(ROOT / "tools" / "compile_python.mjs"),
            str(NODE_MODULES / "pyodide"),
            str(source),
            str(target),
        ],
        check=True,
    )


def download_wheels(target: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(target),
            "-r",
            str(ROOT / "requirements" / "browser.txt"),
        ],
        check=True,
    )


def write_manifest(vendor: Path) -> None:
    """Sizes of the runtime's big files, so the page can show real loading progress.

    The size of a file's brotli twin where it has one: what a browser transfers.
    """
    files = sorted(
        path
        for path in [*vendor.glob("pyodide/*"), *vendor.glob("wheels/*.whl")]
        if path.suffix not in (".br", ".gz")
    )
    sizes = {path.relative_to(vendor).as_posix(): _wire_size(path) for path in files}
    manifest = {"runtime": sizes, "total": sum(sizes.values())}
    (vendor / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _wire_size(path: Path) -> int:
    twin = path.with_name(path.name + ".br")
    return (twin if twin.is_file() else path).stat().st_size


def write_pygments_css(target: Path) -> None:
    from pygments.formatters import HtmlFormatter

    parts = []
    for theme, style in PYGMENTS_THEMES.items():
        scope = f'[data-theme="{theme}"] .highlight'
        parts.append(f"/* Pygments style {style!r} for the {theme} theme */")
        parts.append(HtmlFormatter(style=style).get_style_defs(scope))
    target.write_text("\n".join(parts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
