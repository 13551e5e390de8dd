"""No import circle among the product's modules, and no unexplained import inside a function.

The graph is grimp's (import-linter's engine), built from the source: it counts imports inside
functions too, so a circle cannot hide behind a function-level import. (The emulator is its
own distribution, ``aksaudit_emulator``, and not part of this graph.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

import aksaudit_tui

ENGINE = Path(aksaudit_tui.__file__).parent / "engine"


def import_cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {m: sorted(d for d in graph.find_modules_directly_imported_by(m) if d in modules)
             for m in modules}  # fmt: skip
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            if i < len(edges[v]):
                work.append((v, i + 1))
                w = edges[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
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
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def product_graph() -> tuple[grimp.ImportGraph, set[str]]:
    graph = grimp.build_graph("aksaudit_tui")
    return graph, set(graph.modules)


def test_cycle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for m in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(m)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    graph.add_import(importer="p.d", imported="p.a")
    assert import_cycles(graph, set(graph.modules)) == [["p.a", "p.b", "p.c"]]


def test_no_import_circle_among_product_modules() -> None:
    graph, mods = product_graph()
    assert len(mods) > 50  # the graph really holds the product
    cycles = import_cycles(graph, mods)
    assert cycles == [], f"import circles: {cycles}"


def test_engine_has_no_circle_and_nothing_in_it_imports_the_facade() -> None:
    graph, mods = product_graph()
    engine = {m for m in mods if m.startswith("aksaudit_tui.engine")}
    assert import_cycles(graph, engine) == []
    # nothing in the engine imports the facade
    importers = graph.find_modules_that_directly_import("aksaudit_tui.engine.service")
    assert not {m for m in importers if m.startswith("aksaudit_tui.engine")}


def _function_imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, text, explained) per import statement inside a function: explained when the
    line or the comment line right above its block of imports says why."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for fn in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import | ast.ImportFrom):
                i = node.lineno - 1
                explained = "#" in lines[i]
                j = i - 1
                while j >= 0 and lines[j].strip().startswith(("from ", "import ")):
                    j -= 1
                explained = explained or lines[j].strip().startswith("#")
                out.append((node.lineno, lines[i].strip(), explained))
    return out


def test_engine_function_level_imports_say_why() -> None:
    unexplained = [
        f"{p.relative_to(ENGINE)}:{line}: {text}"
        for p in sorted(ENGINE.rglob("*.py"))
        for line, text, explained in _function_imports(p)
        if not explained
    ]
    assert unexplained == []


def test_resource_graph_function_level_imports_say_why() -> None:
    """The Resource Graph modules import the Azure SDK inside functions only for startup time
    (``import aksaudit_tui.cloud`` stays Azure-free), each saying so."""
    cloud = ENGINE.parent / "cloud"
    paths = [cloud / f"{m}.py" for m in ("resourcegraph", "graphwalk", "graphrows")]
    found = [(p, line, text, ok) for p in paths for line, text, ok in _function_imports(p)]
    assert found  # the rule really looks at resourcegraph's SDK imports
    assert [f"{p.name}:{line}: {text}" for p, line, text, ok in found if not ok] == []
