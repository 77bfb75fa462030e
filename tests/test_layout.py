"""The house: one subpackage per stage, imports only downward, small modules.

The stages in the order of the data's way; a module may import from its own
stage and the ones before it, never after.  ``web`` and ``evaluation`` are
peers (both read ``qa``), and ``cli`` sits on top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"
#: Stage → its rank; modules outside a stage package rank by their name.
RANKS = {"config": 0, "text": 1, "corpus": 2, "embedding": 2, "index": 3, "retrieval": 4, "answer": 5,
         "qa": 6, "web": 7, "evaluation": 7, "cli": 8, "__main__": 9, "__init__": 9}
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for path in SERVICE.rglob("*.py"):
        parts = path.relative_to(SERVICE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The service modules ``name`` imports (at any depth: lazy imports count)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for c in candidates:
            while c and c not in MODULES:
                c = c.rpartition(".")[0]
            if c and c != name and c != "service":
                found.add(c)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _stage(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_walk_sees_the_stages():
    assert {_stage(n) for n in MODULES} >= {"text", "corpus", "index", "retrieval", "answer", "qa", "web", "evaluation"}
    assert "service.index.store" in GRAPH["service.index.build"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_later_stage(name):
    if _stage(name) == "__init__":
        return  # the package's facade opens whatever it exports
    rank = RANKS[_stage(name)]
    later = sorted(m for m in GRAPH[name] if RANKS[_stage(m)] > rank
                   or (RANKS[_stage(m)] == rank and _stage(m) != _stage(name)))
    assert not later, f"{name} imports a later or sideways stage: {later}"


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_modules_are_small_and_not_named_like_the_standard_library():
    long = [f"{p.relative_to(SERVICE.parent)} ({n})" for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"over {MAX_LINES} lines: {long}"
    clashes = sorted(p.stem for p in MODULES.values() if p.stem in sys.stdlib_module_names)
    assert not clashes, f"named like standard-library modules: {clashes}"
