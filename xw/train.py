"""The training kernel: one readable loop for phases (ii) and (iii), single- or multi-task.

Multi-task training (the paper's "all nine at once") shares one encoder between several
head models and samples each step's task in proportion to its number of batches, which
is the same as size-proportional example sampling.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor
from transformers import PreTrainedModel

from xw import preemption, train_state
from xw.errors import TrainingError, TrainingPreempted
from xw.featurize import Feature, collate, length_grouped_batches
from xw.kinds import IGNORE
from xw.models import encoder_of
from xw.params import TrainConfig
from xw.progress import tqdm


@dataclass(frozen=True)
class StepLog:
    """One optimizer step, as a training curve records it (TensorBoard, the distributed job's steps.json)."""

    step: int
    loss: float  # of the whole effective batch, summed over ranks
    grad_norm: float  # before clipping
    learning_rate: float  # the rate this step was taken with
    tokens: int  # non-padding tokens of this step's effective batch
    seconds: float  # wall time of this step


# called after every optimizer step on every rank (the values are already global)
StepHook = Callable[[StepLog], None]


@dataclass
class TrainStats:
    steps: int
    examples: int
    tokens: int
    seconds: float
    final_loss: float

    @property
    def examples_per_second(self) -> float:
        return self.examples / max(self.seconds, 1e-9)


def make_optimizer(params: list[torch.nn.Parameter], names: list[str], config: TrainConfig,
                   device: torch.device) -> torch.optim.Optimizer:
    """AdamW, no decay on biases and LayerNorm; fused kernel where the device has one."""
    decay = [p for p, n in zip(params, names, strict=True) if not (n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n)]
    no_decay = [p for p, n in zip(params, names, strict=True) if n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=config.learning_rate, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=config.learning_rate)


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float):
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: without them bf16 matmuls on CPU are emulated, ~16x slower than fp32 here.

    Cached: the hardware does not change, and autocast_context asks on every training step."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_context(device: torch.device, bf16: bool):
    """bf16 autocast where it pays (GPUs, CPUs with native bf16); fp32 with a warning elsewhere."""
    if bf16 and device.type == "cpu" and not cpu_has_native_bf16():
        warnings.warn("training.bf16 is true but this CPU has no native bf16 (no AVX512-BF16/AMX), where bf16 "
                      "autocast ran 0.06x as fast as fp32 (benchmarks/README.md); training in fp32 instead",
                      stacklevel=2)
        return contextlib.nullcontext()
    if bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of ranks sharing each batch (0, 1 without a process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def loss_units(feature: Feature) -> int:
    """What a head's mean loss averages over: labelled tokens for tagging, one per feature otherwise."""
    labels = feature.get("labels")
    if isinstance(labels, list):
        return sum(1 for label in labels if label != IGNORE)
    return 1


def split_batch(indices: Sequence[int], parts: int) -> list[list[int]]:
    """The effective batch cut into ``parts`` contiguous chunks (sizes differ by at most one)."""
    size, extra = divmod(len(indices), parts)
    bounds = [k * size + min(k, extra) for k in range(parts + 1)]
    return [list(indices[bounds[k]:bounds[k + 1]]) for k in range(parts)]


def count_tokens(feature: Feature, pad_id: int) -> int:
    ids = feature["input_ids"]
    rows = ids if ids and isinstance(ids[0], list) else [ids]
    return sum(1 for row in rows for t in row if t != pad_id)


def enable_activation_checkpointing(model: PreTrainedModel) -> None:
    """Recompute every encoder layer in backward (non-reentrant: works under FSDP2 and with frozen inputs)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x; the older name is deprecated
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def clip_gradients(params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clip to ``max_norm``, return the norm before clipping; 0 = only measure it.

    Under FSDP2 each rank holds a shard of every gradient, so the norm is a partial DTensor: it is
    summed over ranks (``full_tensor``) before any rank scales its shard, as torchtitan does.
    """
    if max_norm and not any(isinstance(p, DTensor) for p in params):
        return torch.nn.utils.clip_grad_norm_(params, max_norm)  # the single-device path, unchanged
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    if isinstance(norm, DTensor):
        norm = norm.full_tensor()
    if max_norm:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm)
    return norm


