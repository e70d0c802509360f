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
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from xw.errors import TrainingError
from xw.featurize import Feature, collate, length_grouped_batches
from xw.models import encoder_of
from xw.params import TrainConfig


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


def train(tasks: dict[str, tuple[PreTrainedModel, list[Feature]]], config: TrainConfig, seed: int,
          pad_id: int, device: torch.device, progress: bool = True, description: str = "train") -> TrainStats:
    """Train head models (sharing one encoder when several) on their features.

    ``tasks`` maps a task name to (head model, training features). NaN/inf loss stops the
    run with a TrainingError naming the step and the usual fixes.
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    models = {name: model.to(device) for name, (model, _) in tasks.items()}
    features = {name: feats for name, (_, feats) in tasks.items()}
    for name, feats in features.items():
        if not feats:
            raise TrainingError(f"task {name!r} has no training examples")

    params, names, seen = [], [], set()
    for task_name, model in models.items():
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
    examples = tokens = 0
    last_loss = float("nan")
    start = time.perf_counter()
    bar = tqdm(range(total_steps), desc=description, disable=not progress, leave=False)
    for step in bar:
        name = task_names[0] if len(task_names) == 1 else rng.choices(task_names, weights)[0]
        indices = next(streams[name])
        batch = collate([features[name][i] for i in indices], pad_id)
        examples += len(indices)
        tokens += int(batch["attention_mask"].sum())
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with autocast_context(device, config.bf16):
            loss = models[name](**batch).loss
        loss.backward()
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        running += loss.detach().float()
        if (step + 1) % 25 == 0 or step + 1 == total_steps:  # one host sync per 25 steps
            last_loss = float(running) / ((step % 25) + 1)
            running.zero_()
            if not math.isfinite(last_loss):
                raise TrainingError(
                    f"{description}: loss became {last_loss} at step {step + 1} of {total_steps} "
                    f"(learning rate {config.learning_rate}). Lower training.learning_rate, or disable bf16."
                )
            bar.set_postfix(loss=f"{last_loss:.3f}")
    for model in models.values():
        model.eval()
    return TrainStats(steps=total_steps, examples=examples, tokens=tokens,
                      seconds=time.perf_counter() - start, final_loss=last_loss)
