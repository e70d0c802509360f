"""The executor registry: the names the parameters file allows, each registered once."""

from __future__ import annotations

import pytest

from xw.errors import XWError
from xw.executors.base import REGISTRY, Executor, GridRun, Registry
from xw.executors.local import LocalExecutor
from xw.executors.slurm import SlurmExecutor
from xw.params import EXECUTORS


def test_the_registry_holds_exactly_the_executors_params_allows():
    assert tuple(REGISTRY.names()) == EXECUTORS == ("local", "slurm")
    assert isinstance(REGISTRY.get("local"), LocalExecutor) and isinstance(REGISTRY.get("slurm"), SlurmExecutor)
    with pytest.raises(XWError, match=r"unknown executor 'pbs'; allowed: \['local', 'slurm'\]"):
        REGISTRY.get("pbs")


def test_a_name_is_registered_once():
    class Fake(Executor):
        name = "fake"

        def run(self, run: GridRun):
            raise NotImplementedError

    registry = Registry()
    registry.register(Fake())
    with pytest.raises(ValueError, match="'fake' is already registered"):
        registry.register(Fake())
    with pytest.raises(ValueError, match="'local' is already registered"):
        REGISTRY.register(LocalExecutor())
    assert registry.names() == ["fake"] and tuple(REGISTRY.names()) == EXECUTORS
