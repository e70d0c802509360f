"""Multiple choice: every choice encoded with the context and scored jointly (HF's run_swag.py).

Why: the multiple-choice kind's featurisation (a list of sequences per example) and scoring in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import AutoModelForMultipleChoice, PreTrainedTokenizerBase

from xw.kinds.base import Feature, ModelKind, argmax_decode, example_id
from xw.tasks import TaskSpec
from xw.tasks.kinds import MultipleChoice


def featurize_multiple_choice(examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                              max_length: int) -> list[Feature]:
    features = []
    for ex in examples:
        enc = tokenizer([ex["context"]] * len(ex["choices"]), list(ex["choices"]), truncation=True,
                        max_length=max_length)
        features.append({"input_ids": enc["input_ids"], "labels": int(ex["label"])})
    return features


class MultipleChoiceModel(ModelKind, MultipleChoice):
    head = AutoModelForMultipleChoice

    def featurize(self, task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                  max_length: int, doc_stride: int, train: bool, label_piece: str = "first") -> list[Feature]:
        return featurize_multiple_choice(examples, tokenizer, max_length)

    def decode(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature],
               outputs: list) -> tuple[list[int], list[int]]:
        return argmax_decode(examples, outputs)

    def prediction_rows(self, task: TaskSpec, examples: Sequence[dict], predictions: list[int],
                        references: list[int], language: str) -> list[dict[str, Any]]:
        """Gold and prediction as the chosen choice's text (its index is ``label`` in the examples)."""
        return [{"example_index": i, "example_id": example_id(ex, i), "gold": str(ex["choices"][r]),
                 "prediction": str(ex["choices"][p]), "correct": p == r}
                for i, (ex, p, r) in enumerate(zip(examples, predictions, references, strict=True))]
