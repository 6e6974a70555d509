"""What the page is sent of Pyodide's standard library and of its wheels, and what is left out.

Imported by tools/vendor.py (tools/ on the path). The standard library arrives as
`python_stdlib.zip` with: bytecode for the modules the page imports (`stdlib_imports()`:
those that importing tools/vendor.py's SNAPSHOT_IMPORTS imports, in Node, which is what the
page imports until ready and while it answers), so that the page never compiles them; source
for the other modules, which compresses to about half as much and costs compiling only if
something ever imports them; and nothing of the modules below, which nothing in a browser
chat page imports. The lists are deny-lists: a module stays unless it is named here, with the
reason it is safe to leave out. tests/unit/test_vendor.py checks them against the runtime
(every module kept imports as in npm's runtime; everything the wheels hold imports, and a
code fence in every Pygments language renders) and against the imports recorded from the
page itself (tests/unit/page_stdlib_imports.txt, `python tools/trim.py --record URL`).
Out of every Python source that is sent go its comments (`strip_comments()`: only where the
code compiled is the same), and out of Pyodide's lock file its packages (`write_lock()`).

Pyodide itself already leaves out tkinter, idlelib, turtledemo, lib2to3, ensurepip, venv,
curses, dbm and the test suite, so they are not named here. Imports of left-out modules that
kept modules make are all on paths the page never takes: inside a function (site's REPL
(_pyrepl), help() (pydoc), platform's libc probe (ctypes), logging's SMTPHandler (smtplib),
urllib's ftp: URLs (ftplib), logging.config's QueueHandler (multiprocessing), zipfile's
PyZipFile.writepy (py_compile), concurrent.futures.ProcessPoolExecutor), on Windows only
(asyncio's event loop), or as a fallback for a C module Pyodide has (abc, datetime).
"""

from __future__ import annotations

import copy
import fnmatch
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

#: Standard-library modules and packages (and all below them) left out, by why it is safe.
STDLIB_LEFT_OUT: dict[str, tuple[str, ...]] = {
    "tools for a developer at an interactive interpreter or a command line; the page has "
    "neither (`help()` would need pydoc, `python -m asyncio` _pyrepl and asyncio.tools, "
    "`python -m json` json.tool)": (
        "_pyrepl",
        "asyncio.__main__",
        "asyncio.tools",
        "bdb",
        "cmd",
        "cProfile",
        "compileall",
        "doctest",
        "json.__main__",
        "json.tool",
        "modulefinder",
        "pdb",
        "pickletools",
        "profile",
        "pstats",
        "py_compile",
        "pyclbr",
        "pydoc",
        "sysconfig.__main__",
        "tabnanny",
        "timeit",
        "trace",
        "unittest",
        "zipapp",
        "zipfile.__main__",
    ),
    "processes, terminals, C libraries and databases, which a browser tab does not give "
    "(concurrent.futures' process pool needs multiprocessing; its thread pool, which asyncio "
    "uses, stays)": (
        "concurrent.futures.process",
        "ctypes",
        "getpass",
        "multiprocessing",
        "pty",
        "shelve",
        "sqlite3",
        "tty",
        "webbrowser",
    ),
    "servers, and mail and file-transfer clients, all over sockets that a page cannot open "
    "(socketserver stays: logging.config imports it)": (
        "ftplib",
        "http.server",
        "imaplib",
        "mailbox",
        "poplib",
        "smtplib",
        "wsgiref",
        "xmlrpc",
    ),
    "pure-Python twins of modules Pyodide builds in C (_abc, _datetime, _io), "
    "imported only where the C one is missing": (
        "_py_abc",
        "_pydatetime",
        "_pyio",
    ),
    "subinterpreters, which Pyodide is built without (it has no _interpreters): these fail "
    "to import in npm's runtime too": (
        "concurrent.futures.interpreter",
        "concurrent.interpreters",
    ),
    "Windows only (Pyodide's os.name is posix)": (
        "asyncio.windows_events",
        "asyncio.windows_utils",
        "nturl2path",
    ),
    "jokes and samples": ("__hello__", "__phello__", "antigravity", "this"),
}

