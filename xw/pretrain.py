"""MLM pretraining of the mini-world model ladder: one readable loop, cached by its output folder.

Why: the size axis of the study needs models that differ only in size. Every rung sees the same
corpus, the same number of steps and the same batch size (equal tokens, never equal wall time, or
the size axis measures under-training), and is an ordinary ``XLMRobertaForMaskedLM`` checkpoint
that the fine-tuning code loads like any hub model.
"""

from __future__ import annotations

import json
import math
import platform
import random
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

from xw.checkpoints import MARKER, build_atomically, is_complete
from xw.errors import TrainingError
from xw.miniworld.corpus import pretraining_corpus
from xw.miniworld.tokenizer import build_tokenizer
from xw.miniworld.world import get_world
from xw.progress import tqdm
from xw.tracking import CurveWriter
from xw.train import StepLog


def mini_config(
    *, vocab_size: int, layers: int, hidden: int, heads: int, intermediate_size: int, max_length: int = 64,
    dropout: float = 0.0,
    init_std: float = 0.1,
) -> XLMRobertaConfig:
    """An XLM-R config for a mini model (positions offset by padding_idx + 1, as in XLM-R)."""
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_length + 2,
        type_vocab_size=1,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        initializer_range=init_std,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
    )


def count_parameters(config: XLMRobertaConfig, *, include_embeddings: bool = True) -> int:
    """Parameters of the MLM model for ``config`` (tied weights once); without embeddings on request.

    Built on the meta device, so this is free even for large configs.
    """
    with torch.device("meta"):
        model = XLMRobertaForMaskedLM(config)
    total = sum(p.numel() for p in model.parameters())
    if include_embeddings:
        return total
    emb = model.roberta.embeddings
    embedding = sum(m.weight.numel() for m in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings))
    return total - embedding


def pack_corpus(tokenizer, docs: tuple[str, ...], max_length: int, seed: int) -> list[list[int]]:
    """Greedily pack whole documents into ``<s> d1 </s> d2 </s> ...`` sequences of at most ``max_length``.

    Why: almost no padding, so every step trains on ~``batch_size * max_length`` real tokens and
    every position embedding up to ``max_length`` is trained (fine-tuning inputs reach it).
    """
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    encoded = tokenizer(list(docs), add_special_tokens=False, truncation=True, max_length=max_length - 2)["input_ids"]
    random.Random(seed).shuffle(encoded)
    seqs: list[list[int]] = []
    current = [bos]
    for ids in encoded:
        if len(current) + len(ids) + 1 > max_length:
            seqs.append(current)
            current = [bos]
        current += [*ids, eos]
    if len(current) > 1:
        seqs.append(current)
    return seqs


