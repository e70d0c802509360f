"""FSDP2 training of one cell's head model(s) over several ranks: ``torchrun ... -m xw.distributed JOB``.

Why: XL and XXL do not fit one device, and a Jupyter kernel cannot host ranks. So a cell writes a job
file (:func:`write_job`: head model source, features, TrainConfig) and launches ``torchrun`` on this
module. Every rank builds the head model (a multi-task recipe's heads on one shared encoder, under one
:class:`HeadSet` root), shards it (:func:`parallelize`, PyTorch's own ``fully_shard``, one unit per
encoder layer) and runs :func:`xw.train.train`, which splits each effective batch over the ranks.
Rank 0 alone writes the exported encoder (full state dict gathered, ``save_pretrained`` format), the
per-step log, the stats and, last, the completion marker: a cell's success is that marker, not
torchrun's exit code. Without torchrun the same job runs in one process, unsharded, on the default
training path (the reference the tests compare the ranks against).
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import transformers
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    set_model_state_dict,
)
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from transformers import PreTrainedModel

from xw import preemption
from xw.atomic import atomic_write_text, now
from xw.errors import TrainingError, TrainingPreempted
from xw.featurize import Feature
from xw.models import encoder_of, share_encoder
from xw.params import TrainConfig
from xw.train import train
from xw.train_state import latest_step

DONE = "done.json"  # written last, by rank 0: the job finished and its files are complete
STEPS = "steps.json"  # per optimizer step: loss of the effective batch, gradient norm before clipping
ENCODER = "encoder"  # the trained encoder (+ tokenizer), loadable by the next phase and by any HF user
MODEL = "model"  # with ``export: model``: the whole head model, for evaluating a target cell on one device
PREEMPTED = "preempted.json"  # by rank 0 when a stop signal stopped the training after a checkpoint
STEP_LOG = "steps.jsonl"  # in the checkpoint folder: the steps logged so far, so a resumed job's STEPS is whole
LAYER_LISTS = ("layer", "layers", "block")  # XLM-R / XLM-R XL / BERT: encoder.layer; others: layers, block


def encoder_layers(model: PreTrainedModel) -> list[torch.nn.Module]:
    """The encoder's transformer layers (XLMRobertaLayer, XLMRobertaXLLayer, BertLayer, ...).

    Found by walking the encoder body for its first ModuleList named like a layer list, so a new
    architecture needs no entry here."""
    for name, module in encoder_of(model).named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in LAYER_LISTS and len(module):
            return list(module)
    raise TrainingError(f"{type(model).__name__}: no encoder layer list ({'/'.join(LAYER_LISTS)}) to shard")


class HeadSet(torch.nn.ModuleDict):
    """Several head models sharing one encoder (a multi-task recipe) as one module, the FSDP2 root.

    Why: FSDP2 needs a single root per training, and two head models sharded as two roots cannot share
    the encoder's sharded layers. ``forward(task, **batch)`` runs that task's head. Being a ModuleDict,
    its state dict names (``<task>.roberta...``) are those of the one-process ModuleDict of the heads, so
    mid-cell checkpoints load across 1 and N ranks."""

    def forward(self, task: str, **batch: Any) -> Any:
        return self[task](**batch)


def parallelize(model: torch.nn.Module, mesh: DeviceMesh, param_dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """Shard ``model`` over ``mesh`` the torchtitan way: each encoder layer one FSDP unit, the rest the root.

    ``model`` is a head model, or a :class:`HeadSet` whose heads share one encoder (its layers are sharded
    once). ``param_dtype`` bf16 computes in bf16 from fp32 sharded master weights (gradients reduced in fp32);
    fp32 on CPU. Gradients are summed over ranks, not averaged: xw.train weights each rank's loss by its
    share of the effective batch's loss units, so the sum is the gradient of the global token-weighted mean.
    """
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    layers = encoder_layers(next(iter(model.values())) if isinstance(model, HeadSet) else model)
    for k, layer in enumerate(layers):
        # backward needs the last layer again at once: keep it gathered instead of re-gathering it
        fully_shard(layer, mesh=mesh, mp_policy=policy, reshard_after_forward=k < len(layers) - 1)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    for module in model.modules():
        if isinstance(module, FSDPModule):  # a plain SUM (gloo has no pre-scaled sum; NCCL copies less)
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)
    return model


def start_ranks() -> tuple[torch.device, DeviceMesh | None]:
    """Join torchrun's process group (NCCL on GPUs, gloo on CPU); no group when not launched by torchrun."""
    if "RANK" not in os.environ:
        return (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")), None
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return device, init_device_mesh(device.type, (dist.get_world_size(),))


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded state dict on CPU, gathered on rank 0 (a collective: every rank must call it)."""
    if not isinstance(model, FSDPModule):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def _save_atomically(model: PreTrainedModel, out_dir: Path, tokenizer_source: str | None = None) -> None:
    """``save_pretrained`` into a temp folder beside ``out_dir``, then rename it into place."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if tokenizer_source:
        transformers.AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)