#: The text codecs kept; every other module of `encodings` is left out: the 8-bit code pages
#: (cp1252, iso8859_2, koi8_r, mac_roman, …), the East Asian multibyte ones (shift_jis, gbk,
#: big5, …) and the Windows-only ones (mbcs, oem). Text reaches the page's Python as
#: JavaScript strings or as UTF-8 (an event stream is UTF-8 by definition, and
#: streamchat.sse decodes it so); HTTP headers are latin-1 and zip names without the UTF-8
#: flag cp437 (zipfile); the byte transforms (base64, zlib, …) are kept with the Unicode
#: codecs.
ENCODINGS_KEPT = (
    "aliases",
    "ascii",
    "base64_codec",
    "bz2_codec",
    "charmap",
    "cp437",
    "hex_codec",
    "idna",
    "latin_1",
    "punycode",
    "quopri_codec",
    "raw_unicode_escape",
    "rot_13",
    "undefined",
    "unicode_escape",
    "utf_16",
    "utf_16_be",
    "utf_16_le",
    "utf_32",
    "utf_32_be",
    "utf_32_le",
    "utf_7",
    "utf_8",
    "utf_8_sig",
    "uu_codec",
    "zlib_codec",
)

#: Files left out of the wheels, by the wheel's distribution name: (pattern, files of it that
#: stay, why). The patterns are fnmatch patterns over the wheel's member names. Every
#: Pygments lexer stays: a code fence may name any language.
WHEELS_LEFT_OUT: dict[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    "pygments": (
        (
            "pygments/formatters/*.py",
            ("__init__.py", "_mapping.py", "html.py"),
            "the page formats code as HTML only (HtmlFormatter, also what pymdownx.highlight "
            "asks for); the others write images, LaTeX, RTF, SVG or terminal escapes",
        ),
        (
            "pygments/styles/*.py",
            ("__init__.py", "_mapping.py", "default.py"),
            "the page's colours are static/vendor/pygments.css, made at setup by the setup's "
            "own Pygments; in the page HtmlFormatter loads only its default style",
        ),
        ("pygments/cmdline.py", (), "the `pygmentize` command line"),
        ("pygments/__main__.py", (), "the `pygmentize` command line"),
        ("pygments/sphinxext.py", (), "a Sphinx plug-in (it imports docutils)"),
    ),
    "markdown": (
        (
            "markdown/test_tools.py",
            (),
            "helpers for Markdown's own test suite (they import unittest)",
        ),
    ),
    "pymdown_extensions": (
        (
            "pymdownx/*emoji*.py",
            (),
            "the renderer enables a fixed set of extensions (streamchat/render.py) and emoji "
            "is not one; its three indexes are 1.2 MB of the wheel's 1.9",
        ),
        (
            "pymdownx/blocks/*",
            (),
            "it imports yaml, which the page does not have: it cannot be imported there",
        ),
        (
            "pymdownx/fancylists.py",
            (),
            "it imports pymdownx.blocks (yaml): it cannot be imported there",
        ),
    ),
}


def stdlib_left_out(member: str) -> bool:
    """Whether the standard library's zip member `member` (`email/utils.py`) is left out."""
    stem = member.rstrip("/").removesuffix(".py").removesuffix(".pyc").removesuffix("/__init__")
    module = stem.replace("/", ".")
    if module.startswith("encodings."):
        return module.removeprefix("encodings.") not in ENCODINGS_KEPT
    return any(
        module == name or module.startswith(name + ".")
        for names in STDLIB_LEFT_OUT.values()
        for name in names
    )


