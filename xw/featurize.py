"""Examples (canonical schemas, see xw.tasks.base) -> model features, and batching.

Follows the HF example scripts: labels on the first sub-token for tagging
(run_ner.py), sliding windows with a stride and offset mappings for long QA contexts
(run_qa.py), every choice encoded with the context and scored jointly (run_swag.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from xw.tasks import TaskSpec

IGNORE = -100
Feature = dict[str, Any]
MAX_QUESTION_TOKENS = 64  # max_query_length of HF's squad_convert_examples_to_features (used by XTREME, jiant)


def featurize(task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase, max_length: int,
              doc_stride: int = 128, train: bool = True) -> list[Feature]:
    """Turn one split's examples into features (one per QA window, one per example otherwise)."""
    if task.kind == "classification":
        return _classification(examples, tokenizer, max_length)
    if task.kind == "tagging":
        return _tagging(examples, tokenizer, max_length)
    if task.kind == "qa":
        return _qa(examples, tokenizer, max_length, doc_stride, train)
    if task.kind == "multiple_choice":
        return _multiple_choice(examples, tokenizer, max_length)
    raise ValueError(f"task {task.name!r}: kind {task.kind!r} is not trained")


def _classification(examples: Sequence[dict], tokenizer, max_length: int) -> list[Feature]:
    texts = [ex["text"] for ex in examples]
    pairs = [ex.get("text_pair") for ex in examples]
    has_pair = any(p for p in pairs)
    enc = tokenizer(texts, [p or "" for p in pairs] if has_pair else None, truncation=True,
                    max_length=max_length)
    return [{"input_ids": ids, "labels": int(ex["label"])} for ids, ex in zip(enc["input_ids"], examples, strict=True)]


def _tagging(examples: Sequence[dict], tokenizer, max_length: int) -> list[Feature]:
    enc = tokenizer([list(ex["tokens"]) for ex in examples], is_split_into_words=True, truncation=True,
                    max_length=max_length)
    features = []
    for i, ex in enumerate(examples):
        word_ids = enc.word_ids(i)
        labels, previous = [], None
        for word in word_ids:
            if word is None or word == previous:
                labels.append(IGNORE)
            else:
                labels.append(int(ex["tags"][word]))
            previous = word
        features.append({"input_ids": enc["input_ids"][i], "labels": labels, "word_ids": word_ids,
                         "example_index": i})
    return features


def _truncate_questions(questions: list[str], tokenizer, limit: int) -> list[str]:
    """Cut each question to its first ``limit`` tokens (at a token's end offset).

    Without it a long question leaves the context less room than the stride, and the fast
    tokenizer panics ("stride must be strictly less than max_len"); XTREME's and jiant's SQuAD
    preprocessing cap the question the same way (max_query_length=64).
    """
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [q[:offsets[limit - 1][1]] if len(offsets) > limit else q
            for q, offsets in zip(questions, enc["offset_mapping"], strict=True)]


def _qa(examples: Sequence[dict], tokenizer, max_length: int, doc_stride: int, train: bool) -> list[Feature]:
    questions = _truncate_questions([ex["question"].lstrip() for ex in examples], tokenizer,
                                    min(MAX_QUESTION_TOKENS, max_length // 2))
    contexts = [ex["context"] for ex in examples]
    pad_right = tokenizer.padding_side == "right"
    stride = min(doc_stride, max_length // 4)
    enc = tokenizer(
        questions if pad_right else contexts,
        contexts if pad_right else questions,
        truncation="only_second" if pad_right else "only_first",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    context_index = 1 if pad_right else 0
    features = []
    for i, input_ids in enumerate(enc["input_ids"]):
        example_index = enc["overflow_to_sample_mapping"][i]
        example = examples[example_index]
        sequence_ids = enc.sequence_ids(i)
        offsets = enc["offset_mapping"][i]
        feature: Feature = {"input_ids": input_ids, "example_index": example_index}
        answers = example["answers"]
        cls_index = 0
        if train:
            if not answers["answer_start"]:
                start = end = cls_index  # unanswerable (SQuAD v2.0): point at <s>
            else:
                start_char = answers["answer_start"][0]
                end_char = start_char + len(answers["text"][0])
                token_start = sequence_ids.index(context_index)
                token_end = len(sequence_ids) - 1 - sequence_ids[::-1].index(context_index)
                if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
                    start = end = cls_index  # answer not in this window
                else:
                    while token_start < len(offsets) and offsets[token_start][0] <= start_char:
                        token_start += 1
                    start = token_start - 1
                    while offsets[token_end][1] >= end_char:
                        token_end -= 1
                    end = token_end + 1
            feature["start_positions"] = start
            feature["end_positions"] = end
        else:
            feature["offset_mapping"] = [
                o if sequence_ids[k] == context_index else None for k, o in enumerate(offsets)
            ]
        features.append(feature)
    return features


def _multiple_choice(examples: Sequence[dict], tokenizer, max_length: int) -> list[Feature]:
    features = []
    for ex in examples:
        enc = tokenizer([ex["context"]] * len(ex["choices"]), list(ex["choices"]), truncation=True,
                        max_length=max_length)
        features.append({"input_ids": enc["input_ids"], "labels": int(ex["label"])})
    return features


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
