"""One grid cell's notebook, run the same way by a local worker and by a Slurm job.

Around :func:`xw.execution.notebook.execute_notebook`: the running marker while it runs, the executed
copy and log at their places (xw.layout), the check that the notebook wrote the cell's result file,
and the failure record after (:func:`settle`).
"""

from __future__ import annotations

import os
from pathlib import Path

from xw import cells as cells_mod
from xw.cells import Cell
from xw.execution.notebook import NotebookRun, WarmWorker, execute_notebook
from xw.layout import executed_notebook, notebook_log, result_path
from xw.ledger import clear_failure, mark_running, record_failure
from xw.params import Study


def child_env(workers: int) -> dict[str, str]:
    """Share the cores between workers (xw.cells honours XW_THREADS) unless the user chose already."""
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env.setdefault("XW_THREADS", threads)
    env.setdefault("OMP_NUM_THREADS", env["XW_THREADS"])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("XW_PROGRESS", "text")  # papermill kernels: plain text bars, not widgets (xw.progress)
    return env


def run_cell_notebook(study: Study, cell: Cell, notebooks_dir: Path, kernel: str,
                      env: dict[str, str] | None, worker: WarmWorker | None = None) -> NotebookRun:
    """Run one cell's notebook (running marker, papermill child, executed copy, log) and check that
    it wrote its result file. The same for a local worker and a Slurm job (xw.executors)."""
    marker = mark_running(study, cell)
    try:
        run = execute_notebook(
            notebooks_dir / cell.notebook, executed_notebook(study, cell.id), cell.parameters(study),
            cwd=notebooks_dir, kernel_name=kernel, start_timeout=study.executor.start_timeout,
            execution_timeout=study.executor.cell_timeout, log=notebook_log(study, cell.id), env=env,
            slim=True, worker=worker)
        if run.ok and not cells_mod.is_done(study, cell):
            run.ok, run.stage = False, "execution"
            run.error = f"the notebook finished but wrote no result file ({result_path(study, cell)})"
        return run
    finally:
        marker.unlink(missing_ok=True)


def settle(study: Study, cell: Cell, run: NotebookRun) -> None:
    """Write (or clear) the cell's failure record after a run."""
    if run.ok:
        clear_failure(study, cell)
    else:
        record_failure(study, cell, run.error, stage=run.stage,
                       notebook=run.notebook if run.notebook.exists() else None, log=run.log,
                       attempts=run.attempts)
