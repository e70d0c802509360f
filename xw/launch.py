"""Launch a cell's multi-rank training: ``torchrun`` on :mod:`xw.distributed`, from the cell's kernel.

Why: a Jupyter kernel cannot host the ranks, so a rung with more than one GPU has its training run
as a torchrun job. What a launcher must get right: torchrun starts its ranks in their own sessions
(a signal to the kernel's process group never reaches them), it forwards only TERM/INT/HUP/QUIT by
default (Slurm's pre-timeout signal is USR2), and a rank can abort at teardown after its work is
written. So torchrun runs in a session of its own, dies with the kernel (and each rank with torchrun,
:func:`xw.preemption.die_with_parent`), is killed with its whole process tree on any error or
interrupt, gets the stop signals the kernel receives, and success is each job's completion marker
(``done.json``), not torchrun's exit code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from xw import preemption
from xw.distributed import DONE, PREEMPTED, STEPS, JobTask, write_job
from xw.errors import TrainingError, TrainingPreempted
from xw.featurize import Feature
from xw.params import ModelScale, TrainConfig
from xw.processes import kill_tree
from xw.tasks import TaskSpec
from xw.train import StepLog

FORWARDED = "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR2"  # torchrun's default set, plus Slurm's USR2
SHUTDOWN_S = 30  # after a forwarded signal, torchrun waits this long for the ranks, then kills them


def torchrun_command(job_paths: list[Path], gpus: int, nodes: int = 1) -> list[str]:
    """The launch command: one node standalone; several nodes through ``srun`` (one torchrun per node)."""
    run = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(gpus),
           "--signals-to-handle", FORWARDED, "--shutdown-timeout", str(SHUTDOWN_S)]
    if nodes == 1:
        run.append("--standalone")
    else:  # Slurm: the job's first node hosts the rendezvous
        head = os.environ.get("SLURM_JOB_NODELIST", "localhost").split(",")[0].split("[")[0]
        run = ["srun", "--ntasks-per-node=1", f"--nodes={nodes}", "--kill-on-bad-exit=1", *run,
               "--nnodes", str(nodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"{head}:29500",
               "--rdzv-id", os.environ.get("SLURM_JOB_ID", "xw")]
    return [*run, "-m", "xw.distributed", *map(str, job_paths)]


def _preexec() -> None:
    preemption.die_with_parent(signal.SIGTERM)  # torchrun then stops its ranks the usual way


def run_ranks(job_paths: list[Path], out_dirs: list[Path], gpus: int, nodes: int = 1,
              log_path: Path | None = None) -> None:
    """Run the jobs under torchrun and wait; raise unless every job wrote its completion marker.

    A stop signal this process receives (while :func:`xw.preemption.listening`) is forwarded to torchrun,
    which forwards it to the ranks: they save a checkpoint and stop, and this raises TrainingPreempted."""
    log_path = log_path or Path(job_paths[0]).with_suffix(".log")
    for out in out_dirs:
        (Path(out) / PREEMPTED).unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(torchrun_command(job_paths, gpus, nodes), stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True, preexec_fn=_preexec)
    forwarded = False
    try:  # the cell's own time limit (executor.cell_timeout) ends the kernel, and torchrun with it
        while proc.poll() is None:
            stop = preemption.requested()
            if stop and not forwarded:
                proc.send_signal(stop)
                forwarded = True
            time.sleep(0.2)
    except BaseException:
        kill_tree(proc.pid)
        raise
    for out in out_dirs:
        marker = Path(out) / PREEMPTED
        if marker.is_file():
            raise TrainingPreempted(json.loads(marker.read_text())["error"])
    missing = [str(out) for out in out_dirs if not (Path(out) / DONE).is_file()]
    if missing:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise TrainingError(f"torchrun exited with code {proc.returncode} and no completion marker in "
                            f"{', '.join(missing)}; the ranks' log {log_path} ends:\n{tail}")


def train_on_ranks(scale: ModelScale, task: TaskSpec, head: type, head_kwargs: dict, source: str,
                   features: list[Feature], config: TrainConfig, seed: int, pad_id: int, job_dir: Path,
                   checkpoint_dir: Path | None, export: str, tokenizer: str | None = None,
                   on_step: Callable[[StepLog], None] | None = None, also: Sequence[JobTask] = ()) -> Path:
    """One cell's training on the rung's ranks (``scale.gpus`` x ``scale.nodes``); returns the job's folder.

    The folder then holds ``export`` (the encoder, or the whole head model) in save_pretrained format,
    written by rank 0; ``on_step`` sees every logged step afterwards (the ranks' curve, for TensorBoard).
    ``also``: the other members of a multi-task recipe, trained at once on the shared encoder."""
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / DONE).unlink(missing_ok=True)
    job = write_job(job_dir / "job.json", task.name, source, head.__name__, head_kwargs, features, config, seed,
                    pad_id, job_dir, tokenizer=tokenizer, checkpoint_dir=checkpoint_dir, export=export, also=also)
    run_ranks([job], [job_dir], scale.gpus, scale.nodes, log_path=job_dir / "torchrun.log")
    if on_step is not None:
        for step in json.loads((job_dir / STEPS).read_text()):
            on_step(StepLog(**step))
    return job_dir
