"""Examples (canonical schemas, see xw.tasks.kinds) -> model features, and batching.

Why: one entry point for every kind: :func:`featurize` asks the task's kind
(:mod:`xw.kinds`), which follows the HF example scripts: labels on the first sub-token for
tagging (run_ner.py), sliding windows with a stride and offset mappings for long QA contexts
(run_qa.py), every choice encoded with the context and scored jointly (run_swag.py). Batching
(dynamic padding, length grouping) is the same for all kinds and lives here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from xw.kinds import IGNORE, Feature, model_kind
from xw.tasks import TaskSpec


def featurize(task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase, max_length: int,
              doc_stride: int = 128, train: bool = True, label_piece: str = "first") -> list[Feature]:
    """Turn one split's examples into features (one per QA window, one per example otherwise); ``label_piece``
    is tagging's sub-token rule (TrainConfig.tagging_label_piece)."""
    return model_kind(task).featurize(task, examples, tokenizer, max_length, doc_stride, train,
                                      label_piece=label_piece)


# ---- batching -------------------------------------------------------------------------------

MODEL_KEYS = ("input_ids", "labels", "start_positions", "end_positions")


def collate(features: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence in the batch (dynamic padding); labels padded with -100."""
    batch: dict[str, torch.Tensor] = {}
    first = features[0]
    multiple_choice = isinstance(first["input_ids"][0], list)
    if multiple_choice:
        width = max(len(ids) for f in features for ids in f["input_ids"])
        ids = [[row + [pad_id] * (width - len(row)) for row in f["input_ids"]] for f in features]
        batch["input_ids"] = torch.tensor(ids, dtype=torch.long)
    else:
        width = max(len(f["input_ids"]) for f in features)
        batch["input_ids"] = torch.tensor([f["input_ids"] + [pad_id] * (width - len(f["input_ids"]))
                                           for f in features], dtype=torch.long)
    batch["attention_mask"] = (batch["input_ids"] != pad_id).long()
    if "labels" in first:
        if isinstance(first["labels"], list):
            batch["labels"] = torch.tensor([f["labels"] + [IGNORE] * (width - len(f["labels"])) for f in features])
        else:
            batch["labels"] = torch.tensor([f["labels"] for f in features])
    for key in ("start_positions", "end_positions"):
        if key in first:
            batch[key] = torch.tensor([f[key] for f in features])
    return batch


def feature_length(feature: Feature) -> int:
    ids = feature["input_ids"]
    return max(len(row) for row in ids) if ids and isinstance(ids[0], list) else len(ids)


def length_grouped_batches(features: Sequence[Feature], batch_size: int, rng: random.Random,
                           group: int = 50) -> list[list[int]]:
    """Shuffled batches of similar length: sort within mega-batches, then shuffle batches.

    Less padding than random batches, still random order (as HF's group_by_length).
    """
    order = list(range(len(features)))
    rng.shuffle(order)
    mega = batch_size * group
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: -feature_length(features[i]))
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def sequential_batches(features: Sequence[Feature], batch_size: int) -> Iterator[list[int]]:
    """Evaluation order: sorted by length (less padding), indices returned for re-ordering."""
    order = sorted(range(len(features)), key=lambda i: feature_length(features[i]))
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]
