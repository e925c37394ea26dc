"""Layers import only downwards (DESIGN.md §3b), and no module imports itself back in a cycle.

utils -> types -> data -> views / encoders -> modalities -> objectives / negatives -> train
-> eval / export -> api / models (the saved-model format, beside api) -> recipes. Every import of a ``multicl`` module is checked, including
imports inside functions and under TYPE_CHECKING: an upward import is a design error even when
it happens to be lazy.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "multicl"
LAYERS = {"utils": 0, "types": 1, "data": 2, "views": 3, "encoders": 3, "modalities": 4, "objectives": 5, "negatives": 5,
          "train": 6, "eval": 7, "export": 7, "api": 8, "models": 8, "recipes": 9, "resources": 0, "errors": 0}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool = False) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("multicl"):
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("multicl")]
    return found


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    packages |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert packages <= set(LAYERS), f"place {sorted(packages - set(LAYERS))} in LAYERS (and DESIGN.md §3b)"


def test_no_upward_imports():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue  # the package root re-exports the public API
        mine = parts[0]
        for target, line in imports(path):
            pieces = target.split(".")
            if len(pieces) < 2:
                continue
            theirs = pieces[1]
            if LAYERS.get(theirs, -1) > LAYERS[mine]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine}) imports {target} ({theirs})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        graph[module_name(path)] = {t for t, _ in imports(path, top_level_only=True)}
    modules = set(graph)
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, trail: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            nxt = nxt if nxt in modules else nxt.rsplit(".", 1)[0]
            if nxt not in modules or nxt == node or node.startswith(nxt + "."):
                continue  # a package's own __init__ is not a cycle partner of its submodules
            if state.get(nxt) == 1:
                cycle.extend(trail + [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, trail + [node]):
                return True
        state[node] = 2
        return False

    for module in sorted(modules):
        if state.get(module) is None and visit(module, []):
            break
    assert not cycle, " -> ".join(cycle)
