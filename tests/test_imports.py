"""The core's import graph has no cycles, lazy (in-function) imports included."""
from __future__ import annotations

import ast
import importlib.util

from tests.conftest import ROOT

PKG = "scperturb_core"


def _modules() -> dict[str, tuple[ast.Module, str]]:
    """module name -> (its syntax tree, the package its relative imports resolve against)."""
    out = {}
    for path in sorted((ROOT / PKG).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            name = ".".join(parts[:-1])
            package = name
        else:
            name = ".".join(parts)
            package = name.rpartition(".")[0]
        out[name] = (ast.parse(path.read_text(encoding="utf-8")), package)
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the core modules it imports anywhere in its body."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, (tree, package) in mods.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = (importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                        if node.level else node.module or "")
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in mods and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_core_has_no_import_cycles():
    graph = import_graph()
    assert f"{PKG}.models.predictor" in graph and f"{PKG}.models.checkpoint" in graph[f"{PKG}.models.predictor"]
    assert cycles(graph) == []
