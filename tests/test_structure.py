"""The layering rules of the package, checked on its source (imports, sizes)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "rcm"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("rcm", *path.relative_to(ROOT).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _package(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rsplit(".", 1)[0]


def _imports(name: str) -> set[str]:
    """Every rcm module `name` imports, at module level or inside functions."""
    tree = ast.parse(MODULES[name].read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("rcm"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(name).split(".")[: len(_package(name).split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("rcm"):
                continue
            found.add(target)
            found.update(
                f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES
            )
    return {target for target in found if target in MODULES}


GRAPH = {name: _imports(name) for name in MODULES}


def test_nothing_below_the_cli_imports_it() -> None:
    offenders = [
        (name, target)
        for name, targets in GRAPH.items()
        for target in targets
        if target.startswith("rcm.cli")
        and not name.startswith("rcm.cli")
        and name != "rcm.__main__"
    ]
    assert offenders == []


def test_the_report_is_imported_only_by_the_pipeline_and_the_cli() -> None:
    allowed = ("rcm.report", "rcm.pipeline", "rcm.cli")
    offenders = [
        (name, target)
        for name, targets in GRAPH.items()
        for target in targets
        if target.startswith("rcm.report") and not name.startswith(allowed)
    ]
    assert offenders == []


def test_packages_import_each_other_through_public_names() -> None:
    offenders = []
    for name, targets in GRAPH.items():
        for target in targets:
            parts = target.split(".")
            private = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
            if private is None or private == 1:  # rcm._version, rcm._lazy: the root's own
                continue
            owner = ".".join(parts[:private])
            if not (name == owner or name.startswith(owner + ".")):
                offenders.append((name, target))
    assert offenders == []


def test_there_are_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in GRAPH:
        if name not in index:
            visit(name)
    assert cycles == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_are_small(name: str) -> None:
    source = MODULES[name].read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{name} has more than 400 lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