def export_encoder(model: PreTrainedModel, state: dict[str, torch.Tensor], out_dir: Path,
                   tokenizer_source: str | None) -> None:
    """Write the encoder of a gathered state dict in save_pretrained format, atomically (temp folder, rename).

    A fresh unsharded encoder is built from the config and loaded, so what is saved is an ordinary model
    (its non-persistent buffers such as ``position_ids`` initialised as usual)."""
    prefix = f"{model.base_model_prefix}."
    body = encoder_of(model)
    encoder = type(body)(body.config, add_pooling_layer=getattr(body, "pooler", None) is not None)
    encoder.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, strict=True)
    _save_atomically(encoder, out_dir, tokenizer_source)


def export_model(model: PreTrainedModel, state: dict[str, torch.Tensor], out_dir: Path) -> None:
    """Write the whole head model of a gathered state dict in save_pretrained format, atomically."""
    fresh = type(model)(model.config)
    fresh.load_state_dict(state, strict=True)
    _save_atomically(fresh, out_dir)


@dataclasses.dataclass(frozen=True)
class JobTask:
    """One task of a job: its name, head class (a transformers name), from_pretrained arguments, features."""

    task: str
    head: str
    head_kwargs: dict[str, Any]
    features: list[Feature]


def write_job(path: Path, task: str, source: str, head: str, head_kwargs: dict[str, Any], features: list[Feature],
              config: TrainConfig, seed: int, pad_id: int, out_dir: Path, tokenizer: str | None = None,
              checkpoint_dir: Path | None = None, export: str = ENCODER, also: Sequence[JobTask] = ()) -> Path:
    """A job file for :func:`run_job`: ``head`` names a transformers class (e.g. AutoModelForTokenClassification).

    ``checkpoint_dir``: where the training saves and resumes mid-cell checkpoints (``xw.train.train``).
    ``export``: ENCODER (phase ii: the next phase loads the encoder) or MODEL (phase iii: the head too).
    ``also``: further tasks trained at once with one shared encoder (a multi-task recipe; ENCODER only)."""
    if export not in (ENCODER, MODEL):
        raise ValueError(f"export must be {ENCODER!r} or {MODEL!r}, not {export!r}")
    if also and export != ENCODER:
        raise ValueError(f"a multi-task job exports its shared encoder: export must be {ENCODER!r}")
    job = {"task": task, "source": str(source), "head": head, "head_kwargs": head_kwargs, "features": features,
           "also": [dataclasses.asdict(extra) for extra in also],
           "config": dataclasses.asdict(config), "seed": seed, "pad_id": pad_id, "out_dir": str(out_dir),
           "tokenizer": tokenizer, "checkpoint_dir": str(checkpoint_dir) if checkpoint_dir else None,
           "export": export}
    atomic_write_text(Path(path), json.dumps(job))
    return Path(path)


def logged_steps(checkpoint_dir: Path | None) -> list[dict[str, Any]]:
    """The step log of a killed run up to its newest checkpoint (where training resumes); [] for a fresh one.

    Rewrites the log without the steps after that checkpoint, which the resumed run takes again."""
    if checkpoint_dir is None:
        return []
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    log, upto = checkpoint_dir / STEP_LOG, latest_step(checkpoint_dir)
    lines = log.read_text().splitlines() if log.is_file() else []
    steps = [s for s in (json.loads(line) for line in lines if line.strip()) if s["step"] <= upto]
    atomic_write_text(log, "".join(json.dumps(s) + "\n" for s in steps))
    return steps


def job_tasks(job: dict[str, Any]) -> list[JobTask]:
    """The job's tasks, its first (``task``) first."""
    first = JobTask(job["task"], job["head"], job.get("head_kwargs", {}), job["features"])
    return [first, *(JobTask(**extra) for extra in job.get("also", []))]


