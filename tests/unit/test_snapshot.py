"""tools/make_snapshot.mjs and the page's loader (tools/snapshot_loader.mjs), run in Node."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYODIDE = ROOT / "static" / "vendor" / "pyodide"

pytestmark = pytest.mark.skipif(
    not (PYODIDE / "pyodide.asm.wasm").is_file() or shutil.which("node") is None,
    reason="static/vendor/ is missing: run `make setup`",
)

# Starts Python through the loader from the given bytes, as the page does, and reports.
PROBE = """
import fs from "node:fs";
const { loadPyodideFrom } = await import(process.argv[1]);
const bytes = process.argv[2] === "-" ? new Uint8Array(64) : fs.readFileSync(process.argv[2]);
const pyodide = await loadPyodideFrom(bytes, { indexURL: process.argv[3] });
const probe = pyodide.runPython(`
import json, random, sys
json.dumps({"markdown": "markdown" in sys.modules,
            "html": sys.modules["markdown"].markdown("**a**") if "markdown" in sys.modules else "",
            "draw": random.random()})
`);
console.log(JSON.stringify({ ...globalThis.pyodideSnapshot, ...JSON.parse(probe) }));
"""


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vendored runtime with its snapshot (`tools/vendor.py --snapshot`), or, without one,
    the vendored runtime beside a snapshot made now as tools/vendor.py makes it."""
    if (PYODIDE / "snapshot.bin").is_file():
        return PYODIDE
    folder = tmp_path_factory.mktemp("pyodide")
    for path in PYODIDE.iterdir():
        (folder / path.name).symlink_to(path)
    shutil.copy2(ROOT / "tools" / "snapshot_loader.mjs", folder / "snapshot.mjs")
    sys.path.insert(0, str(ROOT / "tools"))
    import vendor

    vendor.write_snapshot(PYODIDE, folder / "snapshot.bin", PYODIDE.parent / "wheels")
    return folder


def start(runtime: Path, snapshot: str | None = None) -> dict[str, object]:
    """Python started by the page's loader from `snapshot` (default: the runtime's own)."""
    done = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            PROBE,
            str(runtime / "snapshot.mjs"),
            snapshot or str(runtime / "snapshot.bin"),
            f"{runtime}/",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_snapshot_restores_python_with_the_wheels_imported(runtime: Path) -> None:
    result = start(runtime)
    assert result["restored"] is True
    assert result["markdown"] is True
    assert result["html"] == "<p><strong>a</strong></p>"


def test_each_restore_draws_other_random_numbers(runtime: Path) -> None:
    first, second = start(runtime), start(runtime)
    assert first["draw"] != second["draw"]


def test_a_snapshot_that_does_not_match_falls_back_to_a_normal_start(runtime: Path) -> None:
    result = start(runtime, "-")
    assert result["restored"] is False
    assert "magic number" in str(result["reason"])
    assert result["markdown"] is False  # a normal start: nothing imported beforehand


@pytest.mark.skipif(
    not (PYODIDE / "snapshot.mjs").is_file(), reason="no vendored snapshot (`--snapshot`)"
)
def test_the_vendored_loader_is_the_one_in_tools() -> None:
    assert (PYODIDE / "snapshot.mjs").read_bytes() == (
        ROOT / "tools" / "snapshot_loader.mjs"
    ).read_bytes()
