"""Running the grid: plan the pending cells, hand them to an executor, then finish with the answer.

``run_grid`` (``xw grid``) holds the study's lock (xw.lock: a second grid on the study refuses to
start), clears what killed runs left behind (xw.ledger), makes sure a Jupyter kernel for this
interpreter exists, and hands the run to the study's executor (xw.executors: ``local`` worker
processes here, or one ``slurm`` job per cell), together with this module's two steps:

- :func:`plan_grid`: the grid's cells and those still to run (done cells are skipped: resume);
- :func:`finish`: merge the cells' rows into results.csv, run the analysis notebook, read its
  VERDICT line and export report.html (xw.report).

Where the pieces are: the on-disk layout in xw.layout, cell states and failure records in
xw.ledger, the order and dependencies of the cells in xw.scheduler, executing one notebook in
its own papermill child process in xw.execution.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from xw import cells as cells_mod
from xw import results
from xw.cells import Cell
from xw.errors import XWError
from xw.execution.kernel import ensure_kernel
from xw.execution.notebook import execute_notebook
from xw.executors.base import REGISTRY, GridReport, GridRun
from xw.layout import executed_dir, executed_notebook, notebook_log, report_path
from xw.ledger import VERDICT_PREFIX, clear_failure, clear_stale, find_verdict, timeline
from xw.lock import study_lock
from xw.params import Study
from xw.report import export_report
from xw.study import load_study

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
ANALYSIS_NOTEBOOK = "analysis.ipynb"


SELECT_KEYS = ("kind", "scale", "intermediate", "target", "seed")


def select_cells(grid: list[Cell], only: Sequence[str]) -> list[Cell]:
    """The cells matching every ``KEY=VALUE`` of ``only`` (``xw grid --only``): values given for one key are
    alternatives, different keys must all match. An unknown key, or a value no cell has, is a user error
    naming the values there are (a typo would otherwise run nothing, or everything)."""
    wanted: dict[str, set[str]] = {}
    for item in only:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in SELECT_KEYS or not value:
            raise XWError(f"--only {item!r}: expected KEY=VALUE with KEY one of {', '.join(SELECT_KEYS)} "
                          "(e.g. --only scale=base --only target=xnli)")
        wanted.setdefault(key, set()).add(value)

    def value_of(cell: Cell, key: str) -> str:
        value = getattr(cell, key)
        return "" if value is None else str(value)

    for key, values in wanted.items():
        present = sorted({value_of(c, key) for c in grid} - {""})
        unknown = sorted(values - set(present))
        if unknown:
            raise XWError(f"--only {key}={','.join(unknown)} matches no cell of the grid; its {key} values are "
                          f"{', '.join(present)}")
    chosen = [c for c in grid if all(value_of(c, k) in vs for k, vs in wanted.items())]
    if not chosen:
        raise XWError(f"--only {' '.join(only)}: no cell matches all of these together (each matches some)")
    return chosen


def plan_grid(study: Study, notebooks_dir: Path, only: Sequence[str] = ()) -> tuple[list[Cell], list[Cell],
                                                                                    GridReport]:
    """The grid's cells (those matching ``only``: :func:`select_cells`), those still to run (done ones are
    skipped: resume), and a report to fill."""
    grid = cells_mod.expand_grid(study)
    grid = select_cells(grid, only) if only else grid
    for nb_name in sorted({c.notebook for c in grid}):
        if not (notebooks_dir / nb_name).is_file():
            raise XWError(f"notebook {notebooks_dir / nb_name} not found (needed by the grid's cells)")
    report = GridReport(study=study.name, output_dir=study.output_dir, total=len(grid))
    done = {c.id for c in grid if cells_mod.is_done(study, c)}
    report.already_done = [c.id for c in grid if c.id in done]
    for cell in grid:
        if cell.id in done:
            clear_failure(study, cell)
    return grid, [c for c in grid if c.id not in done], report


def run_grid(study: Study | str | Path, workers: int | None = None, notebooks_dir: Path = NOTEBOOKS_DIR,
             progress: bool = True, *, output_root: str | Path | None = None,
             gain_measure: str | None = None, executor: str | None = None, wait: bool = True,
             only: Sequence[str] = ()) -> GridReport:
    """Run every pending cell's notebook, then collect results, run the analysis and export the report.

    Done cells are skipped (resume); a failed cell is recorded and the grid goes on; a target
    cell starts only after its intermediate cell succeeded and is skipped if that failed.
    ``executor`` (default: the study's executor.kind) is ``local`` or ``slurm``; with ``slurm``,
    ``wait=False`` returns once the jobs are submitted; ``only`` (``KEY=VALUE``s) runs a slice of the grid
    (:func:`select_cells`). The study's lock is held throughout: a
    second grid on the same study refuses to start (xw.lock.LockHeld).
    """
    if not isinstance(study, Study):
        study = load_study(study, output_root)
    notebooks_dir = Path(notebooks_dir).resolve()
    if not notebooks_dir.is_dir():
        raise XWError(f"notebooks folder {notebooks_dir} not found; pass the folder holding intermediate.ipynb "
                      "and target.ipynb")
    runner = REGISTRY.get(executor or study.executor.kind)  # an unknown name is a user error
    workers = workers or study.executor.workers
    if workers < 1:
        raise XWError(f"--workers must be at least 1, got {workers}")
    if only:
        select_cells(cells_mod.expand_grid(study), only)  # a bad --only is refused before the lock is taken
    with study_lock(study.output_dir, study.name):
        clear_stale(study)
        kernel = ensure_kernel()
        return runner.run(GridRun(study=study, notebooks_dir=notebooks_dir, kernel=kernel, workers=workers,
                                  progress=progress, gain_measure=gain_measure, wait=wait, plan=partial(plan_grid, only=tuple(only)),
                                  finish=finish))


def finish(study: Study, report: GridReport, notebooks_dir: Path, kernel: str, env: dict[str, str],
           grid: list[Cell], gain_measure: str | None) -> None:
    """Collect the rows, run the analysis notebook, read its verdict, export the report (into ``report``).

    Run by the executor after the cells: by the local one here, by the Slurm one in its analysis job.
    """
    try:
        report.results_path = Path(results.collect(study)).resolve()
    except Exception as err:  # noqa: BLE001 - the report still shows the cells
        report.analysis_error = f"collecting results failed: {type(err).__name__}: {err}"

    analysis_src = notebooks_dir / ANALYSIS_NOTEBOOK
    analysis_out = executed_dir(study) / ANALYSIS_NOTEBOOK
    if report.analysis_error is None and not analysis_src.is_file():
        report.analysis_error = f"analysis notebook {analysis_src} not found"
    timeline(study, "results collected")
    if report.analysis_error is None:
        parameters: dict[str, Any] = {"results_path": str(report.results_path)}
        if gain_measure is not None:
            parameters["gain_measure"] = gain_measure
        run = execute_notebook(analysis_src, analysis_out, parameters, cwd=notebooks_dir, kernel_name=kernel,
                               start_timeout=study.executor.start_timeout,
                               execution_timeout=study.executor.cell_timeout,
                               log=notebook_log(study, "analysis"), env=env)
        if not run.ok:
            report.analysis_error = f"analysis notebook failed ({run.stage}): {run.error}"
        if analysis_out.is_file():  # a failed analysis is still shown: its traceback is the answer
            report.analysis_notebook = analysis_out
            report.verdict = find_verdict(analysis_out)
        if report.verdict is None and report.analysis_error is None:
            report.analysis_error = f"the analysis notebook printed no line starting with {VERDICT_PREFIX!r}"
        timeline(study, f"analysis {'done' if run.ok else 'failed'}")

    cell_notebooks = [executed_notebook(study, c.id) for c in grid]
    notebooks = ([report.analysis_notebook] if report.analysis_notebook else []) + [
        p for p in cell_notebooks if p.is_file()]
    report.report_path = export_report(study, notebooks, report_path(study),
                                       answer_first=report.analysis_notebook is not None,
                                       notice=report.analysis_error or "", cells=grid)
    timeline(study, f"report {report.report_path}")