def wheel_left_out(distribution: str, member: str) -> bool:
    """Whether `member` of the wheel of `distribution` (`pygments`) is left out."""
    return any(
        fnmatch.fnmatchcase(member, pattern) and member.rsplit("/", 1)[-1] not in kept
        for pattern, kept, _why in WHEELS_LEFT_OUT.get(distribution, ())
    )


def distribution(wheel: Path) -> str:
    """`pygments` for pygments-2.21.0-py3-none-any.whl."""
    return wheel.name.split("-", 1)[0].lower()


def trim_wheel(wheel: Path) -> int:
    """Rewrites `wheel` without the files WHEELS_LEFT_OUT names (and their RECORD lines), its
    members stored; returns how many files it left out."""
    name = distribution(wheel)
    with zipfile.ZipFile(wheel) as source:
        members = source.infolist()
        gone = {member.filename for member in members if wheel_left_out(name, member.filename)}
        if not gone:
            return 0
        contents = [
            (_stored(member), source.read(member))
            for member in members
            if member.filename not in gone
        ]
    fresh = wheel.with_name(wheel.name + ".tmp")
    with zipfile.ZipFile(fresh, "w") as target:
        for info, data in contents:
            target.writestr(info, _without_records(data, gone) if _is_record(info) else data)
    fresh.replace(wheel)
    return len(gone)


def write_stdlib(source: Path, compiled: Path, target: Path) -> tuple[int, int]:
    """`target`: the standard library of `source` (npm's, sources) without what is left out,
    each module as its bytecode where `compiled` holds it (`name.pyc` for `name.py`), as
    source otherwise, members stored. Returns (modules as bytecode, modules as source).

    The sources come first and the bytecode after them: like with like compresses better
    (1 % here)."""
    with zipfile.ZipFile(compiled) as archive:
        bytecode = {name: archive.read(name) for name in archive.namelist()}
    as_source, as_bytecode = [], []
    with zipfile.ZipFile(source) as original:
        for member in original.infolist():
            if stdlib_left_out(member.filename):
                continue
            pyc = bytecode.get(member.filename + "c")
            if pyc is None:
                as_source.append((_stored(member), original.read(member)))
            else:
                info = zipfile.ZipInfo(member.filename + "c", member.date_time)
                as_bytecode.append((_stored(info), pyc))
    with zipfile.ZipFile(target, "w") as trimmed:
        for info, data in [*as_source, *as_bytecode]:
            trimmed.writestr(info, data)
    sources = sum(info.filename.endswith(".py") for info, _ in as_source)
    return len(as_bytecode), sources


def write_lock(source: Path, target: Path) -> None:
    """`target`: Pyodide's lock file `source` without its packages.

    It lists the 357 packages of Pyodide's distribution, for `loadPackage()` and micropip
    (22 kB brotli'd). The page loads none of them: none is vendored, and PyScript loads
    micropip only for a `packages` entry, which pyscript.toml does not have. Pyodide reads
    `info` (its ABI version must match) and needs the `packages` key."""
    lock = json.loads(source.read_text(encoding="utf-8"))
    trimmed = {**lock, "packages": {}}
    target.write_text(json.dumps(trimmed, separators=(",", ":")) + "\n", encoding="utf-8")


