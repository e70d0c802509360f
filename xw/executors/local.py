"""``executor: local``: the grid's cells in ``workers`` processes on this machine.

Each worker slot is a thread that waits on one papermill child (or warm worker, when
``executor.reuse_kernels``) at a time; the slot is pinned to one GPU (``CUDA_VISIBLE_DEVICES``
round-robin) when there are GPUs. The order and the dependencies come from xw.scheduler: a target
cell starts only after its intermediate cell succeeded and is skipped if that failed. A failed cell
is recorded (xw.ledger) and the grid goes on. Ctrl-C kills every child with its kernel.
"""

from __future__ import annotations

import os
import queue
import subprocess
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from xw import cells as cells_mod
from xw.cells import Cell
from xw.checkpoints import needs_pretraining
from xw.execution.cell import child_env, run_cell_notebook, settle
from xw.execution.notebook import NotebookRun, WarmWorker, allow_starts, kill_active
from xw.executors.base import Executor, GridReport, GridRun
from xw.layout import executed_notebook, notebook_log, worker_log
from xw.ledger import record_failure, timeline
from xw.scheduler import Schedule, pretraining_openers, scale_cost


def visible_gpus() -> list[str]:
    """GPUs the local workers are pinned to: CUDA_VISIBLE_DEVICES if set, else nvidia-smi's; [] on CPU."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        ids = [v.strip() for v in value.split(",") if v.strip()]
        return [] if not ids or ids[0] in ("-1", "NoDevFiles") else ids
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()] if out.returncode == 0 else []


def worker_env(env: dict[str, str], slot: int, gpus: list[str]) -> dict[str, str]:
    """The environment of worker slot ``slot``: one GPU per slot, round-robin (unchanged without GPUs)."""
    env = {**env, "XW_WORKER_SLOT": str(slot)}
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # number GPUs the way nvidia-smi does
    return env


class LocalExecutor(Executor):
    name = "local"

    def run(self, run: GridRun) -> GridReport:
        from xw.progress import tqdm

        study, workers, notebooks_dir, kernel = run.study, run.workers, run.notebooks_dir, run.kernel
        env = child_env(workers)
        allow_starts()

        grid, todo, report = run.plan(study, notebooks_dir)
        timeline(study, f"grid {len(todo)} of {len(grid)} cells to run, {workers} workers")
        openers = pretraining_openers(study, todo)
        unopened = [s.name for s in study.ladder if s.name not in openers and needs_pretraining(study, s)]
        if unopened:  # e.g. the pretraining was deleted after the scale's intermediate cells were done
            cells_mod.prepare_models(study, workers=workers, scales=unopened)
        gpus = visible_gpus()
        slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(workers):
            slots.put(slot)

        warm = {slot: WarmWorker(slot, worker_env(env, slot, gpus), notebooks_dir, worker_log(study, slot))
                for slot in range(workers)} if study.executor.reuse_kernels else {}

        def run_one(cell: Cell) -> NotebookRun:
            slot = slots.get()  # one per pool thread, so never waits
            started = time.perf_counter()
            timeline(study, f"start {cell.id} worker {slot}")
            try:
                return run_cell_notebook(study, cell, notebooks_dir, kernel, worker_env(env, slot, gpus),
                                         warm.get(slot))
            finally:
                timeline(study, f"end {cell.id} worker {slot} {time.perf_counter() - started:.1f}s")
                slots.put(slot)

        bar = tqdm(total=len(grid), initial=len(report.already_done), desc=f"grid {study.name}", unit="cell",
                   disable=not run.progress)
        schedule = Schedule(grid, todo, openers, scale_cost(study))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xw-grid")
        futures: dict[Future, Cell] = {}

        def dispatch() -> None:
            for cell in schedule.take(workers - len(futures)):
                futures[pool.submit(run_one, cell)] = cell

        try:
            dispatch()
            while futures:
                finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for future in finished:
                    cell = futures.pop(future)
                    try:
                        outcome = future.result()
                    except Exception as err:  # noqa: BLE001 - a bug in bookkeeping must not stop the grid
                        outcome = NotebookRun(ok=False, notebook=executed_notebook(study, cell.id),
                                              log=notebook_log(study, cell.id), stage="crashed",
                                              error=f"{type(err).__name__}: {err}")
                    bar.update(1)
                    settle(study, cell, outcome)
                    if outcome.ok:
                        report.succeeded.append(cell.id)
                        schedule.succeeded(cell)
                    else:
                        report.failed[cell.id] = outcome.error
                        bar.write(f"FAILED {cell.id} ({outcome.stage}): "
                                  f"{outcome.error.splitlines()[0] if outcome.error else ''}")
                        for dependent, reason in schedule.failed(cell, outcome.error):
                            record_failure(study, dependent, reason, stage="dependency", skipped=True)
                            report.skipped[dependent.id] = reason
                            bar.update(1)
                    bar.set_postfix(failed=len(report.failed), skipped=len(report.skipped), refresh=False)
                dispatch()
        except BaseException:
            kill_active()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            bar.close()
        for slot, worker in warm.items():  # before the pool's threads end: a worker dies with its starting thread
            started = time.perf_counter()
            worker.close()
            timeline(study, f"closed worker {slot} {time.perf_counter() - started:.1f}s")
        pool.shutdown(wait=True)

        run.finish(study, report, notebooks_dir, kernel, env, grid, run.gain_measure)
        return report
