"""The shape a newcomer relies on, checked rather than hoped for (the import layering itself is checked by
``lint-imports`` with the contracts in pyproject.toml, run by ``make test``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xw"
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def private_imports(source: str) -> list[str]:
    """``from xw.x import _name`` and ``import xw._x`` in a module's source: reaching into another module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "xw":
            found += [f"from {node.module} import {a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
            found += [f"from {node.module} import ..." for part in (node.module or "").split(".")
                      if part.startswith("_") and not part.startswith("__")]
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "xw"
                      and any(p.startswith("_") and not p.startswith("__") for p in a.name.split("."))]
    return found


def test_no_module_is_longer_than_one_concept_needs():
    long = {str(p.relative_to(PACKAGE)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these by concept (at most {MAX_LINES} lines each): {long}"


def test_no_module_imports_another_modules_private_names():
    offenders = {str(p.relative_to(PACKAGE)): found for p in _modules() if (found := private_imports(p.read_text()))}
    assert offenders == {}


def test_the_private_import_scan_finds_what_it_looks_for():
    source = ("from xw.grid import _finish, run_grid\nimport xw._hidden\nfrom xw.tasks import __all__\n"
              "from os import _exit\nfrom xw.analysis._impl import thing\n")
    assert private_imports(source) == ["from xw.grid import _finish", "import xw._hidden",
                                       "from xw.analysis._impl import ..."]