def build_heads(job: dict[str, Any], device: torch.device, mesh: DeviceMesh | None,
                config: TrainConfig) -> tuple[dict[str, PreTrainedModel], HeadSet | None]:
    """The job's head models (one encoder shared by several), and under a group the HeadSet root of several.

    Each head is initialised after ``torch.manual_seed(seed)``, as the one-process phase (ii) does, and
    several share the first's encoder (``xw.models.share_encoder``). Under a group the weights are read
    once, by rank 0, and broadcast: the other ranks build the models on the meta device (no memory, no
    file reads: 10.7B parameters read once, not once per rank), get storage for their shards only, and
    receive rank 0's values (the fresh heads' initialisation included). Buffers are copied from rank 0
    too: non-persistent ones (``position_ids``) are in no state dict, and left as meta-built garbage the
    first forward would fail. The FSDP2 root is the head model itself, or a :class:`HeadSet` of several
    (returned: training and the export go through it)."""
    tasks = job_tasks(job)
    on_meta = mesh is not None and dist.get_rank() != 0
    models: dict[str, PreTrainedModel] = {}
    for spec in tasks:
        head = getattr(transformers, spec.head)
        torch.manual_seed(job["seed"])  # the fresh head's initialisation: the one-process reference's
        if on_meta:
            with torch.device("meta"):
                models[spec.task] = head.from_config(transformers.AutoConfig.from_pretrained(job["source"],
                                                                                            **spec.head_kwargs))
        else:
            models[spec.task] = head.from_pretrained(job["source"], **spec.head_kwargs)
    if len(models) > 1:
        share_encoder(list(models.values()))
    if mesh is None:
        return {name: model.to(device) for name, model in models.items()}, None
    root = HeadSet(models) if len(models) > 1 else next(iter(models.values()))
    # the shared encoder is in the state dict under every head's names: it is sent once, under the first's
    aliases = tuple(f"{name}.{model.base_model_prefix}." for name, model in list(models.items())[1:])
    full = {} if on_meta else {k: v for k, v in root.state_dict().items() if not k.startswith(aliases)}
    parallelize(root, mesh, torch.bfloat16 if config.bf16 and device.type == "cuda" else torch.float32)
    if on_meta:  # rank 0's shards were moved to the device by fully_shard
        root.to_empty(device=device)
    result = set_model_state_dict(root, full, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True,
                                                                       strict=not aliases))
    if aliases and (result.unexpected_keys or any(not key.startswith(aliases) for key in result.missing_keys)):
        raise TrainingError(f"multi-task job {'+'.join(models)}: rank 0's weights did not load: missing "
                            f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    for buffer in root.buffers():
        dist.broadcast(buffer, src=0)
    return models, root if isinstance(root, HeadSet) else None


def run_job(job: dict[str, Any], device: torch.device, mesh: DeviceMesh | None) -> None:
    """Train one head model as the job says, on every rank; rank 0 writes the results."""
    config = TrainConfig(**job["config"])
    out_dir = Path(job["out_dir"])
    rank = dist.get_rank() if mesh is not None else 0
    models, heads = build_heads(job, device, mesh, config)
    tasks = job_tasks(job)
    model = models[tasks[0].task]
    checkpoint_dir = Path(job["checkpoint_dir"]) if job.get("checkpoint_dir") else None
    steps = logged_steps(checkpoint_dir) if rank == 0 else []

    def on_step(log: Any) -> None:
        steps.append(dataclasses.asdict(log))
        if checkpoint_dir is not None and rank == 0:
            with (checkpoint_dir / STEP_LOG).open("a") as file:
                file.write(json.dumps(steps[-1]) + "\n")

    try:
        stats = train({spec.task: (models[spec.task], spec.features) for spec in tasks}, config, job["seed"],
                      job["pad_id"], device, progress=False, description="+".join(models), on_step=on_step,
                      checkpoint_dir=checkpoint_dir, root=heads)
    except TrainingPreempted as stopped:  # the launcher reads this and tells the cell
        if rank == 0:
            out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out_dir / PREEMPTED, json.dumps({"error": str(stopped), "at": now()}))
        raise
    state = full_state_dict(model if heads is None else heads)
    if heads is not None:  # the first head's names: its encoder is the shared one
        prefix = f"{tasks[0].task}."
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        if job.get("export", ENCODER) == MODEL:
            export_model(model, state, out_dir / MODEL)
        else:
            export_encoder(model, state, out_dir / ENCODER, job.get("tokenizer"))
        atomic_write_text(out_dir / STEPS, json.dumps(steps))
        if checkpoint_dir is not None:  # train() left no checkpoint: the log goes too, and the folder
            (checkpoint_dir / STEP_LOG).unlink(missing_ok=True)
            if checkpoint_dir.is_dir() and not any(checkpoint_dir.iterdir()):
                checkpoint_dir.rmdir()
        world = dist.get_world_size() if mesh is not None else 1
        atomic_write_text(out_dir / DONE, json.dumps({**dataclasses.asdict(stats), "ranks": world,
                                                      "finished_at": now()}))
    if mesh is not None:
        dist.barrier()


def main(argv: list[str] | None = None) -> int:
    """``torchrun --nproc-per-node N -m xw.distributed JOB [JOB ...]``: the jobs in order, one process group."""
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: torchrun --nproc-per-node N -m xw.distributed JOB.json [JOB.json ...]", file=sys.stderr)
        return 2
    if "RANK" in os.environ:
        preemption.die_with_parent()  # torchrun gone (killed, or its launcher killed): this rank goes too
        faulthandler.enable()  # a rank that aborts (SIGABRT, SIGSEGV) prints its Python stacks into the log
    device, mesh = start_ranks()
    try:
        with preemption.listening():
            for path in paths:
                run_job(json.loads(Path(path).read_text()), device, mesh)
    except TrainingPreempted as stopped:
        print(f"xw.distributed: {stopped}", file=sys.stderr)
        return 3
    finally:
        if mesh is not None:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
