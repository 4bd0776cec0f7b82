"""Imports run one way: ``cli`` above ``api`` and ``worker``, both above the core ``taskq``,
which imports nothing above it; no two modules of ``taskq`` import each other, directly or
round a longer circle. Read from the source with :mod:`ast`, so an import inside a function
counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("taskq", "api", "worker", "cli")
# what each package may import of the others (itself always)
MAY_IMPORT = {
    "taskq": set(),
    "api": {"taskq"},
    "worker": {"taskq"},
    "cli": {"api", "worker", "taskq"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """The dotted names a file imports, anywhere in it: ``from a import b`` gives ``a`` and
    ``a.b`` (b may be a module); relative imports are resolved against the file's package."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", FIRST_PARTY)
def test_a_package_imports_only_what_is_below_it(package: str) -> None:
    allowed = {package, *MAY_IMPORT[package]}
    wrong = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(package)
        for name in imported(path)
        if name.split(".")[0] in FIRST_PARTY and name.split(".")[0] not in allowed
    )
    assert wrong == []


def core_graph() -> dict[str, set[str]]:
    """Each module of ``taskq`` and the modules of ``taskq`` it imports."""
    modules = {module_name(path): path for path in sources("taskq")}
    return {
        name: {other for other in imported(path) if other in modules and other != name}
        for name, path in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each as the modules round it (depth-first, back edges)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        for other in sorted(graph[name]):
            if other in trail:
                found.append([*trail[trail.index(other) :], other])
            elif other not in done:
                visit(other, [*trail, other])
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    return found


def test_no_two_core_modules_import_each_other() -> None:
    assert circles(core_graph()) == []


def test_the_circle_finder_finds_circles() -> None:
    assert circles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