def accumulate(model: torch.nn.Module, features: Sequence[Feature], indices: Sequence[int], config: TrainConfig,
               pad_id: int, device: torch.device, forward: Callable[..., Any] | None = None) -> torch.Tensor:
    """Forward and backward of this rank's micro-batches of one effective batch; its share of the loss.

    Each micro-batch's mean loss is weighted by its share of the effective batch's loss units (labelled
    tokens for tagging), so the gradients summed over micro-batches and ranks are those of the
    token-weighted mean of the whole effective batch, whatever the number of ranks or micro-batches.
    Under FSDP2 the gradients are reduce-scattered once, after the last micro-batch: the earlier ones
    accumulate unsharded on each rank (more memory per rank, 1/grad_accumulation of the traffic).
    ``model`` is the sharded root; ``forward`` (default: the model) runs one micro-batch.
    """
    forward = forward or model
    rank, world = rank_and_world()
    chunks = split_batch(indices, world * config.grad_accumulation)
    units = [sum(loss_units(features[i]) for i in chunk) for chunk in chunks]
    total = max(1, sum(units))
    share = torch.zeros((), device=device)
    last = (rank + 1) * config.grad_accumulation - 1
    for k in range(rank * config.grad_accumulation, last + 1):
        if isinstance(model, FSDPModule):
            model.set_requires_gradient_sync(k == last)
        # an empty chunk (a short last batch) still runs forward and backward, at weight 0, so every rank
        # takes part in the same collectives
        chunk = chunks[k] or list(indices[:1])
        batch = {key: v.to(device, non_blocking=True) for key, v in collate([features[i] for i in chunk], pad_id).items()}
        with autocast_context(device, config.bf16):
            loss = forward(**batch).loss * (units[k] / total)
        loss.backward()
        share += loss.detach().float()
    return share


