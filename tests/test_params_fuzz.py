"""The parameters loader under a property-based fuzzer: whatever a parameters file holds, loading it
either gives a Study or raises ParameterError naming the file (never a TypeError, KeyError, ...).

Inputs: arbitrary YAML-ish structures; mutations of a valid study (keys deleted, values replaced by
arbitrary ones, unknown keys, random task names, negative numbers, None); the same mutations written
as YAML files; and raw text as a YAML file.

Crashes it found (fixed in xw/params.py): a ladder entry without ``name`` (TypeError from the
dataclass), keys of mixed types (TypeError sorting int and str keys), YAML nested thousands deep
(RecursionError), paths with a NUL byte or longer than the file system allows (ValueError/OSError
from Path.exists), huge integers where a float is expected (OverflowError); and values that loaded
but would crash or mislead later: NaN/inf numbers, seeds outside 0..2**32-1, zero batch sizes,
lengths, timeouts or CPUs.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import fake_tasks  # noqa: F401 - registers the fake tasks the valid study names
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xw.cells import expand_grid
from xw.errors import ParameterError
from xw.params import Study
from xw.study import load_study, study_from_dict

PATH = Path("fuzz/study.yaml")
# XW_FUZZ_EXAMPLES=5000 for a long hunt; the default keeps the file at a few seconds
FUZZ = settings(max_examples=int(os.environ.get("XW_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid_study() -> dict:
    """Every section of a study file, with values that load."""
    return {
        "study": "fuzz",
        "description": "a study to mutate",
        "data": {"source": "miniworld", "world_seed": 3},
        "models": {"family": "tiny", "pretrain": {"steps": 10, "batch_size": 8, "learning_rate": 1e-3,
                                                   "max_length": 16},
                   "ladder": [{"name": "s", "layers": 1, "hidden": 16, "heads": 2},
                              {"name": "m", "layers": 2, "hidden": 32, "heads": 4, "intermediate_size": 64}]},
        "intermediate_tasks": ["none", "fake-colour", "fake-nouns", "multi"],
        "target_tasks": ["fake-colour-x", "fake-nouns-x", "fake-bitext"],
        "seeds": [0, 1],
        "training": {"default": {"learning_rate": 2e-3, "batch_size": 16, "epochs": 2, "max_length": 16},
                     "tasks": {"fake-colour-x": {"learning_rate": 1e-3, "freeze_embeddings": True}}},
        "retrieval": {"layer_fraction": 0.5, "max_length": 32},
        "executor": {"kind": "local", "workers": 2, "cell_timeout": 60, "start_timeout": 30,
                     "slurm": {"partition": "gpu", "gpus_per_node": 1, "cpus_per_task": 4, "mem_gb": 16,
                               "timeout_min": 60}},
        "languages": ["en", "xx"],
    }


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["none", "multi", "fake-colour", "local", "slurm", "hub", "miniworld", "-1", "1e-4", "nan",
                     "", " ", "../x", "a/b", "\x00", "x" * 300]),
)
keys = st.one_of(st.text(max_size=10), st.sampled_from(["study", "data", "models", "ladder", "name", "seeds",
                                                        "training", "default", "tasks", "executor", "slurm", "path",
                                                        "hub", "root", "source", "learning_rate", "heads"]),
                 st.integers(-3, 3), st.booleans(), st.none())
yamlish = st.recursive(scalars, lambda children: st.one_of(st.lists(children, max_size=4),
                                                           st.dictionaries(keys, children, max_size=4)),
                       max_leaves=12)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in a nested dict/list."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found.append((*prefix, key))
        found += _paths(child, (*prefix, key))
    return found


@st.composite
def mutated_study(draw) -> dict:
    """A valid study with one to four mutations at random places."""
    raw = valid_study()
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(raw)
        if not paths:
            break
        where = draw(st.sampled_from(paths))
        parent = raw
        for step in where[:-1]:
            parent = parent[step]
        key = where[-1]
        action = draw(st.sampled_from(["delete", "replace", "unknown_key", "negative", "none", "task_name",
                                       "wrap_in_list"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(yamlish)
        elif action == "unknown_key" and isinstance(parent, dict):
            parent[draw(keys)] = draw(yamlish)
        elif action == "negative":
            parent[key] = draw(st.one_of(st.integers(max_value=-1), st.floats(max_value=-1e-9)))
        elif action == "none":
            parent[key] = None
        elif action == "task_name":
            parent[key] = draw(st.one_of(st.text(max_size=15), st.lists(st.text(max_size=15), max_size=3)))
        elif action == "wrap_in_list":
            parent[key] = [parent[key]]
    return raw


def check(raw: Any, path: Path = PATH) -> Study | None:
    """The property: a Study (whose grid expands) or a ParameterError naming the file."""
    try:
        study = study_from_dict(copy.deepcopy(raw), path)
    except ParameterError as err:
        assert str(err).startswith(f"{path}:"), str(err)
        assert len(str(err)) < 2000, "error messages stay readable"
        return None
    assert isinstance(study, Study)
    expand_grid(study)
    return study


def test_the_valid_study_loads():
    study = check(valid_study())
    assert study is not None and len(study.ladder) == 2 and study.executor.slurm.partition == "gpu"


@FUZZ
@given(yamlish)
def test_arbitrary_structures(raw):
    check(raw)


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(valid_study())), yamlish, max_size=11))
def test_arbitrary_values_under_the_real_keys(raw):
    check(raw)


@FUZZ
@given(mutated_study())
def test_mutations_of_a_valid_study(raw):
    check(raw)


@FUZZ
@given(st.lists(st.text(max_size=20), min_size=1, max_size=4), st.lists(st.text(max_size=20), min_size=1, max_size=3))
def test_random_task_names(intermediate, targets):
    raw = valid_study()
    raw["intermediate_tasks"], raw["target_tasks"] = intermediate, targets
    raw["training"].pop("tasks")
    check(raw)


@pytest.fixture(scope="module")
def study_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "study.yaml"


@FUZZ
@given(mutated_study())
def test_mutations_written_as_yaml_files(study_file, raw):
    try:
        text = yaml.safe_dump(raw, allow_unicode=True)
    except yaml.YAMLError:
        return
    study_file.write_text(text)
    try:
        load_study(study_file)
    except ParameterError as err:
        assert str(err).startswith(f"{study_file}:")


@FUZZ
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                 st.sampled_from(["[" * 5000, "a: &a [*a]\nstudy: *a\n", "study: !!python/object:os.system x",
                                  "? [a, b]\n: c\n", "study: !!binary aGVsbG8=\n", "seeds: !!set {1, 2}\n",
                                  "study: x\nstudy: y\n", "\ufeffstudy: x\n"])))
def test_raw_text_as_a_yaml_file(study_file, text):
    study_file.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_study(study_file)
    except ParameterError as err:
        assert str(err).startswith(f"{study_file}") or "parameters file" in str(err)
