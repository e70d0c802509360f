"""`xw plan`: what a study will cost before it runs, and what it cost after.

Training FLOPs use the standard 6 x parameters x tokens; GPU-hours divide by an assumed
sustained rate (peak bf16 x MFU), both printed so the assumption is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xw.cells import expand_grid
from xw.checkpoints import intermediate_members, pretrained_source
from xw.params import NONE, Study
from xw.tasks import get_task

SUBWORDS_PER_WORD = 1.4  # used only when the scale's tokenizer cannot be loaded


@dataclass
class TaskSize:
    examples: int
    tokens_per_example: float
    exact: bool  # measured with the scale's tokenizer, or estimated from words


def _text_of(example: dict) -> str:
    if "tokens" in example:
        return " ".join(example["tokens"])
    parts = [example.get(k) or "" for k in ("text", "text_pair", "question", "context")]
    parts += list(example.get("choices", []))
    return " ".join(parts)


def task_size(study: Study, task_name: str, tokenizer) -> TaskSize | None:
    """English training examples and mean tokens per example (a sample of 200), or None if no data."""
    from xw.data import load_examples

    task = get_task(task_name)
    config = study.train_config(task_name)
    try:
        examples = load_examples(study, task, task.train_split or "train", "en", config.max_train_examples)
    except Exception:  # noqa: BLE001 - plan must print whatever it can
        return None
    sample = [_text_of(ex) for ex in examples[:200]] or [""]
    if tokenizer is not None:
        lengths = [len(ids) for ids in tokenizer(sample, truncation=True, max_length=config.max_length)["input_ids"]]
        exact = True
    else:
        lengths = [min(config.max_length, SUBWORDS_PER_WORD * len(s.split()) + 2) for s in sample]
        exact = False
    if task.kind == "multiple_choice":
        lengths = [n * len(examples[0]["choices"]) for n in lengths]
    return TaskSize(len(examples), sum(lengths) / len(lengths), exact)


def plan(study: Study, peak_tflops: float = 989.0, mfu: float = 0.4) -> pd.DataFrame:
    """One row per scale: cells, trainings, training tokens, FLOPs, estimated GPU-hours."""
    from xw.models import count_parameters_from_config, load_tokenizer

    cells = expand_grid(study)
    rows = []
    for scale in study.ladder:
        source = pretrained_source(study, scale)
        available = not scale.is_mini or Path(source).exists()
        params = count_parameters_from_config(source) if available else _mini_params(scale)
        try:
            tokenizer = load_tokenizer(source) if available else None
        except Exception:  # noqa: BLE001
            tokenizer = None
        sizes = {t: task_size(study, t, tokenizer) for t in set(study.multi_task_members) | set(study.target_tasks)
                 if get_task(t).kind != "retrieval"}
        scale_cells = [c for c in cells if c.scale == scale.name]
        intermediate_trainings = [c for c in scale_cells if c.kind == "intermediate" and c.intermediate != NONE]
        target_trainings = [c for c in scale_cells if c.kind == "target"]
        trained = [m for c in intermediate_trainings for m in intermediate_members(study, c.intermediate)]
        trained += [c.target or "" for c in target_trainings]
        tokens, unknown = 0.0, set()
        for task_name in trained:
            size = sizes.get(task_name)
            if size is None:
                unknown.add(task_name)
                continue
            config = study.train_config(task_name)
            epochs = config.epochs
            if config.max_steps:
                epochs = config.max_steps * config.batch_size / max(1, size.examples)
            tokens += size.examples * epochs * size.tokens_per_example
        flops = 6.0 * params * tokens
        rows.append({
            "scale": scale.name, "params": params, "cells": len(scale_cells),
            "trainings": len(intermediate_trainings) + len(target_trainings),
            "training_tokens": int(tokens), "train_flops": flops,
            "est_gpu_hours": flops / (peak_tflops * 1e12 * mfu) / 3600,
            "token_counts": "tokenizer" if tokenizer is not None else "word estimate",
            "missing_data": ", ".join(sorted(unknown)),
        })
    return pd.DataFrame(rows)


def _mini_params(scale) -> int:
    """Parameters of a not-yet-pretrained mini scale, from its architecture (vocabulary from the world)."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(vocab_size=2000, hidden_size=scale.hidden, num_hidden_layers=scale.layers,
                              num_attention_heads=scale.heads, intermediate_size=scale.intermediate_size or 4 * scale.hidden)
    with torch.device("meta"):
        model = XLMRobertaModel(config)
    return sum(p.numel() for p in model.parameters())


def measured(study: Study) -> pd.DataFrame:
    """Wall seconds actually spent per scale (sum over finished cells), to print next to the plan."""
    from xw.results import load_results

    table = load_results(study)
    if table.empty:
        return pd.DataFrame(columns=["scale", "measured_hours", "finished_cells"])
    per_cell = table.drop_duplicates(subset=["scale", "intermediate_task", "target_task", "seed"])
    grouped = per_cell.groupby("scale").agg(measured_hours=("wall_seconds", "sum"),
                                            finished_cells=("wall_seconds", "size")).reset_index()
    grouped["measured_hours"] /= 3600
    return grouped
