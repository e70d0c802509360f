"""Installs that hold: pyproject declares what xw imports, requirements.lock pins all of it, the Makefile
installs from the lock with torch pinned first, environment.yml covers the same list, no advice names a
removed tool."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11 (the venv's); 3.10 has no TOML reader

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DISTRIBUTION = {"yaml": "pyyaml", "jinja2": "jinja2", "IPython": "ipython"}
PROVIDED_BY = {"ipython": "ipykernel"}  # imported, installed by a declared dependency that needs it


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"]}


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"requirements.lock: {line!r} is not an exact pin"
            pins[_name(name)] = version
    return pins


def _third_party_imports() -> set[str]:
    found = set()
    for path in (ROOT / "xw").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "xw"}


def test_every_import_of_xw_is_declared_and_nothing_unused_is():
    declared = _dependencies()
    imported = {_name(DISTRIBUTION.get(m, m)) for m in _third_party_imports()}
    undeclared = {m for m in imported - declared if PROVIDED_BY.get(m) not in declared}
    assert not undeclared, f"xw imports {sorted(undeclared)} without declaring them in pyproject.toml"
    # used without an import of their own: the `make lab` front end, torch.utils.tensorboard's writer,
    # pandas.to_parquet's engine
    tools = {"jupyterlab", "tensorboard", "pyarrow"}
    assert declared - imported - tools == set(), "declared in pyproject.toml but not imported by xw"


def test_lock_pins_every_dependency_but_torch():
    pins, project = _lock(), tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _dependencies() | {_name(r) for r in project["optional-dependencies"]["dev"]}
    assert "torch" not in pins and "xw" not in pins  # torch: pinned by the Makefile, per machine
    missing = sorted(wanted - {"torch"} - set(pins))
    assert not missing, f"requirements.lock lacks {missing}: run `make lock`"


def test_makefile_installs_torch_then_the_lock_and_is_offline_only_for_demo_and_test():
    text = (ROOT / "Makefile").read_text()
    assert "TORCH ?= torch==2.13.0" in text
    recipe = subprocess.run(["make", "-n", "-B", "setup", "PYTHON=python3"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    torch_line = next(i for i, line in enumerate(recipe) if "pip install" in line and "torch==2.13.0" in line)
    lock_line = next(i for i, line in enumerate(recipe) if "-r requirements.lock" in line)
    assert torch_line < lock_line
    assert not re.search(r"^export HF_HUB_OFFLINE", text, re.M), "HF_HUB_OFFLINE must not be global"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}  # the Makefile's own defaults
    database = subprocess.run(["make", "-p", "-n", "lock"], cwd=ROOT, capture_output=True, text=True,
                              env=env).stdout
    assert re.search(r"^test: HF_HUB_OFFLINE = 1", database, re.M)
    assert re.search(r"^demo: HF_HUB_OFFLINE = 1", database, re.M)
    assert not re.search(r"^lab: HF_HUB_OFFLINE", database, re.M)
    assert "lock:" in text and "pip freeze" in text


def test_environment_yml_covers_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]  # the pytorch channel stopped at 2.5
    conda = {_name(d.split("=")[0]) for d in env["dependencies"] if isinstance(d, str)}
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    covered = conda | ({"torch"} if "pytorch" in conda else set())
    if "-r requirements.lock" in pip:
        covered |= set(_lock())
    assert _dependencies() - covered == set()
    assert '-e ".[dev]"' in pip


def test_no_advice_names_the_removed_huggingface_cli():
    hits = [str(p.relative_to(ROOT)) for top in ("xw", "notebooks", "README.md", "benchmarks", "parameters")
            for p in ([ROOT / top] if (ROOT / top).is_file() else (ROOT / top).rglob("*"))
            if p.is_file() and p.suffix in (".py", ".md", ".ipynb", ".yaml") and "huggingface-cli" in p.read_text()]
    assert not hits, f"`huggingface-cli download` is gone from huggingface_hub >= 1.0 (use `hf download`): {hits}"


def test_tracking_backends_are_optional_extras_outside_the_lock():
    from xw.tracking import OPTIONAL

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for backend, module in OPTIONAL.items():
        assert {_name(r) for r in extras[backend]} == {module}, f"pip install 'xw[{backend}]' installs {module}"
    assert not set(OPTIONAL.values()) & set(_lock()), "optional tracking backends must not be pinned in the lock"
    assert not set(OPTIONAL.values()) & _dependencies()
