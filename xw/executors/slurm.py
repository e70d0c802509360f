"""``executor: slurm``: the grid on a Slurm cluster, one submitit job per cell, chained by Slurm dependencies.

``xw grid STUDY --executor slurm`` submits

- a *prepare* job (only when a mini-world scale still needs phase (i) pretraining);
- one job per pending intermediate cell (``afterok`` on the prepare job, if any);
- one job per pending target cell, ``afterok`` on its intermediate cell's job (when that cell is not
  done yet), with ``--kill-on-invalid-dep=yes`` so a failed intermediate cancels its targets at once;
- an *analysis* job, ``afterany`` on every cell job: it records cells whose job died without a word
  (time limit, node failure, scancel) or was cancelled by a failed dependency, merges the results,
  runs the analysis notebook and exports the report (the grid's ``finish``, handed in its GridRun).

Each cell job calls :func:`xw.execution.cell.run_cell_notebook` and :func:`xw.execution.cell.settle`,
so its executed notebook, log, running marker and failure record are the ones a local worker writes.
Resources come from the parameters file's ``executor.slurm`` (partition, cpus_per_task, mem_gb,
timeout_min; gpus_per_node 0 for no GPUs) and, per cell, from its rung (``models.ladder`` gpus, nodes). Job ids are kept in ``outputs/<study>/slurm/jobs.json`` and
submitit's files (pickles, stdout/stderr) in ``outputs/<study>/slurm/<job id>/``.

Resume: done cells are never submitted; a cell whose job from an earlier submission is still
queued or running is adopted (waited on, used as a dependency), not submitted twice. By default
the grid waits for the analysis job, holding the study lock; ``--no-wait`` returns after
submitting. Killing the waiting grid leaves the jobs running; run ``xw grid`` again to follow them.

Job states come from ``squeue`` (and ``scontrol``/``sacct`` for finished jobs; xw.slurm_queue), not
from submitit's watcher, which needs ``sacct`` and so a Slurm accounting database.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from xw import cells as cells_mod
from xw.cells import Cell
from xw.checkpoints import needs_pretraining
from xw.errors import XWError
from xw.execution.cell import child_env, run_cell_notebook, settle
from xw.executors.base import Executor, Finish, GridReport, GridRun
from xw.layout import failure_record, jobs_path, slurm_dir, stop_ack
from xw.ledger import cell_states, read_failures, record_failure
from xw.params import ModelScale, Study
from xw.preemption import ACK_ENV
from xw.processes import kill_tree
from xw.slurm_queue import ended_state, live_jobs

POLL_S = float(os.environ.get("XW_SLURM_POLL_S", "10"))


class CellFailed(RuntimeError):
    """Raised inside a cell job so Slurm marks it FAILED (its dependents are then cancelled)."""


# ---- the jobs of a study ------------------------------------------------------------------------


def read_jobs(study: Study) -> dict[str, Any]:
    try:
        return json.loads(jobs_path(study).read_text())
    except (OSError, ValueError):
        return {}


def _write_jobs(study: Study, jobs: dict[str, Any]) -> None:
    from xw.atomic import atomic_write_text

    atomic_write_text(jobs_path(study), json.dumps(jobs, indent=2, sort_keys=True) + "\n")


def job_notes(study: Study) -> dict[str, str]:
    """For `xw status`: cell id -> 'slurm job 123 PENDING' (or how the job ended)."""
    recorded = read_jobs(study).get("cells", {})
    if not recorded:
        return {}
    live = live_jobs(max_age_s=5.0) or {}
    return {cell: f"slurm job {job} {live.get(job, 'ended')}" for cell, job in recorded.items()}


def _job_files(study: Study, job_id: str) -> Any:
    from submitit.core.utils import JobPaths

    return JobPaths(slurm_dir(study) / "%j", job_id=job_id, task_id=0)


def _job_outcome(study: Study, job_id: str) -> tuple[str, Any]:
    """('success', value) or ('error', traceback) from submitit's result file; ('lost', why) without one."""
    from submitit.core.utils import pickle_load

    paths = _job_files(study, job_id)
    try:
        return pickle_load(paths.result_pickle)
    except (OSError, EOFError, ValueError) as err:
        return "lost", (f"Slurm job {job_id} ended without a result ({ended_state(job_id)}; {type(err).__name__}); "
                        f"see {paths.stderr}")


# ---- what runs inside the jobs ------------------------------------------------------------------


def _job_env() -> dict[str, str]:
    env = child_env(1)
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and "XW_THREADS" not in os.environ:  # share the job's cores, not the node's
        env["XW_THREADS"] = cpus
        if "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = cpus
    return env


