"""The grid's unit of work: one cell = one notebook run for (scale, intermediate, [target], seed).

Intermediate cells train phase (ii) (or nothing, for the baseline) and score the retrieval
targets straight from that model; target cells fine-tune phase (iii) on English and
evaluate every language. A cell is done when its result file exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xw.layout import predictions_path, result_path
from xw.params import Study


@dataclass(frozen=True)
class Cell:
    kind: str  # "intermediate" | "target"
    scale: str
    intermediate: str
    seed: int
    target: str | None = None

    @property
    def id(self) -> str:
        parts = [self.kind, self.scale, self.intermediate]
        if self.target:
            parts.append(self.target)
        parts.append(f"seed{self.seed}")
        return "__".join(parts)

    @property
    def notebook(self) -> str:
        return f"{self.kind}.ipynb"

    def parameters(self, study: Study) -> dict:
        """Papermill parameters of the cell's notebook."""
        return {
            "study_path": str(Path(study.path).resolve()),
            "output_root": str(Path(study.output_root).resolve()),
            "scale": self.scale,
            "intermediate": self.intermediate,
            "target": self.target or "",
            "seed": self.seed,
        }


# ---- grid expansion and bookkeeping -------------------------------------------------------------


def retrieval_targets(study: Study) -> list[str]:
    from xw.tasks import get_task

    return [t for t in study.target_tasks if not get_task(t).task_kind.trained]


def trained_targets(study: Study) -> list[str]:
    from xw.tasks import get_task

    return [t for t in study.target_tasks if get_task(t).task_kind.trained]


def expand_grid(study: Study) -> list[Cell]:
    """Intermediate cells first (they produce the checkpoints), then target cells."""
    cells = [Cell("intermediate", s.name, i, seed) for s in study.ladder for i in study.intermediate_tasks
             for seed in study.seeds]
    cells += [Cell("target", s.name, i, seed, t) for s in study.ladder for i in study.intermediate_tasks
              for t in trained_targets(study) for seed in study.seeds]
    return cells


def dependency(cell: Cell) -> Cell | None:
    """The intermediate cell whose checkpoint a target cell fine-tunes."""
    if cell.kind == "target":
        return Cell("intermediate", cell.scale, cell.intermediate, cell.seed)
    return None


def is_done(study: Study, cell: Cell) -> bool:
    return result_path(study, cell).is_file()


def _set_threads() -> None:
    """Honour XW_THREADS (set by the grid so N workers share the cores instead of oversubscribing)."""
    import os

    import torch
    import transformers

    threads = os.environ.get("XW_THREADS")
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    transformers.logging.set_verbosity_error()  # "newly initialized head" is expected in every phase
    transformers.utils.logging.disable_progress_bar()


def run_cell(study: Study, cell: Cell, progress: bool = True):
    """Run one cell's kernels and write its predictions and then its result file atomically; returns the tidy rows.

    A predictions file left by an earlier, unfinished run goes first, and one written just before a failed
    result write is removed again: predictions exist only beside the rows of the same run."""
    import pandas as pd

    from xw.phases import run_intermediate_cell, run_target_cell
    from xw.results import COLUMNS, atomic_write_csv, write_predictions

    _set_threads()
    predictions_file = predictions_path(study, cell)
    predictions_file.unlink(missing_ok=True)
    predictions: list[dict] = []
    if cell.kind == "intermediate":
        rows = run_intermediate_cell(study, cell.scale, cell.intermediate, cell.seed, progress, predictions)
    elif cell.kind == "target":
        if not cell.target:
            raise ValueError(f"target cell {cell.id} has no target task")
        rows = run_target_cell(study, cell.scale, cell.intermediate, cell.target, cell.seed, progress, predictions)
    else:
        raise ValueError(f"unknown cell kind {cell.kind!r}")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    try:
        if predictions:
            write_predictions(predictions, predictions_file)
        atomic_write_csv(frame, result_path(study, cell))
    except BaseException:
        predictions_file.unlink(missing_ok=True)
        raise
    _release_memory()
    return frame


def _release_memory() -> None:
    """A warm kernel runs many cells: give this cell's model memory back before the next one starts.

    What survives the collection is long-lived (imported modules, data caches); freezing it keeps the
    next cells' collections, this one's and Python's own, from walking those ~400k objects again
    (0.25 s per cell here).
    """
    import gc

    import torch

    gc.collect()
    gc.freeze()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _pretrain_one(study: Study, scale_name: str, threads: int) -> str:
    import torch

    from xw.phases import ensure_pretrained

    _set_threads()  # also silences transformers' per-save progress bars
    torch.set_num_threads(threads)  # after _set_threads: this process's share, not XW_THREADS
    return ensure_pretrained(study, study.scale(scale_name), progress=False)


def prepare_models(study: Study, workers: int = 1, scales: list[str] | None = None) -> None:
    """Phase (i) for the mini-world scales (all, or ``scales``), in parallel processes (cached; a no-op once done)."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from xw.checkpoints import needs_pretraining
    from xw.progress import tqdm

    todo = [s.name for s in study.ladder if needs_pretraining(study, s) and (scales is None or s.name in scales)]
    if not todo:
        return
    workers = max(1, min(workers, len(todo)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    # largest first, so the longest job does not start last
    todo.sort(key=lambda n: -(study.scale(n).layers or 0) * (study.scale(n).hidden or 0) ** 2)
    if workers == 1:
        for name in tqdm(todo, desc="pretrain"):
            _pretrain_one(study, name, threads)
        return
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_pretrain_one, study, name, threads) for name in todo]
        for future in tqdm(futures, desc="pretrain"):
            future.result()
