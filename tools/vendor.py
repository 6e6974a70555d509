"""Copy the self-hosted runtime into static/vendor/: Pyodide, PyScript, DOMPurify, wheels, CSS.

Run by `make setup` after `npm ci`. Everything it writes is git-ignored and rebuilt from
package-lock.json and requirements/browser.txt, so the page never loads anything from a CDN.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

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
    write_manifest(fresh)
    # Swap in one step so a failed run never leaves a half-built vendor tree behind.
    shutil.rmtree(VENDOR, ignore_errors=True)
    fresh.rename(VENDOR)
    print(f"vendored runtime into {VENDOR.relative_to(ROOT)}/")
    return 0


def copy_pyodide(target: Path) -> None:
    target.mkdir()
    for name in PYODIDE_FILES:
        shutil.copy2(NODE_MODULES / "pyodide" / name, target / name)


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
    """Sizes of the runtime's big files, so the page can show real loading progress."""
    files = sorted([*vendor.glob("pyodide/*"), *vendor.glob("wheels/*.whl")])
    sizes = {path.relative_to(vendor).as_posix(): path.stat().st_size for path in files}
    manifest = {"runtime": sizes, "total": sum(sizes.values())}
    (vendor / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


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