def prepare_job(study: Study) -> str:
    """Phase (i) pretraining of the mini-world scales (cached), before any cell job starts."""
    cells_mod.prepare_models(study, workers=1)
    return "prepared"


STOP_GRACE_S = 60.0  # of submitit's 90 s warning: for the training to save its checkpoint


class CellJob:
    """One cell on a compute node, exactly as a local worker runs it; raises if the cell failed.

    Checkpointable (submitit calls :meth:`checkpoint` on Slurm's pre-timeout USR2 or a preemption):
    the cell's kernel is asked to stop (USR2; the training saves a checkpoint at its next step, then
    writes the stop acknowledgement, xw.preemption), the job waits for that, kills whatever of the cell
    is left (kernel, torchrun, every rank) and is requeued with the same arguments; the requeued
    job runs the cell again, which resumes from the checkpoint. ``timeout_min`` is thus a limit per
    segment, and ``executor.slurm.max_requeues`` caps how often a cell may time out."""

    def __call__(self, study: Study, cell: Cell, notebooks_dir: str, kernel: str) -> str:
        ack = stop_ack(study, cell.id)
        ack.unlink(missing_ok=True)
        run = run_cell_notebook(study, cell, Path(notebooks_dir), kernel, {**_job_env(), ACK_ENV: str(ack)})
        settle(study, cell, run)
        if not run.ok:
            first = run.error.splitlines()[0] if run.error else ""
            raise CellFailed(f"cell {cell.id} failed ({run.stage}): {first}; record in "
                             f"{failure_record(study, cell.id)}")
        return cell.id

    def checkpoint(self, study: Study, cell: Cell, notebooks_dir: str, kernel: str) -> Any:
        from submitit.helpers import DelayedSubmission

        stop_cell_processes(stop_ack(study, cell.id), STOP_GRACE_S)
        return DelayedSubmission(self, study, cell, notebooks_dir, kernel)


cell_job = CellJob()


def stop_cell_processes(ack: Path, grace_s: float) -> bool:
    """Ask this job's kernels to stop (USR2), wait for the acknowledgement, then kill every descendant.

    Returns whether the training acknowledged (its checkpoint is on disk) within ``grace_s``."""
    import psutil

    family = psutil.Process().children(recursive=True)
    kernels = [p for p in family if _is_kernel(p)]
    for proc in kernels:
        try:
            proc.send_signal(signal.SIGUSR2)
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not ack.is_file() and any(p.is_running() for p in kernels):
        time.sleep(0.5)
    acknowledged = ack.is_file()
    for proc in psutil.Process().children():
        kill_tree(proc.pid, grace_s=5.0)
    return acknowledged


def _is_kernel(proc: Any) -> bool:
    try:
        return any("ipykernel" in part for part in proc.cmdline())
    except Exception:  # noqa: BLE001 - gone, or not ours to read
        return False


def record_lost_cells(study: Study, cells: list[Cell], jobs: dict[str, str], prepare: str | None) -> None:
    """Failure records for cells whose job ended without writing one: cancelled because a dependency
    failed (recorded as skipped, as a local grid does), or killed (time limit, node failure, scancel)."""
    states = {s.cell.id: s.state for s in cell_states(study, cells, live=False)}
    failures = read_failures(study)
    for cell in cells:  # intermediate cells first, so their targets see their records
        if states[cell.id] != "pending":  # done, or its failure is recorded
            continue
        dep = cells_mod.dependency(cell)
        if dep is not None and dep.id in failures:
            why = str(failures[dep.id].get("error") or "?").splitlines()[0]
            error, stage, skipped = f"skipped: its intermediate cell {dep.id} failed ({why})", "dependency", True
        elif cell.kind == "intermediate" and prepare and _job_outcome(study, prepare)[0] != "success":
            error, stage, skipped = (f"skipped: the pretraining job {prepare} failed "
                                     f"({_job_outcome(study, prepare)[1]!s:.300})"), "dependency", True
        elif cell.id in jobs:
            error, stage, skipped = _job_outcome(study, jobs[cell.id])[1], "slurm", False
            if not isinstance(error, str) or not error:
                error = f"Slurm job {jobs[cell.id]} ended but the cell wrote no result"
        else:
            continue  # not part of this submission
        record_failure(study, cell, str(error), stage=stage, skipped=skipped,
                       log=Path(str(_job_files(study, jobs[cell.id]).stderr)) if cell.id in jobs else None)
        failures[cell.id] = {"error": error, "skipped": skipped}


