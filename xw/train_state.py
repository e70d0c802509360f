"""Mid-cell checkpoints of the training loop: save, find, load and prune a folder of DCP checkpoints.

Why: an XL or XXL cell trains for hours, and a Slurm job is pre-empted or runs out of time. A
checkpoint (``step-000040``) holds everything that decides the rest of the run: the model and
optimizer (``torch.distributed.checkpoint``, each rank writing its own shards, loadable by any other
number of ranks or by one process without a group, because the state dicts come from
``get_state_dict``/``set_state_dict``, which speak fully-qualified names whatever the sharding), the
learning-rate schedule, every rank's torch RNG state, the step and the loss/throughput counters.

It is written as ``step-000040.tmp`` by all ranks, and renamed to ``step-000040`` by rank 0 only after
every rank finished (a barrier): a folder without ``.tmp`` is complete, so a run killed mid-save resumes
from the checkpoint before, and the half-written one is deleted.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

EXTRA = "train.pt"  # the schedule, RNG states, step and counters (small, plain objects; rank 0 writes it)
NAME = re.compile(r"^step-(\d{6,})$")


@dataclass
class Resumed:
    """What the loop needs to continue from a checkpoint besides the model and optimizer."""

    step: int  # optimizer steps already taken
    examples: int
    tokens: int
    running: float  # summed loss of the steps since the last 25-step report (over all ranks)


def _group() -> bool:
    return dist.is_available() and dist.is_initialized()


def _barrier() -> None:
    if _group():
        dist.barrier()


def _rank() -> int:
    return dist.get_rank() if _group() else 0


def step_dir(folder: Path, step: int) -> Path:
    return folder / f"step-{step:06d}"


def complete_steps(folder: Path) -> list[int]:
    """The steps of the complete checkpoints in ``folder``, oldest first (none when it does not exist)."""
    if not folder.is_dir():
        return []
    found = [int(m.group(1)) for p in folder.iterdir() if p.is_dir() and (m := NAME.match(p.name))
             and (p / EXTRA).is_file() and (p / ".metadata").is_file()]
    return sorted(found)


def latest_step(folder: Path | None) -> int:
    """The step of the newest complete checkpoint in ``folder``; 0 when there is none (a fresh start)."""
    steps = complete_steps(folder) if folder is not None else []
    return steps[-1] if steps else 0


def _model(models: dict[str, torch.nn.Module], root: torch.nn.Module | None = None) -> torch.nn.Module:
    """One module holding every head (a ModuleDict), so that the state dict names are task-qualified.

    ``root``: the sharded HeadSet of several heads (a ModuleDict of them, hence the same names)."""
    if root is not None:
        return root
    return next(iter(models.values())) if len(models) == 1 else torch.nn.ModuleDict(models)


def _rng_states(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def save(folder: Path, step: int, models: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer,
         scheduler: Any, counters: Resumed, device: torch.device, keep: int, root: torch.nn.Module | None = None) -> Path:
    """Write checkpoint ``step`` (a collective: every rank calls it), then keep only the newest ``keep``."""
    target, tmp = step_dir(folder, step), folder / f"step-{step:06d}.tmp"
    if _rank() == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier()
    model_state, optim_state = get_state_dict(_model(models, root), optimizer)
    dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(tmp))
    rng = _rng_states(device)
    ranks_rng = [None] * dist.get_world_size() if _group() else [rng]
    if _group():
        dist.all_gather_object(ranks_rng, rng)
    if _rank() == 0:
        torch.save({"scheduler": scheduler.state_dict(), "rng": ranks_rng, "step": counters.step,
                    "examples": counters.examples, "tokens": counters.tokens, "running": counters.running},
                   tmp / EXTRA)
    _barrier()  # every rank's shards are on disk before the folder counts as complete
    if _rank() == 0:
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        for old in complete_steps(folder)[:-max(1, keep)]:
            shutil.rmtree(step_dir(folder, old), ignore_errors=True)
    _barrier()
    return target


def load(folder: Path, models: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer, scheduler: Any,
         device: torch.device, root: torch.nn.Module | None = None) -> Resumed | None:
    """Restore the newest complete checkpoint in ``folder`` into the models, optimizer, schedule and RNG.

    None when there is none. Half-written ``.tmp`` folders of a killed run are deleted first (rank 0,
    before any rank reads). The RNG state restored is this rank's when the number of ranks is unchanged,
    rank 0's otherwise (with dropout 0 nothing draws from it; with dropout a resharded run cannot replay
    the old ranks' masks anyway)."""
    if _rank() == 0 and folder.is_dir():
        for stale in folder.glob("step-*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
    _barrier()
    step = latest_step(folder)
    if not step:
        return None
    path = step_dir(folder, step)
    model = _model(models, root)
    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state}
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    extra = torch.load(path / EXTRA, weights_only=False)
    scheduler.load_state_dict(extra["scheduler"])
    ranks_rng = extra["rng"]
    world = dist.get_world_size() if _group() else 1
    rng = ranks_rng[_rank()] if len(ranks_rng) == world else ranks_rng[0]
    torch.set_rng_state(rng["cpu"])
    if device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], device)
    running = extra["running"] if _rank() == 0 else 0.0  # the sum over ranks, counted once
    return Resumed(step=extra["step"], examples=extra["examples"], tokens=extra["tokens"], running=running)


def clear(folder: Path) -> None:
    """A finished run keeps no checkpoint: remove them (rank 0) and the folder itself when left empty."""
    if _rank() == 0 and folder.is_dir():
        for path in folder.glob("step-*"):
            shutil.rmtree(path, ignore_errors=True)
        if not any(folder.iterdir()):
            folder.rmdir()
    _barrier()
