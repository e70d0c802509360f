"""FSDP2 training of one cell's head model over several ranks: ``torchrun ... -m xw.distributed JOB``.

Why: XL and XXL do not fit one device, and a Jupyter kernel cannot host ranks. So a cell writes a job
file (:func:`write_job`: head model source, features, TrainConfig) and launches ``torchrun`` on this
module. Every rank builds the head model, shards it (:func:`parallelize`, PyTorch's own
``fully_shard``, one unit per encoder layer) and runs :func:`xw.train.train`, which splits each effective
batch over the ranks. Rank 0 alone writes the exported encoder (full state dict gathered,
``save_pretrained`` format), the per-step log, the stats and, last, the completion marker: a cell's
success is that marker, not torchrun's exit code. Without torchrun the same job runs in one process,
unsharded, on the default training path (the reference the tests compare the ranks against).
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import os
import shutil
import sys
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
from xw.models import encoder_of
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


def parallelize(model: PreTrainedModel, mesh: DeviceMesh, param_dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """Shard ``model`` over ``mesh`` the torchtitan way: each encoder layer one FSDP unit, the rest the root.

    ``param_dtype`` bf16 computes in bf16 from fp32 sharded master weights (gradients reduced in fp32);
    fp32 on CPU. Gradients are summed over ranks, not averaged: xw.train weights each rank's loss by its
    share of the effective batch's loss units, so the sum is the gradient of the global token-weighted mean.
    """
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    layers = encoder_layers(model)
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


def full_state_dict(model: PreTrainedModel) -> dict[str, torch.Tensor]:
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


def write_job(path: Path, task: str, source: str, head: str, head_kwargs: dict[str, Any], features: list[Feature],
              config: TrainConfig, seed: int, pad_id: int, out_dir: Path, tokenizer: str | None = None,
              checkpoint_dir: Path | None = None, export: str = ENCODER) -> Path:
    """A job file for :func:`run_job`: ``head`` names a transformers class (e.g. AutoModelForTokenClassification).

    ``checkpoint_dir``: where the training saves and resumes mid-cell checkpoints (``xw.train.train``).
    ``export``: ENCODER (phase ii: the next phase loads the encoder) or MODEL (phase iii: the head too)."""
    if export not in (ENCODER, MODEL):
        raise ValueError(f"export must be {ENCODER!r} or {MODEL!r}, not {export!r}")
    job = {"task": task, "source": str(source), "head": head, "head_kwargs": head_kwargs, "features": features,
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


def build_head(job: dict[str, Any], device: torch.device, mesh: DeviceMesh | None, config: TrainConfig) -> PreTrainedModel:
    """The job's head model, sharded under a group: the weights are read once, by rank 0, and broadcast.

    The other ranks build the model on the meta device (no memory, no file reads: 10.7B parameters read
    once, not once per rank), get storage for their shards only, and receive rank 0's values (the fresh
    head's initialisation included, so every rank starts from the one-process reference's weights).
    Buffers are copied from rank 0 too: non-persistent ones (``position_ids``) are in no state dict, and
    left as meta-built garbage the first forward would fail."""
    head = getattr(transformers, job["head"])
    kwargs = job.get("head_kwargs", {})
    torch.manual_seed(job["seed"])  # the fresh head's initialisation: the one-process reference's
    if mesh is None:
        return head.from_pretrained(job["source"], **kwargs).to(device)
    if dist.get_rank() == 0:
        model, meta = head.from_pretrained(job["source"], **kwargs), False
        full = model.state_dict()
    else:
        with torch.device("meta"):
            model, meta = head.from_config(transformers.AutoConfig.from_pretrained(job["source"], **kwargs)), True
        full = {}
    parallelize(model, mesh, torch.bfloat16 if config.bf16 and device.type == "cuda" else torch.float32)
    if meta:  # rank 0's shards were moved to the device by fully_shard
        model.to_empty(device=device)
    set_model_state_dict(model, full, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)
    return model


def run_job(job: dict[str, Any], device: torch.device, mesh: DeviceMesh | None) -> None:
    """Train one head model as the job says, on every rank; rank 0 writes the results."""
    config = TrainConfig(**job["config"])
    out_dir = Path(job["out_dir"])
    rank = dist.get_rank() if mesh is not None else 0
    model = build_head(job, device, mesh, config)
    checkpoint_dir = Path(job["checkpoint_dir"]) if job.get("checkpoint_dir") else None
    steps = logged_steps(checkpoint_dir) if rank == 0 else []

    def on_step(log: Any) -> None:
        steps.append(dataclasses.asdict(log))
        if checkpoint_dir is not None and rank == 0:
            with (checkpoint_dir / STEP_LOG).open("a") as file:
                file.write(json.dumps(steps[-1]) + "\n")

    try:
        stats = train({job["task"]: (model, job["features"])}, config, job["seed"], job["pad_id"], device,
                      progress=False, description=job["task"], on_step=on_step, checkpoint_dir=checkpoint_dir)
    except TrainingPreempted as stopped:  # the launcher reads this and tells the cell
        if rank == 0:
            out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out_dir / PREEMPTED, json.dumps({"error": str(stopped), "at": now()}))
        raise
    state = full_state_dict(model)
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
