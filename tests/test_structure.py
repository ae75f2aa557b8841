"""Rules of the code's shape that a review would otherwise have to catch:
imports at the top of a module, typer used through its public API only,
equivalent mutants listed in docs/mutation.md rather than marked in the
code."""

from __future__ import annotations

import ast
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
SOURCES = sorted((CHECKOUT / "src" / "qmailsetup").rglob("*.py")) + [CHECKOUT / "man" / "generate.py"]

# (module, what it imports inside a function): each a cycle, said where it is
IMPORTED_WHEN_USED = {
    ("spec.py", "qmailsetup.installation"),  # installation.py imports spec.py
}


def imports_inside_functions(path: Path) -> list[tuple[str, str, int]]:
    found = []
    for function in ast.walk(ast.parse(path.read_text())):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((path.name, node.module or "", node.lineno))
    return found


def test_imports_are_at_the_top_of_each_module():
    inside = [found for path in SOURCES for found in imports_inside_functions(path)]
    assert [f for f in inside if (f[0], f[1]) not in IMPORTED_WHEN_USED] == []


def test_typer_is_used_through_its_public_api():
    """typer's modules whose names start with _ (its vendored click, its
    completion internals) change without notice between releases."""
    private = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
            private += [(path.name, name) for name in names if name.startswith("typer.") and "._" in f".{name[6:]}"]
    assert private == []


def test_no_mutant_is_marked_in_the_code():
    """An equivalent mutant is a row of docs/mutation.md's table, not a
    comment in the code."""
    marked = [(path.name, number) for path in SOURCES
              for number, line in enumerate(path.read_text().splitlines(), 1) if "pragma: no mutate" in line]
    assert marked == []