def _checkpoint_due(step: int, every_steps: int, every_seconds: float, last_save: float, world: int,
                    device: torch.device) -> tuple[bool, int]:
    """Whether to save after ``step`` (by count, or by rank 0's clock), and the stop signal any rank got (0: none).

    One small all-reduce (MAX) under a group, so every rank agrees on both; one process decides on the host
    (this runs every step: no device tensor, no synchronisation)."""
    due = bool(every_steps) and step % every_steps == 0
    if every_seconds and (world == 1 or dist.get_rank() == 0):
        due = due or time.monotonic() - last_save >= every_seconds
    stop = preemption.requested() or 0
    if world == 1:
        return due, stop
    flags = torch.tensor([float(due), float(stop)], device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    return bool(flags[0]), int(flags[1])


def train(tasks: dict[str, tuple[PreTrainedModel, list[Feature]]], config: TrainConfig, seed: int,
          pad_id: int, device: torch.device, progress: bool = True, description: str = "train",
          on_step: StepHook | None = None, checkpoint_dir: Path | None = None,
          root: torch.nn.Module | None = None) -> TrainStats:
    """Train head models (sharing one encoder when several) on their features.

    ``tasks`` maps a task name to (head model, training features). NaN/inf loss stops the
    run with a TrainingError naming the step and the usual fixes. Under a process group every rank
    draws the same effective batches and trains on its share of each; the models must then be
    sharded so that gradients are summed over ranks (:func:`xw.distributed.parallelize`).

    ``checkpoint_dir`` (the caller's, one per training; None = no mid-cell checkpoints): the run first
    resumes from the newest complete checkpoint there, then saves one every
    ``config.checkpoint_every_steps`` steps and/or ``checkpoint_every_minutes`` (rank 0's clock, broadcast),
    keeping the newest ``config.keep_checkpoints``; when training completes it deletes them (and the folder
    when nothing else is left in it). Re-running a killed training with the same arguments and folder
    ends with the same model as an uninterrupted run, on any number of ranks (:mod:`xw.train_state`);
    ``on_step`` is called only for the steps run in this call. A stop signal received while
    :func:`xw.preemption.listening` (Slurm's USR2 before the time limit, TERM) saves a checkpoint at the
    end of the current step and raises TrainingPreempted. The data order is restored by replaying
    the batch draws of the steps already taken (indices only, no compute), which leaves the sampler's
    ``random.Random`` exactly where the killed run had it.

    ``root``: under FSDP2 with several heads, the one sharded module holding them
    (:class:`xw.distributed.HeadSet`, whose ``forward(task, **batch)`` runs a head): FSDP2 needs its root's
    forward to run, so every micro-batch goes through it, and it is what the checkpoints save.
    """
    rank, world = rank_and_world()
    parts = world * config.grad_accumulation
    if config.batch_size % parts:
        raise TrainingError(f"{description}: batch_size {config.batch_size} (the effective batch) must split evenly "
                            f"into {world} ranks x {config.grad_accumulation} micro-batches")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    models = {name: model.to(device) for name, (model, _) in tasks.items()}
    features = {name: feats for name, (_, feats) in tasks.items()}
    for name, feats in features.items():
        if not feats:
            raise TrainingError(f"task {name!r} has no training examples")

    params, names, seen = [], [], set()
    for task_name, model in models.items():
        if config.activation_checkpointing:
            enable_activation_checkpointing(model)
        model.train()
        if config.freeze_embeddings:
            encoder_of(model).embeddings.word_embeddings.weight.requires_grad_(False)
        for n, p in model.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
                names.append(f"{task_name}.{n}")

    batches_per_epoch = {n: math.ceil(len(f) / config.batch_size) for n, f in features.items()}
    epoch_steps = sum(batches_per_epoch.values())
    total_steps = config.max_steps or max(1, int(round(epoch_steps * config.epochs)))
    optimizer = make_optimizer(params, names, config, device)
    scheduler = linear_schedule(optimizer, total_steps, config.warmup_ratio)

    def batch_stream(name: str):
        while True:
            yield from length_grouped_batches(features[name], config.batch_size, rng)

    streams = {n: batch_stream(n) for n in features}
    task_names = list(features)
    weights = [batches_per_epoch[n] for n in task_names]

    running = torch.zeros((), device=device)
    examples = tokens = first = 0
    resumed = train_state.load(checkpoint_dir, models, optimizer, scheduler, device, root) if checkpoint_dir else None
    if resumed is not None:
        first, examples, tokens = resumed.step, resumed.examples, resumed.tokens
        running += resumed.running
        for _ in range(first):  # replay the data order: the same draws from rng as the steps taken
            next(streams[task_names[0] if len(task_names) == 1 else rng.choices(task_names, weights)[0]])
    every_seconds = config.checkpoint_every_minutes * 60
    last_save = time.monotonic()
    last_loss = float("nan")
    start = time.perf_counter()
    bar = tqdm(range(first, total_steps), desc=description, disable=not progress, leave=False,
               initial=first, total=total_steps)
    for step in bar:
        step_start, step_tokens = time.perf_counter(), tokens
        name = task_names[0] if len(task_names) == 1 else rng.choices(task_names, weights)[0]
        indices = next(streams[name])
        examples += len(indices)
        if parts == 1:  # one micro-batch on one device: the loop as it always was
            batch = collate([features[name][i] for i in indices], pad_id)
            tokens += int(batch["attention_mask"].sum())
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast_context(device, config.bf16):
                loss = models[name](**batch).loss
            loss.backward()
            share = loss.detach().float()
        else:
            tokens += sum(count_tokens(features[name][i], pad_id) for i in indices)
            share = accumulate(models[name] if root is None else root, features[name], indices, config, pad_id,
                               device, None if root is None else functools.partial(root, name))
        norm = clip_gradients(params, config.max_grad_norm) if config.max_grad_norm or on_step else None
        learning_rate = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        running += share
        if on_step is not None:
            if world > 1:
                share = share.clone()
                dist.all_reduce(share)
            on_step(StepLog(step=step + 1, loss=float(share), grad_norm=float(norm), learning_rate=learning_rate,
                            tokens=tokens - step_tokens, seconds=time.perf_counter() - step_start))
        if (step + 1) % 25 == 0 or step + 1 == total_steps:  # one host sync per 25 steps
            if world > 1:
                dist.all_reduce(running)
            last_loss = float(running) / ((step % 25) + 1)
            running.zero_()
            if not math.isfinite(last_loss):
                raise TrainingError(
                    f"{description}: loss became {last_loss} at step {step + 1} of {total_steps} "
                    f"(learning rate {config.learning_rate}). Lower training.learning_rate, or disable bf16."
                )
            bar.set_postfix(loss=f"{last_loss:.3f}")
        if checkpoint_dir is None or step + 1 == total_steps:
            continue
        due, stop = _checkpoint_due(step + 1, config.checkpoint_every_steps, every_seconds, last_save, world, device)
        if due or stop:
            counters = running.clone()
            if world > 1:
                dist.all_reduce(counters)
            saved = train_state.save(checkpoint_dir, step + 1, models, optimizer, scheduler,
                                     train_state.Resumed(step + 1, examples, tokens, float(counters)), device,
                                     config.keep_checkpoints, root)
            last_save = time.monotonic()
            if stop:
                if rank == 0:
                    preemption.acknowledge(saved)
                raise TrainingPreempted(
                    f"{description}: stopped by {preemption.signal_name(stop)} after step {step + 1} of "
                    f"{total_steps}; checkpoint saved in {saved}. Run the cell again to resume from it.")
    if checkpoint_dir is not None:
        train_state.clear(checkpoint_dir)
    for model in models.values():
        model.eval()
    return TrainStats(steps=total_steps, examples=examples, tokens=tokens,
                      seconds=time.perf_counter() - start, final_loss=last_loss)
