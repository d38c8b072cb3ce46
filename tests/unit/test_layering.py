"""Module boundaries of alor_core, read from the source (AST): no module imports a private name of
another, and the sub-packages import each other in one direction only."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "alor_core"

# Known, listed in issue 16's closing note; each must disappear, none may be added.
KNOWN_PRIVATE = set()  # data/official.py's four are gone: it keeps its own line-break/int helpers
KNOWN_CYCLE_EDGES = set()  # the demo-world builder moved up to loop/demo_build.py


def _modules():
    for f in sorted(PKG.rglob("*.py")):
        yield f.relative_to(PKG).as_posix(), ast.parse(f.read_text(encoding="utf-8"))


def _target(rel, node):
    """Absolute dotted module of an ``ImportFrom`` inside alor_core (or None for other packages)."""
    if not node.level:
        return node.module if (node.module or "").startswith("alor_core") else None
    parts = ["alor_core"] + rel.split("/")[:-1]
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


# Top-level modules by layer: the base everything uses, and the application layer on top of the
# sub-packages (analysis, report, grid, plots, CLI). Modules of one layer may import each other.
BASE = {"errors", "io", "paths", "progress", "safepath"}


def _package(dotted):
    """Layer of a module: its sub-package, ``base`` or ``app`` for top-level modules."""
    parts = dotted.split(".")
    if len(parts) < 2:
        return ""
    if (PKG / parts[1]).is_dir():
        return parts[1]
    return "base" if parts[1] in BASE else "config" if parts[1] == "config" else "app"


def test_no_module_imports_a_private_name_of_another():
    private_defs = {}
    for rel, tree in _modules():
        for n in ast.walk(tree):
            if (
                isinstance(n, (ast.FunctionDef, ast.ClassDef))
                and n.name.startswith("_")
                and not n.name.startswith("__")
            ):
                private_defs.setdefault(n.name, set()).add(rel)
    found = set()
    for rel, tree in _modules():
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and _target(rel, n):
                found |= {(rel, a.name) for a in n.names if a.name.startswith("_") and not a.name.startswith("__")}
            elif (
                isinstance(n, ast.Attribute)
                and n.attr in private_defs
                and rel not in private_defs[n.attr]
                and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))
            ):
                found.add((rel, n.attr))
    assert found - KNOWN_PRIVATE == set(), "make these names public (no leading underscore) or keep them local"


def test_sub_packages_do_not_import_each_other_both_ways():
    edges = {}
    for rel, tree in _modules():
        me = _package("alor_core." + rel.removesuffix(".py").replace("/", "."))
        for n in ast.walk(tree):
            targets = (
                [_target(rel, n)]
                if isinstance(n, ast.ImportFrom)
                else [a.name for a in n.names if a.name.startswith("alor_core")]
                if isinstance(n, ast.Import)
                else []
            )
            for t in filter(None, targets):
                other = _package(t)
                if other and me and other != me:
                    edges.setdefault((me, other), set()).add(rel)
    cycles = {(rel, b) for (a, b), rels in edges.items() if (b, a) in edges for rel in rels}
    # a cycle is the pair of edges; report the edge that goes against the layering (the known ones)
    against = {(rel, b) for rel, b in cycles if (rel, b) in KNOWN_CYCLE_EDGES}
    unknown = {
        (rel, b)
        for rel, b in cycles
        if (rel, b) not in KNOWN_CYCLE_EDGES
        and not any(k[1] == rel.split("/")[0] and b == k[0].split("/")[0] for k in KNOWN_CYCLE_EDGES)
    }
    assert unknown == set(), f"import cycles between sub-packages: {sorted(unknown)} (known: {sorted(against)})"
    assert ("loop", "analysis") not in edges, edges.get(("loop", "analysis"))
