"""Copy the self-hosted runtime into static/vendor/: Pyodide, PyScript, DOMPurify, wheels, CSS.

Run by `make setup` after `npm ci`. Everything it writes is git-ignored and rebuilt from
package-lock.json and requirements/browser.txt, so the page never loads anything from a CDN.
What the page never uses is left out of the standard library, the wheels and Pyodide's lock
file, and comments out of their Python sources (tools/trim.py, which says why each part is
safe to leave out). The standard-library modules the page imports, the wheels' and the page's
own are compiled to bytecode by Pyodide's own CPython (tools/compile_python.mjs, in Node), zips
are stored, and every file gets its precompressed twins (tools/precompress.py): about two
minutes of CPU, once. With `--snapshot`, also a memory snapshot of Python with the wheels
imported (tools/make_snapshot.mjs; docs/startup.md). `--app-bytecode` makes only the page's
own bytecode again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As a script, Python puts tools/ on the path, not the root that holds `server`.
sys.path.insert(0, str(ROOT))

import precompress  # noqa: E402
import trim  # noqa: E402

from server import page_bundle  # noqa: E402

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
#: What the page's memory snapshot has imported (tools/make_snapshot.mjs): the pure modules,
#: from the wheels and the standard library, that the page imports before it is ready and on its
#: first answer (the renderer's Markdown extensions, Pygments' HTML formatter, style and the
#: Python lexer, latex2mathml). Never the page's own modules (app, streamchat): they change
#: without a new snapshot, so the page compiles them itself; never anything that imports `js`.
SNAPSHOT_IMPORTS = (
    "asyncio",
    "contextlib",
    "dataclasses",
    "datetime",
    "email.utils",
    "functools",
    "hashlib",
    "html.entities",
    "importlib.metadata",
    "json",
    "secrets",
    "unicodedata",
    "urllib.parse",
    "urllib.request",
    "uuid",
    "xml.etree.ElementTree",
    "markdown",
    "markdown.extensions.attr_list",
    "markdown.extensions.sane_lists",
    "markdown.extensions.tables",
    "pygments.formatters.html",
    "pygments.lexers",
    "pygments.lexers.python",
    "pygments.lexers.special",
    "pygments.styles.default",
    "pymdownx.betterem",
    "pymdownx.highlight",
    "pymdownx.magiclink",
    "pymdownx.quotes",
    "pymdownx.superfences",
    "pymdownx.tasklist",
    "pymdownx.tilde",
    "latex2mathml.converter",
)
# Pygments styles for the two themes, generated (never hand-written), scoped by theme.
PYGMENTS_THEMES = {"light": "default", "dark": "github-dark"}


#: The page's own modules (app/, streamchat/) as bytecode, beside their sources once unpacked
#: ("checked hash": a module edited since is compiled again), packed with the sources into the
#: archive pyscript.toml lists (server/page_bundle.py).
APP_BYTECODE = Path(page_bundle.BYTECODE).name
#: The wheels' files in one archive, the one pyscript.toml lists (unpacked where each wheel
#: would be): one request, which static/boot.js starts beside the runtime's own.
WHEELS_ARCHIVE = "wheels.zip"


def main() -> int:
    if sys.argv[1:] == ["--app-bytecode"]:
        # Only the page's own bytecode (the Makefile, after an edit of app/ or streamchat/).
        compile_app(VENDOR / APP_BYTECODE)
        precompress.write_twins(
            VENDOR / APP_BYTECODE,
            brotli_quality=precompress.BROTLI_QUALITY,
            gzip_level=precompress.GZIP_LEVEL,
        )
        return 0
    if not (NODE_MODULES / "pyodide").is_dir():
        print("node_modules/ is missing: run `npm ci` first", file=sys.stderr)
        return 1
    fresh = VENDOR.with_name("vendor.tmp")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    download_wheels(fresh / "wheels")
    wheels = sorted((fresh / "wheels").glob("*.whl"))
    for wheel in wheels:
        print(f"files left out of {wheel.name}: {trim.trim_wheel(wheel)}")
    copy_pyodide(fresh / "pyodide", wheels)
    # Before the wheels are compiled, so that each .pyc is its shipped source's.
    sources = [fresh / "pyodide" / "python_stdlib.zip", *wheels]
    for archive, (changed, saved) in zip(
        sources, trim.strip_comments(NODE_MODULES / "pyodide", sources), strict=True
    ):
        print(f"comments left out of {archive.name}: {changed} sources, {saved} bytes")
    shutil.copytree(
        NODE_MODULES / "@pyscript" / "core" / "dist",
        fresh / "pyscript",
        ignore=shutil.ignore_patterns("*.map"),
    )
    (fresh / "dompurify").mkdir()
    shutil.copy2(NODE_MODULES / "dompurify" / "dist" / "purify.es.mjs", fresh / "dompurify")
    compile_wheels(wheels)
    write_wheels_archive(wheels, fresh / WHEELS_ARCHIVE)
    compile_app(fresh / APP_BYTECODE)
    write_pygments_css(fresh / "pygments.css")
    for archive in sorted([*fresh.rglob("*.zip"), *fresh.rglob("*.whl")]):
        precompress.store_zip(archive)
    if "--snapshot" in sys.argv[1:]:
        # Not by default yet: measured, not a clear win (docs/startup.md), and `make dist`
        # would ship 31.5 MB more and spend a minute compressing it.
        make_snapshot(fresh)
    precompress.precompress_tree(
        fresh, brotli_quality=precompress.BROTLI_QUALITY, gzip_level=precompress.GZIP_LEVEL
    )
    write_manifest(fresh)
    # Swap in one step so a failed run never leaves a half-built vendor tree behind.
    shutil.rmtree(VENDOR, ignore_errors=True)
    fresh.rename(VENDOR)
    print(f"vendored runtime into {VENDOR.relative_to(ROOT)}/")
    return 0


def copy_pyodide(target: Path, wheels: list[Path]) -> None:
    target.mkdir()
    for name in PYODIDE_FILES:
        if name == "pyodide-lock.json":
            trim.write_lock(NODE_MODULES / "pyodide" / name, target / name)
        elif name != "python_stdlib.zip":
            shutil.copy2(NODE_MODULES / "pyodide" / name, target / name)
    compile_stdlib(
        NODE_MODULES / "pyodide" / "python_stdlib.zip", target / "python_stdlib.zip", wheels
    )


def compile_stdlib(source: Path, target: Path, wheels: list[Path]) -> None:
    """The standard library without what the page never uses (tools/trim.py); the modules that
    importing SNAPSHOT_IMPORTS (with `wheels`) imports as bytecode, the others as source.

    Pyodide ships source only, which every start compiled again; bytecode for all of it
    compresses to twice the size of the source, for modules that mostly never run.
    """
    imported = trim.stdlib_imports(source.parent, wheels, SNAPSHOT_IMPORTS)
    needed = sorted(name for name in imported if trim.stdlib_left_out(name))
    if needed:
        raise SystemExit(f"tools/trim.py leaves out modules the page imports: {needed}")
    with tempfile.TemporaryDirectory() as scratch:
        sources, compiled = Path(scratch) / "imported.zip", Path(scratch) / "compiled.zip"
        trim.write_members(source, sources, imported)
        compile_python(sources, compiled)
        as_bytecode, as_source = trim.write_stdlib(source, compiled, target)
    print(f"standard library: {as_bytecode} modules as bytecode, {as_source} as source")


def compile_wheels(wheels: list[Path]) -> None:
    """Bytecode beside the sources of the wheels' modules that the page imports (those that
    importing SNAPSHOT_IMPORTS imports), written into the wheels."""
    _node(
        "compile_python.mjs",
        NODE_MODULES / "pyodide",
        "--wheels",
        ",".join(SNAPSHOT_IMPORTS),
        *wheels,
    )


def write_wheels_archive(wheels: list[Path], target: Path) -> None:
    """Every file of `wheels`, as they are, in one stored zip (no file may be in two)."""
    owners: dict[str, str] = {}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as merged:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                for info in archive.infolist():
                    if info.filename in owners:
                        raise SystemExit(
                            f"{info.filename} is in {owners[info.filename]} and {wheel.name}"
                        )
                    owners[info.filename] = wheel.name
                    info.compress_type = zipfile.ZIP_STORED
                    merged.writestr(info, archive.read(info.filename))


def compile_app(target: Path) -> None:
    """The page's own modules (`page_bundle.modules`) as bytecode only (`__pycache__/`
    entries): server/page_bundle.py packs them with their sources, and Python checks each
    against its source's hash before using it."""
    with tempfile.TemporaryDirectory() as scratch:
        sources = Path(scratch) / "sources.zip"
        with zipfile.ZipFile(sources, "w") as archive:
            for path in page_bundle.modules(ROOT):
                archive.write(path, path.relative_to(ROOT).as_posix())
        compile_python(sources, target, "--beside", "--checked", "--bytecode-only")


