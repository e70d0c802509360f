"""Throughput, MFU and peak memory of xw's training kernel at XLM-R-large size, for issue 16's GPU check.

One run builds XLM-R large from its config (random init, nothing downloaded), and trains it with
``xw.train.train`` on synthetic sequence-classification batches of ``--batch`` x ``--seq`` tokens (no
padding, so every token is real work) in three modes, each against the same baseline in the same run:

  plain         bf16 autocast, fp32 weights and AdamW states (the single-device path)
  checkpointing the same with every encoder layer recomputed in backward (TrainConfig.activation_checkpointing)
  fsdp1         FSDP2 (xw.distributed.parallelize) over a process group of one rank, bf16 parameters

For each: tokens/s over the timed steps (after ``--warmup`` steps), MFU = 6 x parameters x tokens/s
over this device's measured matmul rate (a large bf16 matmul on a GPU, fp32 on CPU) — ``mfu`` with all
parameters as the issue defines it, ``mfu_matmul`` without the word embeddings (a lookup, 46% of
XLM-R large's parameters, so ``mfu`` overstates the work nearly 2x) — and the peak
allocated memory against ``xw.memory.rung_memory``'s estimate, the figure ``xw plan`` refuses studies
by. Ratios to ``plain`` are printed so a shared machine's noise cancels.

    python benchmarks/gpu_kernel.py                          # on a GPU: large, bf16, 32 x 256
    python benchmarks/gpu_kernel.py --size tiny --steps 4    # a CPU smoke run of the same code path
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import time

import pandas as pd
import torch
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

from xw.memory import GIB, rung_memory
from xw.params import TrainConfig
from xw.train import StepLog, train

SIZES = {  # the hub config.json of xlm-roberta-large; base; and a tiny one for a CPU smoke run
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128},
}
MODES = ("plain", "checkpointing", "fsdp1")


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 8192, repeats: int = 20) -> float:
    """Measured FLOP/s of one large square matmul: the denominator of MFU."""
    if device.type == "cpu":
        n, repeats = 1024, 5
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def synthetic_features(count: int, seq: int, vocab: int, seed: int) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (count, seq), generator=generator)
    return [{"input_ids": row.tolist(), "attention_mask": [1] * seq, "labels": int(k % 3)} for k, row in enumerate(ids)]


def start_single_rank_group() -> None:
    """A process group of one rank, so FSDP2 runs without torchrun."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1",
                       "LOCAL_RANK": "0"})


def run_mode(mode: str, size: str, batch: int, seq: int, steps: int, warmup: int, device: torch.device,
             bf16: bool) -> dict:
    config = XLMRobertaConfig(vocab_size=250002, max_position_embeddings=514, type_vocab_size=1, num_labels=3,
                              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **SIZES[size])
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(config)
    parameters = sum(p.numel() for p in model.parameters())
    # the word embeddings are a lookup, not a matmul: 6 x N over-counts XLM-R's FLOPs by their share (46% for large)
    embedding = model.roberta.embeddings.word_embeddings.weight.numel()
    if mode == "fsdp1":
        from xw.distributed import parallelize, start_ranks

        start_single_rank_group()
        device, mesh = start_ranks()
        model.to(device)
        parallelize(model, mesh, torch.bfloat16 if bf16 and device.type == "cuda" else torch.float32)
    train_config = TrainConfig(learning_rate=1e-5, batch_size=batch, max_steps=steps + warmup, epochs=0,
                               max_length=seq, bf16=bf16, activation_checkpointing=mode == "checkpointing",
                               max_grad_norm=1.0)
    logs: list[StepLog] = []
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    features = synthetic_features(batch * (steps + warmup), seq, config.vocab_size, seed=1)
    train({"bench": (model, features)}, train_config, seed=0, pad_id=config.pad_token_id, device=device,
          progress=False, description=mode, on_step=logs.append)
    timed = logs[warmup:]
    tokens_per_second = sum(s.tokens for s in timed) / sum(s.seconds for s in timed)
    estimate = rung_memory(parameters, config.hidden_size, config.num_hidden_layers, batch * seq, 1,
                           mode == "checkpointing")
    peak = torch.cuda.max_memory_allocated() / GIB if device.type == "cuda" else float("nan")
    if mode == "fsdp1":
        import torch.distributed as dist

        dist.destroy_process_group()
    del model
    gc.collect()
    return {"mode": mode, "parameters": parameters, "non_embedding": parameters - embedding, "tokens_per_s": tokens_per_second,
            "final_loss": timed[-1].loss, "peak_gib": peak, "planner_gib": estimate.total / GIB}


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="large")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = device.type == "cuda"  # CPU: fp32 (no native bf16 here, see benchmarks/README.md)
    if device.type == "cpu":
        torch.set_num_threads(1)
        args.batch, args.seq = min(args.batch, 8), min(args.seq, 64)
    rate = matmul_rate(device, torch.bfloat16 if bf16 else torch.float32)
    rows = [run_mode(mode, args.size, args.batch, args.seq, args.steps, args.warmup, device, bf16)
            for mode in args.modes.split(",")]
    table = pd.DataFrame(rows)
    table["mfu"] = 6 * table["parameters"] * table["tokens_per_s"] / rate  # the definition
    table["mfu_matmul"] = 6 * table["non_embedding"] * table["tokens_per_s"] / rate  # FLOPs actually in matmuls
    table["vs_plain"] = table["tokens_per_s"] / table.loc[table["mode"] == "plain", "tokens_per_s"].iloc[0] \
        if "plain" in set(table["mode"]) else float("nan")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"device {name}; measured matmul rate {rate / 1e12:.1f} TFLOP/s ({'bf16' if bf16 else 'fp32'}); "
          f"XLM-R {args.size}, batch {args.batch} x {args.seq}, {args.steps} timed steps after {args.warmup}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return table


if __name__ == "__main__":
    main()
