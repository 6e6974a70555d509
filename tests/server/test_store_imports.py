"""server/store/ and the rest of server/ import without cycles, each module on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import REPO_ROOT

SERVER = REPO_ROOT / "server"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")


STORE_MODULES = sorted(module_name(path) for path in (SERVER / "store").rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """The server modules `path` imports when it runs, wherever the import stands (inside a
    function too); not those only imported for type checking. Importing a module runs its
    packages' __init__ first, so those count as imported too."""
    name = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for statement in block.body
        for node in ast.walk(statement)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    parts = name.split(".")
    found.update(".".join(parts[:n]) for n in range(1, len(parts)))
    return {module for module in found if module.split(".")[0] == "server"} - {name}


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in SERVER.rglob("*.py")}
    return {name: imports_of(path) & modules.keys() for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A chain of imports that comes back to where it began, if the graph has one."""
    done: set[str] = set()

    def visit(module: str, chain: list[str]) -> list[str] | None:
        if module in chain:
            return [*chain[chain.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            cycle = visit(imported, [*chain, module])
            if cycle is not None:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle is not None:
            return cycle
    return None


def test_the_server_imports_no_module_that_imports_it_back() -> None:
    graph = import_graph()
    assert "server.store.types" in graph
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph) or [])


def test_the_store_types_are_a_leaf() -> None:
    graph = import_graph()
    assert {m for m in graph["server.store.types"] if m.startswith("server.store.")} == set()


def test_find_cycle_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", STORE_MODULES)
def test_each_store_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
