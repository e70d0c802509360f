"""What an executor is: one way to run a grid's pending cells (``executor.kind`` in the parameters file).

Like papermill's engine registry: each executor is registered under its name, once (a second one
under a taken name is refused), and ``xw grid`` looks the study's up here. ``local`` runs the cells in
worker processes on this machine, ``slurm`` submits one Slurm job per cell (xw.executors.local,
xw.executors.slurm). params.EXECUTORS lists the names the parameters file may use (params is the
lowest layer and imports nothing from here); the registry is checked against it in tests.

An executor gets the grid's own steps in its :class:`GridRun` (``plan``: which cells are pending,
``finish``: results, analysis notebook, verdict, report; both xw.grid's), so it needs nothing from
xw.grid and runs them where they belong (the Slurm executor runs ``finish`` inside the analysis job).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from xw.cells import Cell
from xw.errors import XWError
from xw.params import Study


@dataclass
class GridReport:
    """What a grid run did; ``ok`` when every cell is done and the analysis gave a verdict."""

    study: str
    output_dir: Path
    total: int
    already_done: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # cell id -> error
    skipped: dict[str, str] = field(default_factory=dict)  # cell id -> why (its dependency failed)
    results_path: Path | None = None
    analysis_notebook: Path | None = None
    analysis_error: str | None = None
    verdict: str | None = None
    report_path: Path | None = None
    executor: str = "local"
    jobs: dict[str, str] = field(default_factory=dict)  # cell id (or "analysis") -> Slurm job id
    waited: bool = True  # False: Slurm jobs submitted, the grid did not wait for them

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and self.verdict is not None


#: plan(study, notebooks_dir) -> (the grid's cells, those still to run, a report to fill)
Plan = Callable[[Study, Path], tuple[list[Cell], list[Cell], GridReport]]
#: finish(study, report, notebooks_dir, kernel, env, grid, gain_measure): results, analysis, report
Finish = Callable[[Study, GridReport, Path, str, dict[str, str], list[Cell], str | None], None]


@dataclass(frozen=True)
class GridRun:
    """One ``xw grid`` run as an executor gets it (the study lock is held, stale markers are cleared)."""

    study: Study
    notebooks_dir: Path
    kernel: str
    workers: int
    progress: bool
    gain_measure: str | None
    wait: bool
    plan: Plan
    finish: Finish


class Executor(ABC):
    """Runs a grid's pending cells, then ``finish``; returns what happened."""

    name: ClassVar[str]

    @abstractmethod
    def run(self, run: GridRun) -> GridReport:
        """Run ``run.plan``'s pending cells and ``run.finish`` (or, ``run.wait`` False, only start them)."""


class Registry:
    """Executors by name; a name is registered once."""

    def __init__(self) -> None:
        self._executors: dict[str, Executor] = {}

    def register(self, executor: Executor) -> Executor:
        if executor.name in self._executors:
            raise ValueError(f"executor {executor.name!r} is already registered "
                             f"({type(self._executors[executor.name]).__qualname__})")
        self._executors[executor.name] = executor
        return executor

    def get(self, name: str) -> Executor:
        try:
            return self._executors[name]
        except KeyError:
            raise XWError(f"unknown executor {name!r}; allowed: {self.names()}") from None

    def names(self) -> list[str]:
        return list(self._executors)


REGISTRY = Registry()
