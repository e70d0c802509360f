"""Where everything of a study lives on disk: the one module that knows its output paths.

Everything else asks here instead of joining folder names itself, so the layout is written down
once. Under ``outputs/<study>/``:

- ``cells/<cell>.csv`` — a cell's result rows (written atomically); the cell is done when it exists;
- ``predictions/<cell>.parquet`` — every example the cell evaluated, one row each (cell keys, language,
  split, example index / id, gold, prediction, correct; xw.results.write_predictions), written atomically
  just before the cell's result file, so a done cell's rows and predictions come from one run and a
  failed cell leaves none; a cell that evaluates nothing (an intermediate cell without retrieval
  targets) writes none;
- ``results.csv`` — every cell's rows merged (xw.results.collect);
- ``notebooks/<cell>.ipynb`` — the executed copy (written under a temp name, then renamed);
- ``notebooks/analysis.ipynb`` — the executed analysis notebook (it prints the VERDICT line);
- ``failed/<cell>.json`` — why a cell failed or was skipped (removed when it later succeeds);
- ``running/<cell>`` — present while the grid runs the cell (read by ``xw status``);
- ``logs/<cell>.log`` — papermill's log of the cell, to follow a long cell with ``tail -f``;
- ``logs/worker-<slot>.log`` — a warm worker's own output (its kernel's, between cells);
- ``logs/analysis.log`` — papermill's log of the analysis notebook;
- ``logs/grid.log`` — the run's timeline: when each cell started and ended on which worker, the
  analysis and the report (where the wall time of a run went);
- ``resume/<scale>-<intermediate>-<target>-seed<k>/`` — a target training's mid-cell checkpoints
  (xw.train_state), resumed by a re-run of the cell, deleted when its training completes; phase (ii)'s
  sit beside its cached checkpoint (``<checkpoint>.resume``);
- ``ranks/<scale>-<intermediate>-<target>-seed<k>/`` — a multi-rank training's torchrun job (job file,
  ``torchrun.log``, the exported model), deleted once the cell's rows are computed;
- ``curves/<scale>-<intermediate>-<target>-seed<k>/`` — a target training's TensorBoard events and
  ``curve.json`` (xw.tracking); phase (ii)'s and pretraining's curves live in their checkpoint's ``curves/``;
- ``mlruns/``, ``wandb/`` — MLflow's local file store and W&B's offline runs, when the study's
  ``tracking.backends`` names them (``tracking_store``);
- ``report.html`` — the offline report (xw.report);
- ``slurm/jobs.json`` and ``slurm/<job id>/`` — Slurm job ids and submitit's files (xw.executors.slurm);
- ``.lock`` — flock held by the running grid (xw.lock): a second grid on the study refuses to start.

Only paths here: nothing is read or written, so any layer may import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from xw.lock import LOCK_NAME
from xw.params import Study

GRID_LOG = "grid.log"
JOBS_FILE = "jobs.json"


class HasId(Protocol):
    """A grid cell (xw.cells.Cell), as far as its paths go."""

    @property
    def id(self) -> str: ...


def cells_dir(study: Study) -> Path:
    return study.output_dir / "cells"


def result_path(study: Study, cell: HasId) -> Path:
    """The cell's result file: the cell is done when it exists."""
    return cells_dir(study) / f"{cell.id}.csv"


def predictions_path(study: Study, cell: HasId) -> Path:
    """The cell's per-example predictions (Parquet), beside its result file's id."""
    return study.output_dir / "predictions" / f"{cell.id}.parquet"


def results_path(study: Study) -> Path:
    return study.output_dir / "results.csv"


def executed_dir(study: Study) -> Path:
    return study.output_dir / "notebooks"


def executed_notebook(study: Study, name: str) -> Path:
    """The executed copy of cell ``name`` (a cell id), or of the analysis notebook (``analysis``)."""
    return executed_dir(study) / f"{name}.ipynb"


def failed_dir(study: Study) -> Path:
    return study.output_dir / "failed"


def failure_record(study: Study, cell_id: str) -> Path:
    return failed_dir(study) / f"{cell_id}.json"


def running_dir(study: Study) -> Path:
    return study.output_dir / "running"


def running_marker(study: Study, cell_id: str) -> Path:
    return running_dir(study) / cell_id


def logs_dir(study: Study) -> Path:
    return study.output_dir / "logs"


def notebook_log(study: Study, name: str) -> Path:
    """papermill's log of cell ``name`` (a cell id), or of the analysis notebook (``analysis``)."""
    return logs_dir(study) / f"{name}.log"


def worker_log(study: Study, slot: int) -> Path:
    return logs_dir(study) / f"worker-{slot}.log"


def grid_log(study: Study) -> Path:
    return logs_dir(study) / GRID_LOG


def resume_dir(study: Study, training: str) -> Path:
    """Mid-cell checkpoints of one target training (``<scale>-<intermediate>-<target>-seed<k>``)."""
    return study.output_dir / "resume" / training


def ranks_dir(study: Study, training: str) -> Path:
    """The torchrun job of one multi-rank target training."""
    return study.output_dir / "ranks" / training


def curves_dir(study: Study) -> Path:
    return study.output_dir / "curves"


def target_curves(study: Study, scale: str, intermediate: str, target: str, seed: int) -> Path:
    """The TensorBoard folder of one phase-(iii) training (``tensorboard --logdir`` it; xw.tracking.read_curve)."""
    return curves_dir(study) / f"{scale}-{intermediate}-{target}-seed{seed}"


def tracking_store(study: Study) -> Path:
    """The folder W&B (``wandb/``) and MLflow's local file store (``mlruns/``) write under."""
    return study.output_dir


def report_path(study: Study) -> Path:
    return study.output_dir / "report.html"


def slurm_dir(study: Study) -> Path:
    return study.output_dir / "slurm"


def jobs_path(study: Study) -> Path:
    return slurm_dir(study) / JOBS_FILE


def stop_ack(study: Study, cell_id: str) -> Path:
    """Written by a cell's training once it saved its checkpoint on a stop signal (a Slurm job waits on it)."""
    return slurm_dir(study) / "stops" / cell_id


def lock_path(study: Study) -> Path:
    return study.output_dir / LOCK_NAME
