"""In which order a local grid runs its pending cells, and which cells wait for which.

Pure bookkeeping over Cell objects, no processes, so it is tested on its own (tests/test_scheduler.py);
the local executor (xw.executors.local) drives it. The dependency graph:

- a target cell waits for its intermediate cell (it fine-tunes that cell's checkpoint);
- per mini-world scale still to pretrain, one intermediate cell (the scale's *opener*: its ``none``
  cell, lowest seed) pretrains it (phase i, xw.phases.ensure_pretrained); the scale's other
  intermediate cells wait for it, while other workers run other scales, instead of every worker
  waiting for the largest scale's pretraining before any cell starts.

A cell whose dependency is already done (not pending) is ready at once. Among ready cells the
longest work goes first: openers, then bigger scales, intermediate before target, then grid order.
When a cell fails, every cell waiting on it (and on those, in turn) is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from xw import cells as cells_mod
from xw.cells import Cell
from xw.checkpoints import needs_pretraining
from xw.params import NONE, Study


def choose_openers(todo: Iterable[Cell], scales: Iterable[str]) -> dict[str, Cell]:
    """Per scale of ``scales`` (those still to pretrain): the pending intermediate cell that pretrains it,
    its ``none`` cell first, then the lowest seed; scales without a pending intermediate cell get none."""
    todo = list(todo)
    openers: dict[str, Cell] = {}
    for scale in scales:
        candidates = [c for c in todo if c.scale == scale and c.kind == "intermediate"]
        if candidates:
            openers[scale] = min(candidates, key=lambda c: (c.intermediate != NONE, c.seed))
    return openers


def pretraining_openers(study: Study, todo: list[Cell]) -> dict[str, Cell]:
    """Per mini scale still to pretrain: the intermediate cell that pretrains it (its 'none' cell first).

    Its kernel runs phase (i) (xw.phases.ensure_pretrained) while other workers run other scales,
    instead of every worker waiting for the largest scale's pretraining before any cell starts.
    """
    return choose_openers(todo, [s.name for s in study.ladder if needs_pretraining(study, s)])


def scale_cost(study: Study) -> dict[str, float]:
    """Relative cost of a scale's cells, for longest-first scheduling: a mini scale's layers x hidden^2, a hub
    or path rung's counted parameters (a ladder may be written in any order); a rung whose config cannot
    be read (a hub id not cached offline) falls back to its ladder position, i.e. after the counted ones."""
    from xw.errors import XWError
    from xw.models import count_parameters_from_config

    cost = {}
    for i, scale in enumerate(study.ladder):
        cost[scale.name] = float((scale.layers or 0) * (scale.hidden or 0) ** 2) or float(i + 1)
        if not scale.is_mini:
            try:
                cost[scale.name] = float(count_parameters_from_config(scale.hub or scale.path or "",
                                                                     scale.layers_kept))
            except (XWError, OSError, ValueError):
                pass  # its cell will fail with the reason; its place in the queue does not matter
    return cost


def waits_for(cell: Cell, openers: dict[str, Cell]) -> Cell | None:
    """The cell that ``cell`` must wait for: its intermediate cell, else its scale's opener, else none."""
    dep = cells_mod.dependency(cell)
    opener = openers.get(cell.scale)
    if dep is None and opener is not None and cell.id != opener.id:
        dep = opener  # the scale's first cell pretrains it (phase i); the others wait for that
    return dep


class Schedule:
    """The pending cells of one run: ready ones by priority, the others waiting for their dependency.

    ``take(n)`` hands out the next ``n`` ready cells; after a cell ran, ``succeeded`` releases the
    cells that waited for it, ``failed`` returns them (and theirs) to be recorded as skipped.
    """

    def __init__(self, grid: list[Cell], todo: list[Cell], openers: dict[str, Cell], cost: dict[str, float]):
        self.openers = openers
        self._opener_ids = {c.id for c in openers.values()}
        self._order = {c.id: i for i, c in enumerate(grid)}
        self._cost = cost
        self.waiting: dict[str, list[Cell]] = {}  # cell id -> the cells waiting for it
        self.ready: list[Cell] = []
        todo_ids = {c.id for c in todo}
        for cell in todo:
            dep = waits_for(cell, openers)
            if dep is not None and dep.id in todo_ids:
                self.waiting.setdefault(dep.id, []).append(cell)
            else:
                self.ready.append(cell)

    def priority(self, cell: Cell) -> tuple:
        """Longest work first: openers (pretraining), then bigger scales, intermediate before target."""
        return (cell.id not in self._opener_ids, -self._cost[cell.scale], cell.kind != "intermediate",
                self._order[cell.id])

    def take(self, n: int) -> list[Cell]:
        """Up to ``n`` ready cells, highest priority first (removed from the ready ones)."""
        self.ready.sort(key=self.priority)
        taken = []
        while self.ready and len(taken) < n:
            taken.append(self.ready.pop(0))
        return taken

    def succeeded(self, cell: Cell) -> None:
        """``cell`` is done: the cells that waited for it are ready."""
        self.ready.extend(self.waiting.pop(cell.id, []))

    def failed(self, cell: Cell, why: str) -> list[tuple[Cell, str]]:
        """``cell`` failed (``why``): every cell waiting on it, directly or not, with the reason it is
        skipped, each before the cells that wait on it; none of them will be handed out."""
        skipped = []
        for dependent in self.waiting.pop(cell.id, []):
            reason = f"skipped: {cell.id}, which it waits for, failed ({why.splitlines()[0] if why else '?'})"
            skipped.append((dependent, reason))
            skipped += self.failed(dependent, reason)
        return skipped
