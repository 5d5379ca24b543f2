"""The package's shape: one namespace, layers that import only downward, no cycles.

Read from the source with `ast` (every import, at module level or inside a function),
so an import hidden in a function cannot hide a cycle.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ingest", "index", "assistant", "eval")
# Lowest first: a module may import its own layer and those before it, never a later one.
LAYERS = (
    ("zhice.ingest",),
    ("zhice.index",),
    ("zhice.assistant",),  # question to cited answer (cli and web excepted, below)
    ("zhice.eval",),
    ("zhice.assistant.cli", "zhice.assistant.web", "zhice.assistant.api"),  # the interfaces
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(("zhice", *parts))] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The zhice modules `name` imports (a package's __init__ counts for `from pkg import x`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _layer(module: str) -> int:
    best, at = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, at = len(prefix), i
    return at


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_no_bare_top_level_imports_of_our_packages():
    bare = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and not node.level else [])
            bare += [f"{name}: {n}" for n in names if n.split(".")[0] in PACKAGES]
    assert bare == []


def test_layers_import_only_downward():
    upward = [f"{a} -> {b}" for a, targets in _graph().items() for b in targets
              if _layer(b) > _layer(a)]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            # a package's __init__ importing its own submodule is how packages work
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_graph_sees_imports_inside_functions(tmp_path):
    """The checker itself: a function-level import is an edge like any other."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from zhice.index import store\n", encoding="utf-8")
    assert _imports("zhice.ingest.m", source, {"zhice.index.store"}) == {"zhice.index.store"}