def strip_comments(pyodide: Path, archives: Sequence[Path]) -> list[tuple[int, int]]:
    """Rewrites each zip of `archives` (the standard library, wheels) in place with the
    comments left out of its Python sources, members stored; RECORD lines follow the files
    they hash. Returns, per archive, how many sources changed and how many bytes they lost.

    Each source is kept as it was unless Pyodide's own CPython (in Node, the runtime of
    `pyodide`) compiles it without its comments to code equal to the original's: the same
    bytecode, constants and docstrings, each instruction on the same line and column (a
    comment takes its line's end, never its line). Only tracebacks and `inspect` would
    show the difference. Sources that are not UTF-8 stay as they are."""
    done = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            _STRIP_IN_NODE,
            f"{pyodide.resolve()}/",
            _WITHOUT_COMMENTS,
            *map(str, archives),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    counts: list[list[int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return [(changed, saved) for changed, saved in counts]


def stdlib_imports(pyodide: Path, wheels: Sequence[Path], modules: Sequence[str]) -> list[str]:
    """The standard library's members (`email/utils.py`) of the modules that importing
    `modules` imports in the runtime of `pyodide` (npm's: sources), run in Node with `wheels`
    unpacked into the home directory as PyScript's `"./*"` does; Pyodide's own start-up
    imports included."""
    done = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            _IMPORTS_IN_NODE,
            f"{pyodide.resolve()}/",
            ",".join(modules),
            *map(str, wheels),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    imported: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return imported


def write_members(source: Path, target: Path, names: Iterable[str]) -> None:
    """`target`: only the members `names` of the zip `source`."""
    wanted = set(names)
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as subset:
        for member in original.infolist():
            if member.filename in wanted:
                subset.writestr(_stored(member), original.read(member))


# Python started in Node as the page starts it; prints the standard-library files imported.
_IMPORTS_IN_NODE = """
import fs from "node:fs";
const [indexURL, modules, ...wheels] = process.argv.slice(1);
const { loadPyodide } = await import(indexURL + "pyodide.mjs");
const pyodide = await loadPyodide({ indexURL });
for (const wheel of wheels) {
  pyodide.unpackArchive(new Uint8Array(fs.readFileSync(wheel)), "whl", { extractDir: "." });
}
pyodide.globals.set("modules", pyodide.toPy(modules.split(",").filter(Boolean)));
console.log(pyodide.runPython(`
import importlib, json, sys
for name in modules:
    importlib.import_module(name)
mount = next(entry for entry in sys.path if entry.endswith(".zip")) + "/"
files = (getattr(module, "__file__", None) or "" for module in list(sys.modules.values()))
json.dumps(sorted({name[len(mount):] for name in files if name.startswith(mount)}))
`));
"""


# Runs `code` (argv: the runtime's folder, Python code, zips) with `archives` set to the
# zips' copies in Python's file system, writes them back; prints the code's last value.
_STRIP_IN_NODE = """
import fs from "node:fs";
const [indexURL, code, ...archives] = process.argv.slice(1);
const { loadPyodide } = await import(indexURL + "pyodide.mjs");
const pyodide = await loadPyodide({ indexURL });
const inside = archives.map((archive, index) => {
  const name = `/tmp/archive${index}.zip`;
  pyodide.FS.writeFile(name, new Uint8Array(fs.readFileSync(archive)));
  return name;
});
pyodide.globals.set("archives", pyodide.toPy(inside));
const result = pyodide.runPython(code);
archives.forEach((archive, index) => fs.writeFileSync(archive, pyodide.FS.readFile(inside[index])));
console.log(result);
"""

# Python, run by _STRIP_IN_NODE: each zip of `archives` rewritten without its sources'
# comments; a JSON list of [sources changed, bytes saved] per zip.
_WITHOUT_COMMENTS = r"""
import base64, copy, hashlib, io, json, tokenize, zipfile

def without_comments(source):
    # Only UTF-8 sources (no BOM, no other coding): a line's columns are then its characters.
    if tokenize.detect_encoding(io.BytesIO(source).readline)[0] != "utf-8":
        return source
    lines = io.BytesIO(source).readlines()  # as tokenize reads them: split at b"\n" only
    for token in tokenize.tokenize(io.BytesIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            line = lines[row - 1].decode("utf-8")
            ending = line[len(line.rstrip("\r\n")):]
            lines[row - 1] = (line[:column].rstrip(" \t\f") + ending).encode("utf-8")
    return b"".join(lines)

def same_code(name, before, after):
    try:
        original = compile(before, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return compile(after, name, "exec", dont_inherit=True) == original

def hashed(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest},{len(data)}"

counts = []
for archive in archives:
    with zipfile.ZipFile(archive) as original:
        members = [(member, original.read(member)) for member in original.infolist()]
    changed, saved = {}, 0
    for index, (member, data) in enumerate(members):
        if member.filename.endswith(".py"):
            try:
                stripped = without_comments(data)
            except (SyntaxError, tokenize.TokenError, UnicodeDecodeError):
                continue
            if stripped != data and same_code(member.filename, data, stripped):
                members[index] = (member, stripped)
                changed[member.filename] = stripped
                saved += len(data) - len(stripped)
    with zipfile.ZipFile(archive, "w") as rewritten:
        for member, data in members:
            if member.filename.endswith(".dist-info/RECORD"):
                lines = data.decode("utf-8").splitlines(keepends=True)
                for index, line in enumerate(lines):
                    name = line.split(",", 1)[0]
                    if name in changed:
                        lines[index] = f"{name},{hashed(changed[name])}\n"
                data = "".join(lines).encode("utf-8")
            info = copy.copy(member)
            info.compress_type = zipfile.ZIP_STORED
            rewritten.writestr(info, data)
    counts.append([len(changed), saved])
json.dumps(counts)
"""


def _stored(member: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A copy of `member` to write stored (ZipFile.writestr changes the one it is given)."""
    info = copy.copy(member)
    info.compress_type = zipfile.ZIP_STORED
    return info


def _is_record(member: zipfile.ZipInfo) -> bool:
    return member.filename.endswith(".dist-info/RECORD")


def _without_records(record: bytes, gone: set[str]) -> bytes:
    lines = record.decode("utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if line.split(",", 1)[0] not in gone).encode("utf-8")


# The standard-library files the page has imported, asked of its interpreter.
_RECORD_IN_PAGE = """async () => {
  const core = await import(new URL("static/vendor/pyscript/core.js", location.href).href);
  const python = (await core.whenDefined("py")).interpreter;
  return python.runPython(`
import json, sys
mount = next(entry for entry in sys.path if entry.endswith(".zip")) + "/"
files = (getattr(module, "__file__", None) or "" for module in list(sys.modules.values()))
inside = (name[len(mount):] for name in files if name.startswith(mount))
json.dumps(sorted({name.removesuffix("c").removesuffix(".py") for name in inside}))
`);
}"""
RECORD_HEADER = """\
# The standard-library modules the page imported (ready, then three answers), as members of
# python_stdlib.zip without their suffix. Recorded in Chromium by
#     python tools/trim.py --record http://127.0.0.1:8000/ > tests/unit/page_stdlib_imports.txt
# (against `make run`); tests/unit/test_vendor.py checks that each comes as bytecode."""
_QUESTIONS = (
    "How does the page resume a dropped stream?",
    "How is the retry delay computed with exponential back-off?",
    "What is PyScript?",
)


def record_page_imports(url: str) -> list[str]:
    """The standard library's modules (`email/utils`, `json/__init__`: members without their
    suffix) that the page at `url` has imported once it is ready and has answered _QUESTIONS
    (Debian's Chromium, through Playwright)."""
    from chromium import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("html[data-app-state=ready]", timeout=120_000)
            for index, question in enumerate(_QUESTIONS):
                page.fill("textarea[name=question]", question)
                page.keyboard.press("Enter")
                page.wait_for_function(
                    "(i) => document.querySelectorAll('[data-role=answer]')[i]"
                    "?.getAttribute('data-state') === 'done'",
                    arg=index,
                    timeout=60_000,
                )
            recorded: list[str] = json.loads(page.evaluate(_RECORD_IN_PAGE))
        finally:
            browser.close()
    return recorded


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] != "--record":
        print("usage: python tools/trim.py --record URL  (a running `make run`)", file=sys.stderr)
        return 2
    print(RECORD_HEADER)
    for module in record_page_imports(argv[1]):
        print(module)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
