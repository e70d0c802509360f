"""Sequence(-pair) classification: one feature per example, a sequence-classification head, argmax.

Why: the classification kind's featurisation and scoring in one place (HF's run_glue.py setup:
the pair is encoded as one sequence when any example has a ``text_pair``).
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerBase

from xw.kinds.base import Feature, ModelKind, argmax_score
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

    def score(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature], outputs: list,
              language: str) -> dict[str, float]:
        return argmax_score(task, examples, outputs, language)