def report_from_disk(study: Study, cells: list[Cell], already_done: list[str]) -> GridReport:
    """A GridReport from the cells' states on disk (what the Slurm jobs left)."""
    report = GridReport(study=study.name, output_dir=study.output_dir, total=len(cells), executor="slurm")
    report.already_done = list(already_done)
    for s in cell_states(study, cells, live=False):
        if s.state == "done":
            if s.cell.id not in already_done:
                report.succeeded.append(s.cell.id)
        elif s.state in ("failed", "skipped"):
            target = report.skipped if s.state == "skipped" else report.failed
            target[s.cell.id] = s.error
    return report


def analysis_job(study: Study, cells: list[Cell], already_done: list[str], jobs: dict[str, str],
                 prepare: str | None, notebooks_dir: str, kernel: str, gain_measure: str | None,
                 finish: Finish) -> GridReport:
    """After every cell job (afterany): record lost cells, merge rows, run the analysis, write the report."""
    record_lost_cells(study, cells, jobs, prepare)
    report = report_from_disk(study, cells, already_done)
    report.jobs = dict(jobs)
    finish(study, report, Path(notebooks_dir), kernel, _job_env(), cells, gain_measure)
    return report


# ---- submitting and waiting ---------------------------------------------------------------------


def _executor(study: Study):
    import submitit

    conf = study.executor.slurm
    executor = submitit.SlurmExecutor(folder=slurm_dir(study) / "%j", max_num_timeout=conf.max_requeues)
    params: dict[str, Any] = {"cpus_per_task": conf.cpus_per_task, "mem": f"{conf.mem_gb}G", "time": conf.timeout_min,
                              **job_resources(study, None)}
    if conf.partition:
        params["partition"] = conf.partition
    executor.update_parameters(**params)
    return executor


def job_resources(study: Study, scale: ModelScale | None) -> dict[str, Any]:
    """What one job asks Slurm for: a cell gets its rung's nodes and GPUs per node (models.ladder gpus/nodes),
    one task per node (the cell launches its ranks itself); prepare and analysis get one node and one GPU.
    ``executor.slurm.gpus_per_node: 0`` requests no GPUs at all (a CPU partition, the CI's one-node Slurm)."""
    gpus = (scale.gpus if scale else 1) if study.executor.slurm.gpus_per_node else None
    return {"nodes": scale.nodes if scale else 1, "ntasks_per_node": 1, "gpus_per_node": gpus}


def _submit(executor, name: str, after: list[str], kind: str, fn, *args) -> str:
    extra: dict[str, str] = {}
    if after:
        extra["dependency"] = f"{kind}:" + ":".join(after)
        extra["kill-on-invalid-dep"] = "yes"
    executor.update_parameters(job_name=name[:120], additional_parameters=extra)
    try:
        return str(executor.submit(fn, *args).job_id)
    except Exception as err:  # submitit wraps sbatch's error in a RuntimeError / FailedJobError
        raise XWError(f"sbatch refused job {name}: {' '.join(str(err).split())[:600]}; check executor.slurm "
                      "in the parameters file (partition, gpus_per_node, cpus_per_task, mem_gb, timeout_min)") from None


class SlurmExecutor(Executor):
    name = "slurm"

    def run(self, run: GridRun) -> GridReport:
        """Submit the pending cells and the analysis as Slurm jobs; wait for them unless ``run.wait`` is False."""
        return run_slurm_grid(run)