def _batch(seqs: list[list[int]], idx: list[int], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(seqs[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    for row, i in enumerate(idx):
        ids[row, : len(seqs[i])] = torch.tensor(seqs[i])
    return ids, (ids != pad_id).long()


def mask_tokens(
    ids: torch.Tensor, *, mask_id: int, n_special: int, vocab_size: int, generator: torch.Generator,
    probability: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: 15% of real tokens are targets; of those 80% <mask>, 10% random, 10% kept."""
    labels = ids.clone()
    candidates = ids >= n_special  # never specials or padding
    chosen = (torch.rand(ids.shape, generator=generator) < probability) & candidates
    labels[~chosen] = -100
    inputs = ids.clone()
    roll = torch.rand(ids.shape, generator=generator)
    inputs[chosen & (roll < 0.8)] = mask_id
    random_pos = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[random_pos] = torch.randint(n_special, vocab_size, ids.shape, generator=generator)[random_pos]
    return inputs, labels


def _make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embeddings" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embeddings" not in n)]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), fused=True)
    except (RuntimeError, TypeError):  # fused kernels not available on this device/build
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98))


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warmup to ``peak`` then linear decay to 10% of it."""
    if step < warmup:
        return peak * (step + 1) / warmup
    frac = (step - warmup) / max(1, steps - warmup)
    return peak * (1.0 - 0.9 * frac)


def pretrain_mlm(
    *,
    world_seed: int,
    layers: int,
    hidden: int,
    heads: int,
    intermediate_size: int,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    out_dir: Path,
    max_length: int = 64,
    progress: bool = True,
    warmup_fraction: float = 0.06,
    weight_decay: float = 0.01,
    code_switch: float = 0.3,
    switch_rate: float = 0.5,
    parallel: float = 0.1,
    corpus_docs: int = 50000,
    dropout: float = 0.0,
    init_std: float = 0.1,
    mask_probability: float = 0.3,
    curve_options: dict | None = None,
) -> Path:
    """Pretrain an ``XLMRobertaForMaskedLM`` from scratch on the mini-world corpus; return ``out_dir``.

    Idempotent: when ``out_dir`` holds the ``xw-complete.json`` marker it returns at once (a marker
    written with a different configuration is an error, not a silent reuse). The checkpoint is built by
    ``checkpoints.build_atomically``, as phase (ii)'s are: in a temporary sibling folder, renamed into
    place with the marker last, under a lock, so an interrupted run never leaves a folder that looks
    complete and two processes never pretrain the same rung at once.

    The defaults are what made zero-shot transfer appear on a CPU budget (see the miniworld probe):
    a larger init (0.1) and 30% masking shorten the early loss plateau of tiny post-LN models;
    ``code_switch`` / ``switch_rate`` (word-level substitution with English words) and ``parallel``
    (share of bilingual documents) supply the cross-lingual signal that real corpora carry. The MLM
    loss is computed at masked positions only (same loss, several times less work).
    """
    out_dir = Path(out_dir)
    record: dict[str, Any] = {
        "world_seed": world_seed, "layers": layers, "hidden": hidden, "heads": heads,
        "intermediate_size": intermediate_size, "steps": steps, "batch_size": batch_size,
        "learning_rate": learning_rate, "seed": seed, "max_length": max_length,
        "warmup_fraction": warmup_fraction, "weight_decay": weight_decay, "code_switch": code_switch,
        "switch_rate": switch_rate, "parallel": parallel, "corpus_docs": corpus_docs, "dropout": dropout,
        "init_std": init_std, "mask_probability": mask_probability,
    }  # fmt: skip
    if is_complete(out_dir):
        return _same_config(out_dir, record)

    def build(tmp: Path) -> dict[str, Any]:
        torch.manual_seed(seed)
        random.seed(seed)
        world = get_world(world_seed)
        tokenizer = build_tokenizer(world, tmp, model_max_length=max_length)
        config = mini_config(
            vocab_size=len(tokenizer), layers=layers, hidden=hidden, heads=heads,
            intermediate_size=intermediate_size, max_length=max_length, dropout=dropout,
            init_std=init_std,
        )  # fmt: skip
        model = XLMRobertaForMaskedLM(config)
        model.train()
        docs = pretraining_corpus(
            world_seed, corpus_docs, seed=seed, code_switch=code_switch, switch_rate=switch_rate, parallel=parallel
        )
        seqs = pack_corpus(tokenizer, docs, max_length, seed)
        optimizer = _make_optimizer(model, learning_rate, weight_decay)
        gen = torch.Generator().manual_seed(seed)
        order = random.Random(seed)
        warmup = max(1, int(warmup_fraction * steps))
        mask_id, pad_id, vocab = tokenizer.mask_token_id, tokenizer.pad_token_id, len(tokenizer)

        start, cpu_start = time.perf_counter(), time.process_time()
        losses: list[float] = []
        # TensorBoard events, moved with the checkpoint (and W&B / MLflow runs when curve_options ask for them)
        curves = CurveWriter(tmp / "curves", tag="pretrain", **(curve_options or {}))
        with curves:  # a NaN loss (TrainingError) ends the tracking runs as failed
            bar = tqdm(range(steps), desc=f"pretrain L{layers} h{hidden}", disable=not progress, mininterval=1.0)
            for step in bar:
                step_start = time.perf_counter()
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step, steps, learning_rate, warmup)
                ids, attention = _batch(seqs, order.sample(range(len(seqs)), batch_size), pad_id)
                inputs, labels = mask_tokens(
                    ids, mask_id=mask_id, n_special=5, vocab_size=vocab, generator=gen, probability=mask_probability
                )
                hidden_states = model.roberta(input_ids=inputs, attention_mask=attention).last_hidden_state
                targets = labels != -100
                loss = F.cross_entropy(model.lm_head(hidden_states[targets]), labels[targets])
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"MLM loss became {loss.item()} at step {step} (L{layers} h{hidden}, lr {learning_rate}); "
                        "lower learning_rate or raise warmup_fraction."
                    )
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                curves(StepLog(step=step + 1, loss=losses[-1], grad_norm=float(grad_norm),
                               learning_rate=optimizer.param_groups[0]["lr"], tokens=int(attention.sum()),
                               seconds=time.perf_counter() - step_start))
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        curves.close()

        model.save_pretrained(tmp)
        tail = losses[-max(1, steps // 20) :]
        summary = {
            "config": record,
            "final_loss": sum(tail) / len(tail),
            "loss_curve": [round(sum(losses[i : i + 50]) / len(losses[i : i + 50]), 4) for i in range(0, steps, 50)],
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),  # wall time on a shared machine overstates the cost
            "parameters": count_parameters(config),
            "non_embedding_parameters": count_parameters(config, include_embeddings=False),
            "tokens_seen_approx": int(sum(len(s) for s in seqs) / len(seqs) * steps * batch_size),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "perplexity": math.exp(min(50.0, sum(tail) / len(tail))),
        }
        return summary

    build_atomically(out_dir, build)  # a builder of the same folder that finished first wins
    return _same_config(out_dir, record)


def _same_config(out_dir: Path, record: dict[str, Any]) -> Path:
    """``out_dir`` if its marker records ``record``; a different recorded configuration is an error, not a reuse."""
    done = json.loads((out_dir / MARKER).read_text())
    diff = {k: (done.get("config", {}).get(k), v) for k, v in record.items() if done.get("config", {}).get(k) != v}
    if diff:
        raise FileExistsError(
            f"{out_dir} already holds a model pretrained with a different configuration "
            f"(recorded vs requested: {diff}); use another out_dir or delete that folder."
        )
    return out_dir
