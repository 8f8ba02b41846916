"""The library's shape, measured from its source: no import cycle, no module over 400 lines,
no function over 60 (issue 15). Each test prints the largest, so a regression names itself."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "xmr_core"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py")) if "__pycache__" not in p.parts}


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative levels resolved)."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the xmr_core modules it imports, anywhere in its body (function-level imports too:
    a cycle hidden inside a function is still a cycle)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_pkg, node)
                # `from pkg import sub` imports the submodule; `from mod import obj` the module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:  # `import xmr_core.a.b` -> the deepest known module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
                # importing a.b.c runs a/__init__ and a/b/__init__ first; the importer's own
                # packages are already being imported, so only the others count
                pkg = t.rpartition(".")[0]
                while pkg and not (name == pkg or name.startswith(pkg + ".")):
                    graph[name].add(pkg)
                    pkg = pkg.rpartition(".")[0]
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def function_sizes() -> list[tuple[int, str]]:
    """(lines, 'module:qualname') of every function and method, largest first."""
    sizes = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(), str(path))

        def walk(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    sizes.append((child.end_lineno - child.lineno + 1, f"{name}:{prefix}{child.name}"))
                    walk(child, f"{prefix}{child.name}.")
                elif isinstance(child, ast.ClassDef):
                    walk(child, f"{prefix}{child.name}.")

        walk(tree, "")
    return sorted(sizes, reverse=True)


def module_sizes() -> list[tuple[int, str]]:
    return sorted(((len(p.read_text().splitlines()), n) for n, p in _modules().items()), reverse=True)


def test_no_import_cycle():
    graph = import_graph()
    assert "xmr_core.train" in graph and graph["xmr_core.evaluation.evaluate"], "the graph was not built"
    cycles = find_cycles(graph)
    assert cycles == [], f"import cycles: {cycles}"


def test_the_graph_sees_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_modules_and_functions_stay_small():
    mods, funcs = module_sizes(), function_sizes()
    print("\nlargest modules:", ", ".join(f"{n} {c}" for c, n in mods[:5]))
    print("largest functions:", ", ".join(f"{n} {c}" for c, n in funcs[:5]))
    assert [m for m in mods if m[0] > MAX_MODULE_LINES] == []
    assert [f for f in funcs if f[0] > MAX_FUNCTION_LINES] == []


def test_the_library_never_imports_streamlit():
    for name, targets in import_graph().items():
        src = _modules()[name].read_text()
        assert "import streamlit" not in src and "from streamlit" not in src, name


def _layer_table() -> list[str]:
    """The rows of docs/ARCHITECTURE.md's layer table."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## The layers, bottom up", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_architecture_table_and_folders_are_one_picture():
    """Every top-level module and every package of xmr_core is named in the layer table; a
    package whose row lists its modules (``pkg/``: ``a.py``, …) lists exactly the files it holds."""
    rows = _layer_table()
    table = "\n".join(rows)
    top = sorted(p.name for p in PKG.glob("*.py") if not p.name.startswith("_"))
    packages = sorted(p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    missing = [m for m in top if f"`{m}`" not in table]
    missing += [f"{p}/" for p in packages if f"`{p}/`" not in table]
    assert not missing, f"not in docs/ARCHITECTURE.md's layer table: {missing}"
    for row in rows:
        for pkg, listed in re.findall(r"`(\w+)/`: ((?:`\w+\.py`(?:, )?)+)", row):
            named = set(re.findall(r"`(\w+\.py)`", listed))
            held = {p.name for p in (PKG / pkg).glob("*.py") if p.name != "__init__.py"}
            assert named == held, f"{pkg}/: the table names {sorted(named)}, the folder holds {sorted(held)}"
    for name in re.findall(r"`([\w/]+\.py)`", table):
        assert list(PKG.rglob(name)) or (ROOT / name).exists(), f"the layer table names {name}, which does not exist"


def test_architecture_check_sees_a_missing_module(tmp_path, monkeypatch):
    """The check above can fail: a table without a row for ``hardware.py`` is caught."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text().replace("`hardware.py`", "`hw`")
    fake = tmp_path / "docs"
    fake.mkdir()
    (fake / "ARCHITECTURE.md").write_text(doc)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError, match="hardware.py"):
        test_architecture_table_and_folders_are_one_picture()