def run_slurm_grid(run: GridRun) -> GridReport:
    """Submit the pending cells and the analysis as Slurm jobs; wait for them unless ``run.wait`` is False.

    Called through xw.grid.run_grid with the study lock held.
    """
    notebooks_dir, kernel, gain_measure = run.notebooks_dir, run.kernel, run.gain_measure
    if live_jobs() is None:
        raise XWError("executor slurm: squeue does not answer (is Slurm installed here, and slurmctld up?); "
                      "use --executor local, or run .ci/setup-slurm.sh for a one-node test cluster")
    # the jobs may start in another folder: make every path absolute before pickling the study
    study = dataclasses.replace(run.study, path=Path(run.study.path).resolve(),
                                output_root=Path(run.study.output_root).resolve())
    grid, todo, report = run.plan(study, notebooks_dir)
    report.executor = "slurm"
    previous = read_jobs(study)
    live = live_jobs() or {}
    adopted = {cid: jid for cid, jid in previous.get("cells", {}).items() if jid in live and cid in {c.id for c in todo}}
    if previous.get("analysis") in live:  # an earlier submission's analysis: this one supersedes it
        subprocess.run(["scancel", previous["analysis"]], capture_output=True, timeout=60)
    executor = _executor(study)
    jobs: dict[str, str] = dict(adopted)
    prepare = previous.get("prepare") if previous.get("prepare") in live else None
    analysis = None
    todo_minis = [s for s in study.ladder if needs_pretraining(study, s)]
    todo_ids = {c.id for c in todo}
    try:
        if todo_minis and not prepare and any(c.kind == "intermediate" and c.id not in adopted for c in todo):
            prepare = _submit(executor, f"xw-{study.name}-prepare", [], "afterok", prepare_job, study)
        for cell in todo:  # intermediate cells come first, so a target finds its dependency's job id
            if cell.id in jobs:
                continue
            dep = cells_mod.dependency(cell)
            if dep is not None and dep.id in todo_ids:
                after = [jobs[dep.id]] if dep.id in jobs else []
            else:
                after = [prepare] if prepare and cell.kind == "intermediate" else []
            executor.update_parameters(**job_resources(study, study.scale(cell.scale)))
            jobs[cell.id] = _submit(executor, f"xw-{cell.id}", after, "afterok", cell_job, study, cell,
                                    str(notebooks_dir), kernel)
        executor.update_parameters(**job_resources(study, None))
        analysis = _submit(executor, f"xw-{study.name}-analysis", sorted(set(jobs.values()), key=int),
                           "afterany", analysis_job, study, grid, report.already_done, jobs, prepare,
                           str(notebooks_dir), kernel, gain_measure, run.finish)
    finally:  # also when sbatch refused a job: what was submitted is adopted by the next run, not repeated
        _write_jobs(study, {"cells": {**previous.get("cells", {}), **jobs}, "prepare": prepare,
                            "analysis": analysis, "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    report.jobs = {**jobs, "analysis": analysis}
    print(f"xw: submitted {len(jobs) - len(adopted)} cell jobs ({len(adopted)} still queued from an earlier "
          f"submission, {len(report.already_done)} cells already done) and analysis job {analysis}",
          file=sys.stderr)
    if not run.wait:
        report.waited = False
        return report
    _wait(study, grid, set(report.jobs.values()), analysis, run.progress, len(report.already_done))
    status, value = _job_outcome(study, analysis)
    if status == "success":
        value.already_done, value.succeeded = report.already_done, [c for c in value.succeeded if c in todo_ids]
        value.jobs, value.executor = report.jobs, "slurm"
        return value
    # the analysis job itself died: say so, and report the cells from what is on disk
    record_lost_cells(study, grid, jobs, prepare)
    final = report_from_disk(study, grid, report.already_done)
    final.jobs = report.jobs
    final.analysis_error = f"the analysis job failed: {value}" if status == "error" else str(value)
    return final


def _analysis_over(study: Study, job_id: str, patience_s: float = 60.0) -> bool:
    """The analysis job has left the queue: make sure it ended (squeue can miss a job for a moment), and
    give a shared file system time to show its result file."""
    state = ended_state(job_id).split()[0]
    if state in {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}:
        return False
    deadline = time.monotonic() + patience_s
    while not Path(str(_job_files(study, job_id).result_pickle)).exists() and time.monotonic() < deadline:
        time.sleep(1.0)
    return True


def _wait(study: Study, grid: list[Cell], ours: set[str], analysis: str, progress: bool, initial: int) -> None:
    """Poll squeue until the analysis job has left the queue, showing cells done on disk."""
    from xw.progress import tqdm

    bar = tqdm(total=len(grid), initial=initial, desc=f"grid {study.name} (slurm)", unit="cell",
               disable=not progress)
    silent = 0
    try:
        while True:
            live = live_jobs()
            if live is None:
                silent += 1
                if silent * POLL_S > 600:
                    raise XWError("squeue has not answered for 10 minutes; the jobs may still run: re-run "
                                  "`xw grid` later to follow them, or see `xw status`")
            else:
                silent = 0
                states = [s.state for s in cell_states(study, grid, live=False)]
                bar.n = sum(state != "pending" for state in states)  # done, failed or skipped
                bar.set_postfix(jobs_queued=len(ours & set(live)),
                                failed=sum(state in ("failed", "skipped") for state in states), refresh=False)
                bar.refresh()
                if analysis not in live and _analysis_over(study, analysis):
                    return
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        print("\nxw: stopped waiting; the Slurm jobs keep running (scancel them to stop). Re-run `xw grid` to "
              "follow them, or `xw status` to see where they are.", file=sys.stderr)
        raise
    finally:
        bar.close()
