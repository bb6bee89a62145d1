"""The house's layers (docs/ARCHITECTURE.md): no import circle between modules, and no import that
runs up a layer. Every import statement counts, lazy ones and TYPE_CHECKING ones included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"opencoder_local": ROOT / "opencoder_local", "opencoder_convert": ROOT / "convert"}

# The layer of each part: a module may import its own layer and those below it.
LAYERS = {
    "errors": 0, "files": 0, "documents": 0, "locations": 0, "progress": 0, "safetensors_header": 0,
    "children": 0, "peer_data": 0, "terminal_text": 0, "opencoder_local": 0,
    "engine": 1,
    "models": 2, "opencoder_convert": 2,
    "context": 3, "store": 3, "settings": 3, "evaluation": 3, "loop": 3,
    "tui": 4, "cli": 4, "__main__": 5,
}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of this project that `name` imports (a package's submodule, not the package, when
    the import names submodules)."""
    targets: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            subs = {f"{base}.{alias.name}" for alias in node.names} & known.keys()
            targets.update(subs if len(subs) == len(node.names) else {base, *subs})
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def part(module: str) -> str:
    pieces = module.split(".")
    if pieces[0] == "opencoder_convert":
        return "opencoder_convert"
    return pieces[1] if len(pieces) > 1 else pieces[0]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_part_has_a_layer():
    assert {part(m) for m in modules()} <= LAYERS.keys()


def test_no_import_circles():
    assert circles(graph()) == []


def test_no_import_runs_up_a_layer():
    upward = sorted(f"{a} -> {b}" for a, targets in graph().items() for b in targets
                    if LAYERS[part(b)] > LAYERS[part(a)])
    assert upward == []


def test_the_checks_see_a_circle_and_an_upward_import():
    edges = {"opencoder_local.engine.a": {"opencoder_local.models.b"}, "opencoder_local.models.b": {"opencoder_local.engine.a"}}
    assert circles(edges) == [["opencoder_local.engine.a", "opencoder_local.models.b"]]
    assert LAYERS[part("opencoder_local.models.b")] > LAYERS[part("opencoder_local.engine.a")]
