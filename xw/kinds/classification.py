"""Sequence(-pair) classification: one feature per example, a sequence-classification head, argmax.

Why: the classification kind's featurisation and scoring in one place (HF's run_glue.py setup:
the pair is encoded as one sequence when any example has a ``text_pair``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerBase

from xw.kinds.base import Feature, ModelKind, argmax_decode, example_id
from xw.tasks import TaskSpec
from xw.tasks.kinds import Classification


def featurize_classification(examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                             max_length: int) -> list[Feature]:
    texts = [ex["text"] for ex in examples]
    pairs = [ex.get("text_pair") for ex in examples]
    has_pair = any(p for p in pairs)
    enc = tokenizer(texts, [p or "" for p in pairs] if has_pair else None, truncation=True,
                    max_length=max_length)
    return [{"input_ids": ids, "labels": int(ex["label"])} for ids, ex in zip(enc["input_ids"], examples, strict=True)]


class ClassificationModel(ModelKind, Classification):
    head = AutoModelForSequenceClassification

    def featurize(self, task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                  max_length: int, doc_stride: int, train: bool, label_piece: str = "first") -> list[Feature]:
        return featurize_classification(examples, tokenizer, max_length)

    def decode(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature],
               outputs: list) -> tuple[list[int], list[int]]:
        return argmax_decode(examples, outputs)

    def prediction_rows(self, task: TaskSpec, examples: Sequence[dict], predictions: list[int],
                        references: list[int], language: str) -> list[dict[str, Any]]:
        def name(label: int) -> str:
            return task.label_names[label] if 0 <= label < len(task.label_names) else str(label)

        return [{"example_index": i, "example_id": example_id(ex, i), "gold": name(r), "prediction": name(p),
                 "correct": p == r} for i, (ex, p, r) in enumerate(zip(examples, predictions, references, strict=True))]
