"""Build dist/streamchat-<version>-py3-none-any.whl: the `streamchat` package alone, offline.

A wheel is a zip of the package plus a `.dist-info` directory (PEP 427, PEP 376): METADATA
(name, version, dependencies), WHEEL (the tags) and RECORD (each file's sha256 and size).
Building one needs nothing but the standard library, so this works without a build backend
or the network. The version is pyproject.toml's; the runtime dependencies are
requirements/browser.txt's pins (the renderer's), and httpx, for `HttpxTransport`, is the
extra `httpx` (`pip install "streamchat[httpx]"`), at least the version the back end pins.

The build is reproducible: files in a fixed order with a fixed timestamp
(`SOURCE_DATE_EPOCH` if set), so the same sources give the same bytes.

    python tools/build_wheel.py [--out DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import sys
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "streamchat"
TAG = "py3-none-any"
#: Extras and the requirements file whose pin is each one's minimum version.
EXTRAS = {"httpx": ("httpx", "requirements/dev.txt")}


def build(out: Path, root: Path = ROOT) -> Path:
    """Write the wheel into `out` (created if missing); returns its path."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    version = str(project["version"])
    dist_info = f"{PACKAGE}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    files[f"{PACKAGE}/py.typed"] = b""  # PEP 561: the package's annotations are for checkers
    files[f"{dist_info}/METADATA"] = metadata(project, root).encode()
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: {PACKAGE} tools/build_wheel.py\n"
        f"Root-Is-Purelib: true\nTag: {TAG}\n"
    ).encode()
    record = f"{dist_info}/RECORD"
    lines = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()

    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{PACKAGE}-{version}-{TAG}.whl"
    stamp = time.gmtime(max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800))
    partial = wheel.with_name(wheel.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=stamp[:6])
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    partial.replace(wheel)
    return wheel


def metadata(project: dict[str, object], root: Path = ROOT) -> str:
    """The METADATA file (core metadata 2.1)."""
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {PACKAGE}",
        f"Version: {project['version']}",
        "Summary: A resilient client for streamed chat answers (SSE) and a streaming"
        " Markdown renderer, for CPython and Pyodide",
        f"Requires-Python: {project.get('requires-python', '>=3.11')}",
    ]
    license_ = project.get("license")
    if isinstance(license_, dict) and "text" in license_:
        lines.append(f"License: {license_['text']}")
    pins = _pins(root / "requirements/browser.txt")
    lines += [f"Requires-Dist: {name}=={version}" for name, version in pins.items()]
    for extra, (name, source) in EXTRAS.items():
        lines.append(f"Provides-Extra: {extra}")
        lines.append(f'Requires-Dist: {name}>={_pins(root / source)[name]}; extra == "{extra}"')
    return "\n".join(lines) + "\n"


def _pins(requirements: Path) -> dict[str, str]:
    text = requirements.read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M))


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="default: dist/")
    args = parser.parse_args(argv)
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
