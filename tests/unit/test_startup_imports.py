"""The page is ready before its renderer is loaded: what app/main.py imports at the top
leaves Markdown and Pygments for `ChatPage.load_renderer` (docs/startup.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("markdown", "pygments", "pymdownx", "latex2mathml", "streamchat.render")

# `js` and Pyodide's modules stand-ins: any attribute, any call.
PROBE = """
import sys, types

class Anything:
    def __getattr__(self, name):
        return Anything()

    def __call__(self, *args, **kwargs):
        return Anything()

for name in ("js", "pyodide", "pyodide.ffi", "pyodide_js", "pyodide_js._api"):
    module = types.ModuleType(name)
    module.__getattr__ = lambda name: Anything()
    sys.modules[name] = module
for name in sys.argv[1].split(","):
    __import__(name)
print(",".join(sorted(name for name in sys.argv[2].split(",") if name in sys.modules)))
"""


def _top_level_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in tree.body:  # not those inside functions or `if TYPE_CHECKING:`
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def _imported(modules: list[str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(modules), ",".join(HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_pages_start_up_imports_leave_the_renderer_for_later() -> None:
    modules = _top_level_imports(ROOT / "app" / "main.py")
    assert "app.browser.dom" in modules
    assert _imported(modules) == []


def test_the_probe_sees_the_renderer_when_it_is_imported() -> None:
    assert "markdown" in _imported(["app.browser.live_answer"])
