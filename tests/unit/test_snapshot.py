"""tools/make_snapshot.mjs and the page's loader (tools/snapshot_loader.mjs), run in Node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYODIDE = ROOT / "static" / "vendor" / "pyodide"

pytestmark = pytest.mark.skipif(
    not (PYODIDE / "snapshot.bin").is_file() or shutil.which("node") is None,
    reason="no snapshot: run `.venv/bin/python tools/vendor.py --snapshot`",
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


def start(snapshot: str) -> dict[str, object]:
    loader = PYODIDE / "snapshot.mjs"
    done = subprocess.run(
        ["node", "--input-type=module", "-e", PROBE, str(loader), snapshot, f"{PYODIDE}/"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_snapshot_restores_python_with_the_wheels_imported() -> None:
    result = start(str(PYODIDE / "snapshot.bin"))
    assert result["restored"] is True
    assert result["markdown"] is True
    assert result["html"] == "<p><strong>a</strong></p>"


def test_each_restore_draws_other_random_numbers() -> None:
    first, second = start(str(PYODIDE / "snapshot.bin")), start(str(PYODIDE / "snapshot.bin"))
    assert first["draw"] != second["draw"]


def test_a_snapshot_that_does_not_match_falls_back_to_a_normal_start() -> None:
    result = start("-")
    assert result["restored"] is False
    assert "magic number" in str(result["reason"])
    assert result["markdown"] is False  # a normal start: nothing imported beforehand


def test_the_loader_is_the_one_in_tools() -> None:
    assert (PYODIDE / "snapshot.mjs").read_bytes() == (
        ROOT / "tools" / "snapshot_loader.mjs"
    ).read_bytes()