def compile_python(source: Path, target: Path, *flags: str) -> None:
    """tools/compile_python.mjs: compiled by Pyodide's own CPython, in Node (`target` may be
    `source`: it is written once the compiling is done)."""
    _node("compile_python.mjs", NODE_MODULES / "pyodide", source, target, *flags)


def make_snapshot(vendor: Path) -> None:
    """pyodide/snapshot.bin, Python's memory once the wheels are imported, made from the very
    runtime and wheels of `vendor`; and pyodide/snapshot.mjs, which the page starts it with."""
    write_snapshot(vendor / "pyodide", vendor / "pyodide" / "snapshot.bin", vendor / "wheels")
    shutil.copy2(ROOT / "tools" / "snapshot_loader.mjs", vendor / "pyodide" / "snapshot.mjs")
    # Its twins now, at a lower quality: brotli 11 takes about 3 minutes for 31 MB (5.9 MB at
    # quality 5 in 2 s, 4.4 MB at 11); precompress_tree() then keeps them as fresh.
    precompress.write_twins(vendor / "pyodide" / "snapshot.bin", brotli_quality=5, gzip_level=6)


def write_snapshot(pyodide: Path, target: Path, wheels: Path) -> None:
    """tools/make_snapshot.mjs: the memory of the runtime in `pyodide` once it has unpacked the
    wheels in `wheels` and imported SNAPSHOT_IMPORTS, written to `target`."""
    _node(
        "make_snapshot.mjs",
        f"{pyodide}/",
        target,
        ",".join(SNAPSHOT_IMPORTS),
        *sorted(wheels.glob("*.whl")),
    )


def _node(script: str, *args: str | Path) -> None:
    """Runs tools/`script` in Node with `args`; fails loudly if it does."""
    subprocess.run(["node", str(ROOT / "tools" / script), *map(str, args)], check=True)


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
        for path in [*vendor.glob("pyodide/*"), vendor / WHEELS_ARCHIVE]
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
